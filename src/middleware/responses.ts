/**
 * Every answer the library gives instead of the app's handler, in one place: the login URL, the
 * 401 / 403 / 503 bodies and headers, and the Bearer realm. sessionRefresh, the guards,
 * bearerAuth and the logout route all answer through here, so a JSON client sees one shape:
 * `{ error, error_description?, login_url? }`, with `Cache-Control: no-store` (answers about
 * one user's authentication must not be cached, RFC 6749 5.1 / RFC 6750 3).
 */
import type { Request, Response } from 'express';
import { authChallenge, challengeText, type TokenScheme } from '../protocol/bearer-token.js';

/** Header telling a JSON client where to send the user to sign in again. */
export const LOGIN_URL_HEADER = 'oidc-login-url';

/** The realm bearerAuth() used on this request, for the guards behind it. */
const REALM = Symbol.for('express-oidc-rp.realm');
type WithRealm = Request & { [REALM]?: string };

/** The app's login path as the browser sees it: the base URL's path prefix + routes.login. */
export function loginPathOf(config: { baseUrl: string; routes: { login: string } }): string {
  const prefix = new URL(config.baseUrl).pathname.replace(/\/+$/, '');
  return prefix + config.routes.login;
}

/** An absolute URL for an app-relative target (post_logout_redirect_uri needs one). */
export function absoluteUrl(baseUrl: string, target: string): string {
  return new URL(target, `${new URL(baseUrl).origin}/`).toString();
}

/** XHR/fetch callers cannot follow a redirect to the provider's login page: they get JSON. */
export function wantsJson(req: Request): boolean {
  if (String(req.get('x-requested-with') ?? '').toLowerCase() === 'xmlhttprequest') return true;
  const accept = req.get('accept');
  if (!accept) return false;
  return req.accepts(['html', 'json']) === 'json';
}

/**
 * The login URL that brings the user back to this request's URL. Only a GET (or HEAD) can be
 * resumed by sending the browser back to its URL; other methods get the plain login path.
 */
export function loginUrlFor(loginPath: string, req: Request): string {
  return req.method === 'GET' || req.method === 'HEAD' ? `${loginPath}?next=${encodeURIComponent(req.originalUrl)}` : loginPath;
}

export interface LoginRequired {
  /** `unauthenticated`, `session_ended`, `reauthentication_required`. */
  error: string;
  description: string;
}

/**
 * A redirect without a body. Express' res.redirect negotiates a "Redirecting to" note for each one
 * (Accept parsing, a MIME lookup, HTML escaping) that browsers never show (RFC 9110 15.4 does not
 * ask for it), and two redirects are on the path of every login. res.location() keeps Express' URL
 * encoding of the target.
 */
export function sendRedirect(res: Response, status: 302 | 303, url: string): void {
  res.location(url);
  res.statusCode = status;
  res.setHeader('content-length', '0');
  res.end();
}

/** The user must sign in (again): 401 JSON with the login URL for API callers, a 302 to it for pages. */
export function sendLoginRequired(req: Request, res: Response, loginPath: string, why: LoginRequired): void {
  const loginUrl = loginUrlFor(loginPath, req);
  res.set('cache-control', 'no-store');
  if (wantsJson(req)) {
    res.status(401).set(LOGIN_URL_HEADER, loginUrl).json({ error: why.error, error_description: why.description, login_url: loginUrl });
    return;
  }
  sendRedirect(res, 302, loginUrl);
}

/** 503 with Retry-After: the provider (or the store) is down, which says nothing about the user's credentials. */
export function sendUnavailable(req: Request, res: Response, what: string, opts: { json?: boolean } = {}): void {
  res.status(503).set('retry-after', '5').set('cache-control', 'no-store');
  if (opts.json || wantsJson(req)) {
    res.json({ error: 'temporarily_unavailable', error_description: `${what}; try again shortly.` });
    return;
  }
  res.type('text/plain').send(`${what}. Please try again in a moment.`);
}

