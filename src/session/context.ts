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
  };
}

/** Set req.oidc / req.user from the session; idempotent within a request. */
export async function attachContext(req: Request, rt: Runtime): Promise<OidcContext> {
  const r = req as Attachable;
  if (r[ATTACHED]) return req.oidc;
  const data = readOidcData(req);
  const auth = data?.auth;
  let user: OidcUser | undefined;
  if (auth) {
    const { deserializeUser } = rt.config.hooks;
    user = deserializeUser ? await deserializeUser(auth.user, req) : (auth.user as OidcUser);
    if (user === undefined || user === null) {
      // The app no longer knows this user (deleted, disabled): the session is not authenticated.
      rt.config.logger.info('deserializeUser returned no user; treating the session as logged out', { sub: auth.sub });
      user = undefined;
    }
  }
  setContext(req, auth, user);
  return req.oidc;
}

/** Replace the context (after login, refresh or logout within the same request). */
export function setContext(req: Request, auth: AuthenticatedSession | undefined, user: OidcUser | undefined): void {
  const ctx = buildContext(auth, user);
  req.oidc = ctx;
  if (ctx.isAuthenticated()) req.user = user;
  else delete req.user;
  (req as Attachable)[ATTACHED] = true;
}
