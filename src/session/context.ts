/**
 * `req.oidc` and `req.user` for a request, built from the session once per request.
 */
import type { Request } from 'express';
import { parseScopes } from '../protocol/bearer-token.js';
import type { OidcClaims, OidcContext, OidcHooks, OidcLogger, OidcUser } from '../types.js';
import { readOidcData, storedUser, type AuthenticatedSession } from './session-data.js';
import { NO_TOKEN_ACTIONS, type TokenActions, type TokenActionsFor } from './resource-fetch.js';

/**
 * On a context: the request it was attached to. Kept on the context, not the request: a new
 * property on Express' request object is a costly store on every request, the context is ours.
 * Symbol.for, so that two copies of the library loaded in one app recognise each other's.
 */
const ATTACHED: unique symbol = Symbol.for('express-oidc-rp.context');

const yes = () => true;
const no = () => false;

/** Token actions, or how to make them: made on first use, since most requests never call them. */
type ActionsSource = TokenActions | (() => TokenActions);

/**
 * req.oidc. Built on every request, so it allocates little: isAuthenticated is one of two shared
 * functions, the scopes come from a cache, and `fetch` / `refresh` (prototype getters, so
 * `const { fetch } = req.oidc` works as well) are made the first time a request reads them.
 */
class RequestContext implements OidcContext {
  isAuthenticated: () => boolean;
  user: OidcUser | undefined;
  claims: OidcClaims | undefined;
  accessToken: string | undefined;
  idToken: string | undefined;
  refreshToken: string | undefined;
  accessTokenExpiresAt: number | undefined;
  scopes: string[];
  [ATTACHED]: Request | undefined;
  #actions: ActionsSource;

  constructor(auth: AuthenticatedSession | undefined, user: OidcUser | undefined, actions: ActionsSource | undefined, owner: Request | undefined) {
    const authenticated = auth !== undefined && user !== undefined;
    this.isAuthenticated = authenticated ? yes : no;
    this.user = authenticated ? user : undefined;
    this.claims = authenticated ? auth.claims : undefined;
    this.accessToken = authenticated ? auth.accessToken : undefined;
    this.idToken = authenticated ? auth.idToken : undefined;
    this.refreshToken = authenticated ? auth.refreshToken : undefined;
    this.accessTokenExpiresAt = authenticated ? auth.accessTokenExpiresAt : undefined;
    this.scopes = authenticated ? grantedScopes(auth) : [];
    this[ATTACHED] = owner;
    this.#actions = authenticated && actions ? actions : NO_TOKEN_ACTIONS;
  }

  #resolved(): TokenActions {
    if (typeof this.#actions === 'function') this.#actions = this.#actions();
    return this.#actions;
  }

  get fetch(): OidcContext['fetch'] {
    return this.#resolved().fetch;
  }

  get refresh(): OidcContext['refresh'] {
    return this.#resolved().refresh;
  }
}

export function buildContext(auth: AuthenticatedSession | undefined, user: OidcUser | undefined, actions?: ActionsSource, owner?: Request): OidcContext {
  return new RequestContext(auth, user, actions, owner);
}

/** Parsed scope strings: an app sees a handful of distinct ones, parsed once each. */
const parsedScopes = new Map<string, readonly string[]>();
const PARSED_SCOPES_MAX = 256;

/** The token response's scope, else the claims' `scope` and `scp` (protocol/bearer-token.ts parseScopes). A fresh array each time. */
function grantedScopes(auth: AuthenticatedSession): string[] {
  if (auth.scope === undefined) return parseScopes(auth.claims.scope, auth.claims.scp);
  let parsed = parsedScopes.get(auth.scope);
  if (parsed === undefined) {
    parsed = parseScopes(auth.scope);
    if (parsedScopes.size >= PARSED_SCOPES_MAX) parsedScopes.clear();
    parsedScopes.set(auth.scope, parsed);
  }
  return parsed.slice();
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
  // In an Express app each property read on the request object misses V8's inline caches on
  // every request, so req.oidc is read once here and not read back after setContext writes it
  // (docs/benchmarks.md, "Counted in instructions").
  const current = (req as { oidc?: OidcContext & { [ATTACHED]?: unknown } }).oidc;
  if (current !== undefined && current[ATTACHED] === req) return current;
  const auth = readOidcData(req)?.auth;
  const { deserializeUser } = config.hooks;
  if (!auth || !deserializeUser) {
    return setContext(req, auth, (auth === undefined ? undefined : (storedUser(auth) ?? undefined)) as OidcUser | undefined, config.fetcher);
  }
  return Promise.resolve(deserializeUser(storedUser(auth), req)).then((user) => {
    if (user === undefined || user === null) {
      // The app no longer knows this user (deleted, disabled): the session is not authenticated.
      config.logger.info('deserializeUser returned no user; treating the session as logged out', { sub: auth.sub });
    }
    return setContext(req, auth, user ?? undefined, config.fetcher);
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

/** Replace the context (after login, refresh or logout within the same request); returns it. */
export function setContext(req: Request, auth: AuthenticatedSession | undefined, user: OidcUser | undefined, fetcher?: TokenActionsFor): OidcContext {
  // After a refresh through these actions, req.oidc shows the new tokens within the same request.
  // When these actions learn that the login is over, req.oidc says signed out within the same request.
  // Made on first use (most requests never call fetch or refresh), closures included.
  const actions =
    auth && fetcher
      ? () =>
          fetcher(
            req,
            auth,
            () => setContext(req, auth, user, fetcher),
            () => setContext(req, undefined, undefined),
          )
      : undefined;
  const ctx = buildContext(auth, user, actions, req);
  req.oidc = ctx;
  if (ctx.isAuthenticated()) req.user = user;
  else delete req.user;
  return ctx;
}
