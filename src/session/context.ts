/**
 * `req.oidc` and `req.user` for a request, built from the session once per request.
 */
import type { Request } from 'express';
import { parseScopes } from '../protocol/bearer-token.js';
import type { OidcContext, OidcHooks, OidcLogger, OidcUser } from '../types.js';
import { readOidcData, type AuthenticatedSession } from './session-data.js';
import { NO_TOKEN_ACTIONS, type TokenActions, type TokenActionsFor } from './resource-fetch.js';

const ATTACHED = Symbol.for('express-oidc-rp.context');

type Attachable = Request & { [ATTACHED]?: true };

export function buildContext(auth: AuthenticatedSession | undefined, user: OidcUser | undefined, actions?: TokenActions): OidcContext {
  const authenticated = auth !== undefined && user !== undefined;
  const { fetch, refresh } = authenticated && actions ? actions : NO_TOKEN_ACTIONS;
  return {
    fetch,
    refresh,
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

/** The token response's scope, else the claims' `scope` and `scp` (protocol/bearer-token.ts parseScopes). */
function grantedScopes(auth: AuthenticatedSession): string[] {
  return auth.scope !== undefined ? parseScopes(auth.scope) : parseScopes(auth.claims.scope, auth.claims.scp);
}

/** What building a context reads from the configuration (ResolvedConfig has it). */
export interface ContextSettings {
  hooks: Pick<OidcHooks, 'deserializeUser'>;
  logger: OidcLogger;
  /** Makes `req.oidc.fetch` and `req.oidc.refresh` for a signed-in session (session/resource-fetch.ts). */
  fetcher?: TokenActionsFor;
}

/**
 * Set req.oidc / req.user from the session; idempotent within a request. Synchronous unless a
 * deserializeUser hook has to run: the hot path of every request allocates no promise.
 */
export function attachContext(req: Request, config: ContextSettings): OidcContext | Promise<OidcContext> {
  if ((req as Attachable)[ATTACHED]) return req.oidc;
  const auth = readOidcData(req)?.auth;
  const { deserializeUser } = config.hooks;
  if (!auth || !deserializeUser) {
    setContext(req, auth, (auth?.user ?? undefined) as OidcUser | undefined, config.fetcher);
    return req.oidc;
  }
  return Promise.resolve(deserializeUser(auth.user, req)).then((user) => {
    if (user === undefined || user === null) {
      // The app no longer knows this user (deleted, disabled): the session is not authenticated.
      config.logger.info('deserializeUser returned no user; treating the session as logged out', { sub: auth.sub });
    }
    setContext(req, auth, user ?? undefined, config.fetcher);
    return req.oidc;
  });
}

/** attachContext, then next() (or next(err)), without a promise when none is needed. */
export function continueWithContext(req: Request, config: ContextSettings, next: (err?: unknown) => void): void {
  let ctx: OidcContext | Promise<OidcContext>;
  try {
    ctx = attachContext(req, config);
  } catch (err) {
    next(err);
    return;
  }
  if (ctx instanceof Promise) ctx.then(() => next(), next);
  else next();
}

/** Replace the context (after login, refresh or logout within the same request). */
export function setContext(req: Request, auth: AuthenticatedSession | undefined, user: OidcUser | undefined, fetcher?: TokenActionsFor): void {
  // After a refresh through these actions, req.oidc shows the new tokens within the same request.
  const refreshed = () => setContext(req, auth, user, fetcher);
  // When these actions learn that the login is over, req.oidc says signed out within the same request.
  const ended = () => setContext(req, undefined, undefined);
  const ctx = buildContext(auth, user, auth && fetcher ? fetcher(req, auth, refreshed, ended) : undefined);
  req.oidc = ctx;
  if (ctx.isAuthenticated()) req.user = user;
  else delete req.user;
  (req as Attachable)[ATTACHED] = true;
}
