/**
 * Ending sessions that are not the current request's (back-channel and front-channel logout): the
 * session records are destroyed in the app's session store and each login's token set gets a
 * tombstone, so a copy written back by a request still in flight cannot refresh its way back in.
 */
import type { Request } from 'express';
import type { TokenStore } from '../store/token-store.js';
import { OidcError } from '../errors.js';
import { destroySession } from './session-data.js';
import { setContext } from './context.js';
import type { IndexedSession } from '../store/session-index.js';

interface SessionStoreLike {
  destroy(sid: string, cb: (err?: unknown) => void): void;
}

export async function endSessions(req: Request, tokens: TokenStore, sessions: IndexedSession[]): Promise<number> {
  const store = (req as { sessionStore?: SessionStoreLike }).sessionStore;
  if (!store || typeof store.destroy !== 'function') {
    throw new OidcError('OIDC_SESSION_MISSING', 'express-oidc-rp needs express-session (its store) to end sessions at logout', { statusCode: 500 });
  }
  let ended = 0;
  for (const s of sessions) {
    await tokens.end(s.loginId);
    if ((req as { sessionID?: string }).sessionID === s.sessionId && (req as { session?: unknown }).session) {
      // The current request's own session: destroy through express-session so it is not re-saved.
      await destroySession(req);
      setContext(req, undefined, undefined);
    } else {
      await new Promise<void>((resolve, reject) => store.destroy(s.sessionId, (err) => (err ? reject(err) : resolve())));
    }
    ended++;
  }
  return ended;
}
