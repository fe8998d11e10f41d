/**
 * Guards, for routes behind a session or a bearer token (bearerAuth sets req.oidc the same way):
 * - unauthenticated: page requests go to login (coming back to the same URL), JSON requests get 401
 *   (an XHR cannot follow a login redirect);
 * - authenticated but not allowed (scopes, claims): 403. express-openid-connect answers 401 here,
 *   which sends a signed-in user back to login in a loop.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Services } from '../session/services.js';
import { continueWithContext } from '../session/context.js';
import { accessTokenScheme } from '../protocol/bearer-token.js';
import { bearerRealm, loginPathOf, sendForbidden, sendLoginRequired, sendTokenError } from './responses.js';
import type { AuthenticatedRequest, OidcClaims } from '../types.js';
import { OidcError } from '../errors.js';

export interface RequireAuthOptions {
  /** Every one of these scopes must have been granted. */
  scopes?: string[];
  /** Every listed claim must equal the given value. */
  claims?: Record<string, unknown>;
}

/**
 * A claim predicate for claimCheck(), in express-openid-connect's argument order `(req, claims)`.
 * Like there, any truthy return allows. It must be synchronous: a returned Promise is an error
 * (passed to next), because a Promise is truthy and would otherwise let everyone through.
 */
export type ClaimCheck = (req: Request, claims: OidcClaims) => boolean;

interface Verdict {
  allowed: boolean;
  /** Scopes the request lacks (RFC 6750 3.1 insufficient_scope). */
  missingScopes?: string[];
}

type GuardDeps = Pick<Services, 'config' | 'context'>;

/** The access token scheme of the request (`Bearer` or RFC 9449 `DPoP`), if it carries one. */
const tokenScheme = (req: Request) => accessTokenScheme(req.get('authorization'));

function deny(config: GuardDeps['config'], loginPath: string, req: Request, res: Response): void {
  // An API request whose token bearerAuth did not accept (or no bearerAuth in front).
  const scheme = tokenScheme(req);
  if (scheme) sendTokenError(res, { realm: bearerRealm(req, config), schemes: [scheme] }, scheme, 401, 'invalid_token');
  else sendLoginRequired(req, res, loginPath, { error: 'unauthenticated', description: 'Authentication required' });
}

/** The shared shape of every guard: authenticate, then apply `check`. */
export function guard({ config, context }: GuardDeps, check: (req: Request) => Verdict): RequestHandler {
  const loginPath = loginPathOf(config);
  return (req, res, next) => {
    continueWithContext(req, context, (err) => {
      if (err) return next(err);
      if (!req.oidc.isAuthenticated()) return deny(config, loginPath, req, res);
      let verdict: Verdict;
      try {
        verdict = check(req);
      } catch (e) {
        return next(e);
      }
      if (verdict.allowed) next();
      else sendForbidden(req, res, bearerRealm(req, config), tokenScheme(req), verdict.missingScopes);
    });
  };
}

const ALLOW: Verdict = { allowed: true };

export function requireAuth(deps: GuardDeps, opts: RequireAuthOptions = {}): RequestHandler {
  // express-openid-connect's requiresAuth(req => boolean) migrated as is would silently mean
  // "signed in is enough" in plain JavaScript: refuse it, pointing at claimCheck.
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError('express-oidc-rp: requireAuth(opts) takes { scopes, claims }; for a predicate (req, claims) => boolean use claimCheck(fn)');
  }
  const scopes = opts.scopes ?? [];
  const claims = Object.entries(opts.claims ?? {});
  if (scopes.length === 0 && claims.length === 0) return guard(deps, () => ALLOW);
  return guard(deps, (req) => {
    const granted = new Set(req.oidc.scopes);
    const missingScopes = scopes.filter((s) => !granted.has(s));
    if (missingScopes.length > 0) return { allowed: false, missingScopes };
    const have = req.oidc.claims as OidcClaims;
    return { allowed: claims.every(([name, value]) => have[name] === value) };
  });
}

/** The claim must equal `value` (express-openid-connect's claimEquals). */
export function claimEquals(deps: GuardDeps, name: string, value: unknown): RequestHandler {
  return guard(deps, (req) => ({ allowed: (req.oidc.claims as OidcClaims)[name] === value }));
}

/**
 * The claim (an array, or a space-separated string such as `scope`) must include every value
 * (express-openid-connect's claimIncludes).
 */
export function claimIncludes(deps: GuardDeps, name: string, ...values: unknown[]): RequestHandler {
  return guard(deps, (req) => {
    const claim = (req.oidc.claims as OidcClaims)[name];
    const have: unknown[] = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
    return { allowed: claim !== undefined && values.every((v) => have.includes(v)) };
  });
}

const isThenable = (v: unknown): boolean => typeof (v as { then?: unknown } | null | undefined)?.then === 'function';

/**
 * An arbitrary predicate over the request and its claims (express-openid-connect's claimCheck,
 * same argument order and truthiness, so a migrated check keeps its meaning).
 */
export function claimCheck(deps: GuardDeps, check: ClaimCheck): RequestHandler {
  // Fail at start-up, not on the first request, when the guard is given something else.
  if (typeof check !== 'function') throw new TypeError('express-oidc-rp: claimCheck(check) needs a function (req, claims) => boolean');
  return guard(deps, (req) => {
    const result: unknown = check(req, req.oidc.claims as OidcClaims);
    if (isThenable(result)) {
      throw new TypeError(
        'express-oidc-rp: a claimCheck predicate returned a Promise; it must return a boolean synchronously (do async lookups in a middleware before the guard)',
      );
    }
    return { allowed: Boolean(result) };
  });
}

/**
 * The request as signed in, typed without `| undefined` (`req.user`, `req.oidc.claims`), for
 * handlers behind requireAuth(). Throws OIDC_NOT_AUTHENTICATED (401) when it is not: a route
 * mounted without the guard, or before `oidc.router` (where `req.oidc` does not exist yet, although
 * its type says it does).
 */
export function authenticated(req: Request): AuthenticatedRequest {
  const ctx = (req as { oidc?: Request['oidc'] }).oidc;
  if (!ctx?.isAuthenticated() || req.user === undefined || ctx.claims === undefined) {
    throw new OidcError('OIDC_NOT_AUTHENTICATED', 'this request is not signed in: put oidc.requireAuth() (after oidc.router) in front of the handler', {
      statusCode: 401,
    });
  }
  return req as AuthenticatedRequest;
}
