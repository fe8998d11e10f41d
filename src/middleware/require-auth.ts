/**
 * Guards, for routes behind a session or a bearer token (bearerAuth sets req.oidc the same way):
 * - unauthenticated: page requests go to login (coming back to the same URL), JSON requests get 401
 *   (an XHR cannot follow a login redirect);
 * - authenticated but not allowed (scopes, claims): 403. express-openid-connect answers 401 here,
 *   which sends a signed-in user back to login in a loop.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Runtime } from '../runtime.js';
import { continueWithContext } from '../session/context.js';
import { bearerChallenge, hasBearerScheme } from './bearer-auth.js';
import type { OidcClaims } from '../types.js';

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

const hasBearer = (req: Request) => hasBearerScheme(req.get('authorization'));
/** The WWW-Authenticate realm, as bearerAuth() uses it: the issuer, else the app's base URL. */
const realmOf = (rt: Runtime) => rt.config.issuer ?? rt.config.baseUrl;

function deny(rt: Runtime, req: Request, res: Response): void {
  res.set('cache-control', 'no-store');
  if (hasBearer(req)) {
    // An API request whose token bearerAuth did not accept (or no bearerAuth in front).
    res.status(401).set('www-authenticate', bearerChallenge(realmOf(rt), { error: 'invalid_token' })).json({ error: 'invalid_token' });
    return;
  }
  const loginUrl = `${rt.loginPath}?next=${encodeURIComponent(req.originalUrl)}`;
  if (rt.wantsJson(req)) {
    res.status(401).json({ error: 'unauthenticated', error_description: 'Authentication required', login_url: loginUrl });
    return;
  }
  res.redirect(302, loginUrl);
}

function forbid(rt: Runtime, req: Request, res: Response, verdict: Verdict): void {
  res.status(403).set('cache-control', 'no-store');
  if (verdict.missingScopes?.length) {
    const scope = verdict.missingScopes.join(' ');
    if (hasBearer(req)) {
      res.set('www-authenticate', bearerChallenge(realmOf(rt), { error: 'insufficient_scope', scope }));
    }
    res.json({ error: 'insufficient_scope', error_description: `missing scope: ${scope}` });
    return;
  }
  if (rt.wantsJson(req) || hasBearer(req)) res.json({ error: 'forbidden', error_description: 'Not allowed for this user' });
  else res.type('text/plain').send('Forbidden');
}

/** The shared shape of every guard: authenticate, then apply `check`. */
export function guard(rt: Runtime, check: (req: Request) => Verdict): RequestHandler {
  return (req, res, next) => {
    continueWithContext(req, rt, (err) => {
      if (err) return next(err);
      if (!req.oidc.isAuthenticated()) return deny(rt, req, res);
      let verdict: Verdict;
      try {
        verdict = check(req);
      } catch (e) {
        return next(e);
      }
      if (verdict.allowed) next();
      else forbid(rt, req, res, verdict);
    });
  };
}

const ALLOW: Verdict = { allowed: true };

export function requireAuth(rt: Runtime, opts: RequireAuthOptions = {}): RequestHandler {
  const scopes = opts.scopes ?? [];
  const claims = Object.entries(opts.claims ?? {});
  if (scopes.length === 0 && claims.length === 0) return guard(rt, () => ALLOW);
  return guard(rt, (req) => {
    const granted = new Set(req.oidc.scopes);
    const missingScopes = scopes.filter((s) => !granted.has(s));
    if (missingScopes.length > 0) return { allowed: false, missingScopes };
    const have = req.oidc.claims as OidcClaims;
    return { allowed: claims.every(([name, value]) => have[name] === value) };
  });
}

/** The claim must equal `value` (express-openid-connect's claimEquals). */
export function claimEquals(rt: Runtime, name: string, value: unknown): RequestHandler {
  return guard(rt, (req) => ({ allowed: (req.oidc.claims as OidcClaims)[name] === value }));
}

/**
 * The claim (an array, or a space-separated string such as `scope`) must include every value
 * (express-openid-connect's claimIncludes).
 */
export function claimIncludes(rt: Runtime, name: string, ...values: unknown[]): RequestHandler {
  return guard(rt, (req) => {
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
export function claimCheck(rt: Runtime, check: ClaimCheck): RequestHandler {
  // Fail at start-up, not on the first request, when the guard is given something else.
  if (typeof check !== 'function') throw new TypeError('express-oidc-rp: claimCheck(check) needs a function (req, claims) => boolean');
  return guard(rt, (req) => {
    const result: unknown = check(req, req.oidc.claims as OidcClaims);
    if (isThenable(result)) {
      throw new TypeError('express-oidc-rp: a claimCheck predicate returned a Promise; it must return a boolean synchronously (do async lookups in a middleware before the guard)');
    }
    return { allowed: Boolean(result) };
  });
}
