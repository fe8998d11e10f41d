/**
 * Ending sessions that are not the current request's (back-channel and front-channel logout): the
 * session records are destroyed in the app's session store, each login's token set gets a
 * tombstone, so a copy written back by a request still in flight cannot refresh its way back in,
 * and the sessions leave the index keys they were found by.
 */
import type { Request } from 'express';
import type { Stores } from '../store/stores.js';
import { OidcError } from '../errors.js';
import { destroySession } from './session-data.js';
import { setContext } from './context.js';
import type { IndexedSession } from '../store/session-index.js';

interface SessionStoreLike {
  destroy(sid: string, cb: (err?: unknown) => void): void;
}

/** The index keys the sessions were found by: the provider session (sid) and/or the user (sub). */
export interface FoundBy {
  iss: string | undefined;
  sid?: string | undefined;
  sub?: string | undefined;
}

export async function endSessions(req: Request, stores: Pick<Stores, 'tokens' | 'index'>, foundBy: FoundBy, sessions: IndexedSession[]): Promise<number> {
  const store = (req as { sessionStore?: SessionStoreLike }).sessionStore;
  if (!store || typeof store.destroy !== 'function') {
    throw new OidcError('OIDC_SESSION_MISSING', 'express-oidc-rp needs express-session (its store) to end sessions at logout', { statusCode: 500 });
  }
  let ended = 0;
  for (const s of sessions) {
    await stores.tokens.end(s.loginId);
    if ((req as { sessionID?: string }).sessionID === s.sessionId && (req as { session?: unknown }).session) {
      // The current request's own session: destroy through express-session so it is not re-saved.
      await destroySession(req);
      setContext(req, undefined, undefined);
    } else {
      await new Promise<void>((resolve, reject) => store.destroy(s.sessionId, (err) => (err ? reject(err) : resolve())));
    }
    ended++;
  }
  if (foundBy.iss) await stores.index.forget(foundBy.iss, foundBy, sessions);
  return ended;
}