/** Remember the realm bearerAuth() answered with, so the guards behind it challenge with the same. */
export function setBearerRealm(req: Request, realm: string): void {
  (req as WithRealm)[REALM] = realm;
}

/** The realm of this request's challenges: bearerAuth()'s, else the issuer, else the app's base URL. */
export function bearerRealm(req: Request, config: { issuer: string | undefined; baseUrl: string }): string {
  return (req as WithRealm)[REALM] ?? config.issuer ?? config.baseUrl;
}

/** The challenges an API route answers with: its realm, the schemes it accepts, the DPoP algorithms. */
export interface TokenChallenges {
  realm: string;
  /** In the order they are listed (RFC 9110 11.6.1: one header may carry several challenges). */
  schemes: readonly TokenScheme[];
  /** RFC 9449 7.1 `algs`, on the DPoP challenge of a 401. */
  dpopAlgs?: readonly string[];
}

/**
 * An RFC 6750 3 / RFC 9449 7.1 answer: `WWW-Authenticate` and the same attributes in a JSON body.
 * A 401 lists every scheme the route accepts (RFC 9449 7.2: `Bearer, DPoP algs=...`), with the
 * error attributes on the scheme the request used; a 400 or 403 is about that scheme only. Without
 * `error` (no credentials at all, RFC 6750 3.1) the challenges have no error attributes.
 */
export function sendTokenError(
  res: Response,
  challenges: TokenChallenges,
  used: TokenScheme | undefined,
  status: 400 | 401 | 403,
  error: string | undefined,
  description?: string,
  extra: Record<string, string> = {},
): void {
  res.status(status).set('cache-control', 'no-store');
  const text = description === undefined ? undefined : challengeText(description);
  const params = error === undefined ? {} : { error, ...(text === undefined ? {} : { error_description: text }), ...extra };
  // The scheme the error is about: the request's, else (a token in the query string) the first accepted.
  const about = used ?? (challenges.schemes[0] as TokenScheme);
  const listed = status === 401 ? challenges.schemes : [about];
  const header = listed.map((scheme) => {
    const own = scheme === about ? params : {};
    const algs: Record<string, string> = scheme === 'DPoP' && status === 401 && challenges.dpopAlgs?.length ? { algs: challenges.dpopAlgs.join(' ') } : {};
    return authChallenge(scheme, challenges.realm, { ...own, ...algs });
  });
  res.set('www-authenticate', header.join(', '));
  if (error === undefined) res.json({ error: 'unauthenticated', ...(text === undefined ? {} : { error_description: text }) });
  else res.json(params);
}

/**
 * An RFC 6750 3 answer: `WWW-Authenticate: Bearer realm=..., error=...` and the same in a JSON
 * body. Without `error` (no credentials at all, RFC 6750 3.1) the challenge has no error attributes.
 */
export function sendBearerError(
  res: Response,
  realm: string,
  status: 400 | 401 | 403,
  error: string | undefined,
  description?: string,
  extra: Record<string, string> = {},
): void {
  sendTokenError(res, { realm, schemes: ['Bearer'] }, 'Bearer', status, error, description, extra);
}

/**
 * A signed-in user who is not allowed: 403 (never a 401, which would loop back to login). `scheme`:
 * the access token scheme of the request (Bearer or DPoP), which the challenge then uses.
 */
export function sendForbidden(req: Request, res: Response, realm: string, scheme: TokenScheme | undefined, missingScopes?: string[]): void {
  if (missingScopes?.length) {
    const scope = missingScopes.join(' ');
    res.status(403).set('cache-control', 'no-store');
    // RFC 6750 3.1 (and RFC 9449 7.1 for DPoP): the challenge names the scope the request lacks.
    if (scheme) res.set('www-authenticate', authChallenge(scheme, realm, { error: 'insufficient_scope', scope }));
    res.json({ error: 'insufficient_scope', error_description: `missing scope: ${scope}` });
    return;
  }
  res.status(403).set('cache-control', 'no-store');
  if (wantsJson(req) || scheme) res.json({ error: 'forbidden', error_description: 'Not allowed for this user' });
  else res.type('text/plain').send('Forbidden');
}
