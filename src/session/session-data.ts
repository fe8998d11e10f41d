/**
 * What this library keeps in the express-session session (under `req.session.oidc`), and the
 * promise wrappers around express-session's callback API.
 */
import type { Request } from 'express';
import { OidcError } from '../errors.js';
import type { PendingLogin } from '../protocol/authorization-response.js';
import type { OidcClaims } from '../types.js';
import { defaultUserFromClaims } from './users.js';

export interface AuthenticatedSession {
  /** Random id of this login; keys shared state (token sets, sid index) outside the session. */
  loginId: string;
  iss: string;
  sub: string;
  /** The provider's session id (OIDC Front/Back-Channel Logout `sid` claim), when sent. */
  sid?: string | undefined;
  claims: OidcClaims;
  /**
   * What serializeUser returned (default: the user object). Absent when the user is the default
   * one made from the claims (no user hooks): it is made again from `claims` when read
   * (storedUser), so every request's session is that much smaller to load, hash and save.
   */
  user?: unknown;
  /** Epoch seconds of this login. */
  authTime: number;
  /** Epoch seconds after which mozilla-style silent re-authentication is due. */
  renewAt: number;
  accessToken?: string | undefined;
  accessTokenExpiresAt?: number | undefined;
  idToken?: string | undefined;
  refreshToken?: string | undefined;
  /** Scopes granted (token response `scope`, else those requested), space separated. */
  scope?: string | undefined;
  /** Epoch seconds when the current access token was obtained. */
  tokensObtainedAt: number;
  /** Version of the shared token set this copy mirrors (store/token-store.ts). */
  tokenVersion: number;
}

export interface OidcSessionData {
  /** Logins in flight, keyed by state: one per tab, bounded by OIDC_MAX_STATES. */
  states?: Record<string, PendingLogin>;
  auth?: AuthenticatedSession;
  /**
   * Epoch seconds of a logout. Written into the fresh session that replaces a logged-out one, so
   * that fresh session is saved and its new id reaches the browser (see routes/logout.ts).
   */
  loggedOutAt?: number;
}

/**
 * The part of express-session's `req.session` this library uses. Declared here rather than
 * imported so the published types do not require @types/express-session.
 */
interface SessionLike {
  cookie?: { originalMaxAge?: number | null };
  regenerate(cb: (err?: unknown) => void): void;
  save(cb: (err?: unknown) => void): void;
  destroy(cb: (err?: unknown) => void): void;
  oidc?: OidcSessionData;
}

const SESSION_KEY = 'oidc';

/** The user a session stands for, as serializeUser left it: stored, or the default made from the claims. */
export function storedUser(auth: AuthenticatedSession): unknown {
  return auth.user === undefined ? defaultUserFromClaims(auth.claims) : auth.user;
}

/** The session, or an error saying express-session is missing (never a silent unauthenticated pass). */
export function requireSession(req: Request): SessionLike {
  const session = (req as { session?: SessionLike }).session;
  if (!session || typeof session.regenerate !== 'function') {
    throw new OidcError('OIDC_SESSION_MISSING', 'express-oidc-rp needs express-session: mount app.use(session({...})) before the oidc routers and middleware', {
      statusCode: 500,
    });
  }
  return session;
}

export function readOidcData(req: Request): OidcSessionData | undefined {
  return requireSession(req)[SESSION_KEY];
}

export function writeOidcData(req: Request, data: OidcSessionData | undefined): void {
  const session = requireSession(req);
  if (data === undefined || (data.auth === undefined && data.loggedOutAt === undefined && Object.keys(data.states ?? {}).length === 0)) {
    delete session[SESSION_KEY];
  } else {
    session[SESSION_KEY] = data;
  }
}

/** The session cookie's lifetime in ms, when it has one (a browser-session cookie has none). */
export function sessionMaxAgeMs(req: Request): number | undefined {
  const maxAge = requireSession(req).cookie?.originalMaxAge;
  return typeof maxAge === 'number' && maxAge > 0 ? maxAge : undefined;
}

const promisify = (fn: (cb: (err?: unknown) => void) => void): Promise<void> => new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));

export const regenerateSession = (req: Request) => promisify((cb) => requireSession(req).regenerate(cb));
export const saveSession = (req: Request) => promisify((cb) => requireSession(req).save(cb));

/** The session as express-session compares it to decide whether it changed: its JSON, without the cookie. */
function sessionJson(session: SessionLike): string {
  // A copy without the cookie rather than a replacer function: JSON.stringify's fast path.
  return JSON.stringify({ ...session, cookie: undefined });
}

/**
 * Save a session regenerateSession() just made, once. express-session knows a session was saved
 * only through the save() it wraps on a session it loaded or generated itself; the one
 * regenerate() makes is not wrapped, so as the response ends express-session writes it to the
 * store again, the same data a second time (and the end of the response waits for that write).
 * After this save, that session's save() writes only when the session changed since (compared as
 * express-session compares, without the cookie): exactly what express-session does for a session
 * it knows was saved, which then neither saves nor touches it.
 */
export async function saveRegeneratedSession(req: Request): Promise<void> {
  const session = requireSession(req);
  await saveSession(req);
  const saved = sessionJson(session);
  const save = session.save;
  Object.defineProperty(session, 'save', {
    configurable: true,
    enumerable: false,
    writable: true,
    value(this: SessionLike, cb?: (err?: unknown) => void) {
      if (sessionJson(this) !== saved) return save.call(this, cb ?? (() => {}));
      if (cb) process.nextTick(cb);
      return this;
    },
  });
}
export const destroySession = (req: Request) => promisify((cb) => requireSession(req).destroy(cb));

/**
 * Add a pending login, dropping expired ones and then the oldest beyond `maxStates`
 * (mozilla-django-oidc `add_state_and_verifier_and_nonce_to_session`).
 */
export function addPendingLogin(req: Request, state: string, pending: PendingLogin, maxStates: number, ttlMs: number): void {
  const data = readOidcData(req) ?? {};
  const now = pending.createdAt;
  const live = Object.entries(data.states ?? {})
    .filter(([, p]) => now - p.createdAt <= ttlMs)
    .sort(([, a], [, b]) => a.createdAt - b.createdAt);
  // Keep the newest maxStates - 1, leaving room for this one.
  const states = Object.fromEntries(live.slice(Math.max(0, live.length - (maxStates - 1))));
  states[state] = pending;
  writeOidcData(req, { ...data, states });
}

/** Remove and return the pending login of `state` (single use: a replayed callback finds nothing). */
export function takePendingLogin(req: Request, state: unknown): PendingLogin | undefined {
  const data = readOidcData(req);
  if (typeof state !== 'string' || !data?.states || !Object.hasOwn(data.states, state)) return undefined;
  const pending = data.states[state];
  const { [state]: _, ...rest } = data.states;
  writeOidcData(req, { ...data, states: rest });
  return pending;
}
