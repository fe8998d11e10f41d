/**
 * `req.oidc` and `req.user` for a request, built from the session once per request.
 */
import type { Request } from 'express';
import type { Runtime } from '../runtime.js';
import type { OidcContext, OidcUser } from '../types.js';
import { readOidcData, type AuthenticatedSession } from './session-data.js';

const ATTACHED = Symbol.for('express-oidc-rp.context');

type Attachable = Request & { [ATTACHED]?: true };

export function buildContext(auth: AuthenticatedSession | undefined, user: OidcUser | undefined): OidcContext {
  const authenticated = auth !== undefined && user !== undefined;
  return {
    isAuthenticated: () => authenticated,
    user: authenticated ? user : undefined,
    claims: authenticated ? auth.claims : undefined,
    accessToken: authenticated ? auth.accessToken : undefined,
    idToken: authenticated ? auth.idToken : undefined,
    refreshToken: authenticated ? auth.refreshToken : undefined,
    accessTokenExpiresAt: authenticated ? auth.accessTokenExpiresAt : undefined,
    scopes: authenticated ? grantedScopes(auth) : [],
  };
}

/** Session scope, else the claims' `scope` (RFC 8693 4.2, RFC 9068 2.2.3) or `scp` (Okta, Entra). */
function grantedScopes(auth: AuthenticatedSession): string[] {
  const source = auth.scope ?? auth.claims.scope ?? auth.claims.scp;
  if (typeof source === 'string') return source.split(' ').filter(Boolean);
  return Array.isArray(source) ? source.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * Set req.oidc / req.user from the session; idempotent within a request. Synchronous unless a
 * deserializeUser hook has to run: the hot path of every request allocates no promise.
 */
export function attachContext(req: Request, rt: Runtime): OidcContext | Promise<OidcContext> {
  if ((req as Attachable)[ATTACHED]) return req.oidc;
  const auth = readOidcData(req)?.auth;
  const { deserializeUser } = rt.config.hooks;
  if (!auth || !deserializeUser) {
    setContext(req, auth, (auth?.user ?? undefined) as OidcUser | undefined);
    return req.oidc;
  }
  return Promise.resolve(deserializeUser(auth.user, req)).then((user) => {
    if (user === undefined || user === null) {
      // The app no longer knows this user (deleted, disabled): the session is not authenticated.
      rt.config.logger.info('deserializeUser returned no user; treating the session as logged out', { sub: auth.sub });
    }
    setContext(req, auth, user ?? undefined);
    return req.oidc;
  });
}

/** attachContext, then next() (or next(err)), without a promise when none is needed. */
export function continueWithContext(req: Request, rt: Runtime, next: (err?: unknown) => void): void {
  let ctx: OidcContext | Promise<OidcContext>;
  try {
    ctx = attachContext(req, rt);
  } catch (err) {
    next(err);
    return;
  }
  if (ctx instanceof Promise) ctx.then(() => next(), next);
  else next();
}

/** Replace the context (after login, refresh or logout within the same request). */
export function setContext(req: Request, auth: AuthenticatedSession | undefined, user: OidcUser | undefined): void {
  const ctx = buildContext(auth, user);
  req.oidc = ctx;
  if (ctx.isAuthenticated()) req.user = user;
  else delete req.user;
  (req as Attachable)[ATTACHED] = true;
}
