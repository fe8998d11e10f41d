/**
 * sessionRefresh: keeps a session's tokens usable, and populates req.user / req.oidc.
 *
 * - Access token still valid (before its refresh leeway): nothing but reading the session that
 *   express-session already loaded. This is the hot path; it does no I/O.
 * - Due, with a refresh token: one refresh grant per login however many requests and instances
 *   ask (session/refresh.ts), and this request continues with the new tokens.
 * - No refresh token, past OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: mozilla-django-oidc's SessionRefresh,
 *   a silent re-authentication (prompt=none) for GET page requests; 401 for JSON requests.
 *
 * Failures follow docs/design.md "Failure semantics": a dead credential ends the session (login
 * redirect for pages, 401 for JSON); a temporary failure changes nothing and answers 503, and the
 * next request tries again.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Runtime } from '../runtime.js';
import { asyncHandler } from './async-handler.js';
import { hasBearerScheme } from './bearer-auth.js';
import { continueWithContext, setContext } from '../session/context.js';
import { destroySession, readOidcData, type AuthenticatedSession } from '../session/session-data.js';
import { applyTokenSet, refreshDue } from '../session/refresh.js';
import { beginAuthorization } from '../routes/login.js';
import { safeRedirectTarget } from '../redirect-target.js';
import type { OidcError } from '../errors.js';
import type { ROUTE_NAMES } from '../config.js';

/** Header telling a JSON client where to send the user to sign in again. */
export const LOGIN_URL_HEADER = 'oidc-login-url';

/**
 * OIDC_EXEMPT_URLS plus the library's own routes, as a predicate on the request path. Entries were
 * checked by resolveConfig (src/config.ts): a string is a path or one of ROUTE_NAMES.
 */
export function exemptMatcher(rt: Runtime): (path: string) => boolean {
  const { config } = rt;
  const paths = new Set<string>(Object.values(config.routes));
  const patterns: RegExp[] = [];
  for (const entry of config.exemptUrls) {
    if (entry instanceof RegExp) patterns.push(entry);
    else if (entry.startsWith('/')) paths.add(entry);
    // Route names, as mozilla-django-oidc accepts URL names: here the library's own routes.
    else paths.add(config.routes[entry as (typeof ROUTE_NAMES)[number]]);
  }
  return (path) => paths.has(path) || patterns.some((re) => re.test(path));
}

function requestPath(req: Request): string {
  const q = req.originalUrl.indexOf('?');
  return q === -1 ? req.originalUrl : req.originalUrl.slice(0, q);
}

/** The login URL that brings the user back to this request's URL (GET only). */
function loginUrlFor(req: Request, rt: Runtime): string {
  return req.method === 'GET' ? `${rt.loginPath}?next=${encodeURIComponent(req.originalUrl)}` : rt.loginPath;
}

function respondSessionEnded(req: Request, res: Response, rt: Runtime): void {
  const loginUrl = loginUrlFor(req, rt);
  res.set('cache-control', 'no-store');
  if (rt.wantsJson(req)) {
    res.status(401).set(LOGIN_URL_HEADER, loginUrl).json({ error: 'session_ended', error_description: 'The session has ended; sign in again.', login_url: loginUrl });
    return;
  }
  res.redirect(302, loginUrl);
}

function respondUnavailable(req: Request, res: Response, rt: Runtime): void {
  // Retry-After: the failure is temporary by definition (network, timeout, 5xx at the provider).
  res.status(503).set('retry-after', '5').set('cache-control', 'no-store');
  if (rt.wantsJson(req)) {
    res.json({ error: 'temporarily_unavailable', error_description: 'The identity provider could not be reached; try again shortly.' });
    return;
  }
  res.type('text/plain').send('The identity provider could not be reached. Please try again in a moment.');
}

async function notifyRefreshError(rt: Runtime, req: Request, error: OidcError, ended: boolean): Promise<void> {
  rt.config.logger.warn(ended ? 'session ended: the refresh token was refused' : 'token refresh failed; tokens kept', { code: error.code, reason: error.message });
  if (rt.config.hooks.onRefreshError) {
    try {
      await rt.config.hooks.onRefreshError(error, req, { ended });
    } catch (err) {
      rt.config.logger.error('onRefreshError hook threw', { reason: (err as Error)?.message });
    }
  }
}

export function sessionRefresh(rt: Runtime): RequestHandler {
  const { config } = rt;
  const isExempt = exemptMatcher(rt);

  /** Everything that needs the provider or the store; never reached with a valid token. */
  const renew = asyncHandler(async (req, res, next) => {
    const auth = readOidcData(req)?.auth as AuthenticatedSession;
    if (auth.refreshToken !== undefined) {
      const outcome = await rt.refresher.refresh(auth, req);
      switch (outcome.kind) {
        case 'current':
        case 'refreshed':
          // Mutating the session object makes express-session save this request's copy.
          applyTokenSet(auth, outcome.set, rt);
          return continueWithContext(req, rt, next);
        case 'ended':
          await destroySession(req);
          setContext(req, undefined, undefined);
          await notifyRefreshError(rt, req, outcome.error, true);
          return respondSessionEnded(req, res, rt);
        case 'failed':
          await notifyRefreshError(rt, req, outcome.error, false);
          return respondUnavailable(req, res, rt);
      }
    }

    // No refresh token, past renewAt: ask the provider whether the user's session there is still alive.
    if (rt.wantsJson(req)) {
      const loginUrl = loginUrlFor(req, rt);
      res.status(401).set(LOGIN_URL_HEADER, loginUrl).set('cache-control', 'no-store').json({
        error: 'reauthentication_required',
        error_description: 'The session must be renewed with the identity provider.',
        login_url: loginUrl,
      });
      return;
    }
    if (req.method === 'GET') {
      const meta = await rt.discovery.get();
      const back = safeRedirectTarget(req.originalUrl, { baseUrl: config.baseUrl, allowedHosts: [] });
      const url = await beginAuthorization(req, rt, meta, { next: back, silent: true });
      res.set('cache-control', 'no-store');
      res.redirect(302, url);
      return;
    }
    // Other methods (a form POST) cannot survive a redirect round trip: let them through.
    continueWithContext(req, rt, next);
  });

  return (req, res, next) => {
    // A Bearer header never makes a session more trusted: a request that carries a session is
    // checked exactly as it would be without the header (a stolen cookie plus a junk header must
    // not skip refresh, re-authentication or the end of a dead session). bearerAuth on the route
    // then lets the token alone decide. Only an API without express-session is passed through.
    if ((req as { session?: unknown }).session === undefined && hasBearerScheme(req.headers.authorization)) return next();
    let auth: AuthenticatedSession | undefined;
    try {
      auth = readOidcData(req)?.auth;
    } catch (err) {
      return next(err); // no express-session
    }
    // Hot path, synchronous: unauthenticated, exempt, or a token that is still valid.
    const now = Math.floor(Date.now() / 1000);
    const fresh =
      !auth ||
      isExempt(requestPath(req)) ||
      (auth.refreshToken !== undefined
        ? !refreshDue(auth.accessTokenExpiresAt, auth.tokensObtainedAt, config.refreshLeewaySeconds, now)
        : now < auth.renewAt);
    if (fresh) return continueWithContext(req, rt, next);
    renew(req, res, next);
  };
}
