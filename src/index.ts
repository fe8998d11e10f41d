/**
 * express-oidc-rp: OpenID Connect relying party for Express.
 *
 * @example
 * const oidc = createOidcAuth({ issuer, clientId, clientSecret, baseUrl });
 * app.use(session({ ... }));
 * app.use(oidc.router);
 * app.get('/me', oidc.requireAuth(), (req, res) => res.json(req.oidc.claims));
 */
import { Router, type RequestHandler } from 'express';
import { optionRef, resolveConfig } from './config.js';
import { closeServices, createServices } from './session/services.js';
import { loginHandler } from './routes/login.js';
import { callbackHandler } from './routes/callback.js';
import { logoutHandlers } from './routes/logout.js';
import { routeDispatcher, type RouteTable } from './routes/dispatch.js';
import { sessionRefresh } from './middleware/session-refresh.js';
import { claimCheck, claimEquals, claimIncludes, requireAuth, type ClaimCheck, type RequireAuthOptions } from './middleware/require-auth.js';
import { backchannelLogoutHandler } from './routes/backchannel-logout.js';
import { bearerAuth, type BearerAuthOptions } from './middleware/bearer-auth.js';
import { frontchannelLogoutHandler } from './routes/frontchannel-logout.js';
import type { OidcAuthOptions } from './types.js';

export interface OidcAuth {
  /** GET routes.login: starts a login; `?next=/path` comes back there afterwards. */
  login: Router;
  /** GET routes.callback: the provider redirects here (register `baseUrl + routes.callback`). */
  callback: Router;
  /** POST routes.logout (GET with ALLOW_LOGOUT_GET_METHOD). */
  logout: Router;
  /** Populates req.user / req.oidc for every request of a session. */
  sessionRefresh: RequestHandler;
  /**
   * POST routes.backchannelLogout: OpenID Connect Back-Channel Logout 1.0 (register
   * `baseUrl + routes.backchannelLogout` at the provider). Also part of `router`.
   */
  backchannelLogout: Router;
  /** GET routes.frontchannelLogout, when OIDC_FRONTCHANNEL_LOGOUT is on. Also part of `router`. */
  frontchannelLogout: Router;
  /**
   * Guard: unauthenticated -> 302 to login for pages, 401 for API requests; authenticated but
   * missing `scopes` or `claims` -> 403.
   */
  requireAuth(opts?: RequireAuthOptions): RequestHandler;
  /**
   * API guard: an `Authorization: Bearer` access token (RFC 6750), or a DPoP-bound one with its
   * proof (`Authorization: DPoP` + `DPoP`, RFC 9449; OIDC_BEARER_DPOP). JWT access tokens (RFC 9068)
   * are checked locally, opaque ones by introspection (RFC 7662) or userinfo; results cached up to
   * the token's expiry, DPoP proofs checked on every request. 401 invalid_token /
   * invalid_dpop_proof / use_dpop_nonce, 403 insufficient_scope, 503 when the provider is down.
   * Needs no express-session.
   */
  bearerAuth(opts?: BearerAuthOptions): RequestHandler;
  /** Guard: the claim equals the value (else 403). */
  claimEquals(name: string, value: unknown): RequestHandler;
  /** Guard: the claim (array or space-separated string) includes every value (else 403). */
  claimIncludes(name: string, ...values: unknown[]): RequestHandler;
  /**
   * Guard: `check(req, claims)` (express-openid-connect's argument order) returns a truthy value
   * (else 403). It must be synchronous; a throw or a returned Promise goes to `next(err)`.
   */
  claimCheck(check: ClaimCheck): RequestHandler;
  /**
   * login + callback + logout + back-channel logout (and front-channel logout when enabled) +
   * sessionRefresh as one middleware (`app.use(oidc.router)`): a single route lookup per request
   * instead of a Router's layers.
   */
  router: RequestHandler;
  /** Release the HTTP connection pool to the provider (tests, graceful shutdown). */
  close(): Promise<void>;
}

/**
 * Build the routers and middleware. Synchronous: options and env vars are validated here; one
 * OidcError('OIDC_CONFIG_INVALID') lists every bad or unknown setting (also as `err.problems`),
 * each naming the option and its env var. The provider is contacted on first use.
 */
export function createOidcAuth(options: OidcAuthOptions = {}): OidcAuth {
  const config = resolveConfig(options);
  const services = createServices(config);
  if (config.issuer === undefined) {
    config.logger.warn(`no issuer configured (option ${optionRef('issuer')}): the ID token "iss" claim cannot be checked`);
  }
  const refresh = sessionRefresh(services);
  const { routes } = config;
  const logoutRoute = logoutHandlers(services);
  const table: RouteTable = [
    ['GET', routes.login, loginHandler(services)],
    ['GET', routes.callback, callbackHandler(services)],
    ['POST', routes.logout, logoutRoute.post],
    ['GET', routes.logout, logoutRoute.get],
  ];
  if (config.backchannelLogout) table.push(['POST', routes.backchannelLogout, backchannelLogoutHandler(services)]);
  if (config.frontchannelLogout) table.push(['GET', routes.frontchannelLogout, frontchannelLogoutHandler(services)]);
  const routerFor = (path: string): Router => {
    const r = Router();
    for (const [method, p, handler] of table) if (p === path) r[method === 'GET' ? 'get' : 'post'](p, handler);
    return r;
  };
  return {
    login: routerFor(routes.login),
    callback: routerFor(routes.callback),
    logout: routerFor(routes.logout),
    backchannelLogout: routerFor(routes.backchannelLogout),
    frontchannelLogout: routerFor(routes.frontchannelLogout),
    sessionRefresh: refresh,
    requireAuth: (opts) => requireAuth(services, opts),
    bearerAuth: (opts) => bearerAuth(services, opts),
    claimEquals: (name, value) => claimEquals(services, name, value),
    claimIncludes: (name, ...values) => claimIncludes(services, name, ...values),
    claimCheck: (check) => claimCheck(services, check),
    router: routeDispatcher(table, refresh),
    close: () => closeServices(services),
  };
}

export { OidcError, isOidcError, isTransientProviderError } from './errors.js';
/** The public JWK (with the kid assertions carry) of a private_key_jwt key, to register at the provider. */
export { publicJwkFor } from './keys/client-assertion-key.js';
export type { OidcErrorCode } from './errors.js';
export type {
  OidcAuthOptions,
  OidcHooks,
  OidcClaims,
  OidcAddressClaim,
  OidcContext,
  AuthenticatedOidcContext,
  AuthenticatedRequest,
  OidcLogger,
  OidcRoutes,
  OidcUser,
  UserHookContext,
  LogoutUrlContext,
  StoredTokens,
} from './types.js';
export type { RequireAuthOptions, ClaimCheck } from './middleware/require-auth.js';
export { authenticated } from './middleware/require-auth.js';
export type { BearerAuthOptions, DpopMode } from './middleware/bearer-auth.js';
