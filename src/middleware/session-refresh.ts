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
import type { Request, RequestHandler } from 'express';
import type { Services } from '../session/services.js';
import { asyncHandler } from './async-handler.js';
import { loginPathOf, sendLoginRequired, sendRedirect, sendUnavailable, wantsJson } from './responses.js';
import { accessTokenScheme } from '../protocol/bearer-token.js';
import { continueWithContext, setContext } from '../session/context.js';
import { destroySession, readOidcData, type AuthenticatedSession } from '../session/session-data.js';
import { applyTokenSet, refreshDue } from '../session/refresh.js';
import { beginAuthorization } from '../session/authorization.js';
import { safeRedirectTarget } from '../protocol/redirect-target.js';
import type { OidcError } from '../errors.js';
import type { ResolvedConfig, ROUTE_NAMES } from '../config.js';

/**
 * OIDC_EXEMPT_URLS plus the library's own routes, as a predicate on the request path. Entries were
 * checked by resolveConfig (src/config.ts): a string is a path or one of ROUTE_NAMES.
 */
export function exemptMatcher(config: Pick<ResolvedConfig, 'routes' | 'exemptUrls'>): (path: string) => boolean {
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
  const url = req.originalUrl;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

const UNAVAILABLE = 'The identity provider could not be reached';

export function sessionRefresh(services: Pick<Services, 'config' | 'provider' | 'refresher' | 'dpopKeys' | 'context'>): RequestHandler {
  const { config, provider, refresher, context } = services;
  const isExempt = exemptMatcher(config);
  const loginPath = loginPathOf(config);

  async function notifyRefreshError(req: Request, error: OidcError, ended: boolean): Promise<void> {
    config.logger.warn(ended ? 'session ended: the refresh token was refused' : 'token refresh failed; tokens kept', {
      code: error.code,
      reason: error.message,
    });
    if (!config.hooks.onRefreshError) return;
    try {
      await config.hooks.onRefreshError(error, req, { ended });
    } catch (err) {
      config.logger.error('onRefreshError hook threw', { reason: (err as Error)?.message });
    }
  }

  /** Everything that needs the provider or the store; never reached with a valid token. */
  const renew = asyncHandler(async (req, res, next) => {
    const auth = readOidcData(req)?.auth as AuthenticatedSession;
    if (auth.refreshToken !== undefined) {
      const outcome = await refresher.refresh(auth, req);
      switch (outcome.kind) {
        case 'current':
        case 'refreshed':
          // Mutating the session object makes express-session save this request's copy.
          applyTokenSet(auth, outcome.set, config);
          return continueWithContext(req, context, next);
        case 'ended':
          await destroySession(req);
          setContext(req, undefined, undefined);
          await notifyRefreshError(req, outcome.error, true);
          return sendLoginRequired(req, res, loginPath, { error: 'session_ended', description: 'The session has ended; sign in again.' });
        case 'failed':
          await notifyRefreshError(req, outcome.error, false);
          return sendUnavailable(req, res, UNAVAILABLE);
      }
    }

    // No refresh token, past renewAt: ask the provider whether the user's session there is still alive.
    if (wantsJson(req)) {
      return sendLoginRequired(req, res, loginPath, {
        error: 'reauthentication_required',
        description: 'The session must be renewed with the identity provider.',
      });
    }
    if (req.method === 'GET') {
      const meta = await provider.discovery.get();
      const back = safeRedirectTarget(req.originalUrl, { baseUrl: config.baseUrl, allowedHosts: [] });
      const url = await beginAuthorization(req, services, meta, { next: back, silent: true });
      res.set('cache-control', 'no-store');
      sendRedirect(res, 302, url);
      return;
    }
    // Other methods (a form POST) cannot survive a redirect round trip: let them through.
    continueWithContext(req, context, next);
  });

  return (req, res, next) => {
    // A Bearer (or DPoP) header never makes a session more trusted: a request that carries a session is
    // checked exactly as it would be without the header (a stolen cookie plus a junk header must
    // not skip refresh, re-authentication or the end of a dead session). bearerAuth on the route
    // then lets the token alone decide. Only an API without express-session is passed through.
    if ((req as { session?: unknown }).session === undefined && accessTokenScheme(req.headers.authorization) !== undefined) return next();
    let auth: AuthenticatedSession | undefined;
    try {
      auth = readOidcData(req)?.auth;
    } catch (err) {
      return next(err); // no express-session
    }
    // Hot path, synchronous: unauthenticated, a token that is still valid, or exempt. The exempt
    // check last: it reads and cuts the URL, which a valid token makes needless.
    const now = Math.floor(Date.now() / 1000);
    const fresh =
      !auth ||
      (auth.refreshToken !== undefined
        ? !refreshDue(auth.accessTokenExpiresAt, auth.tokensObtainedAt, config.refreshLeewaySeconds, now)
        : now < auth.renewAt) ||
      isExempt(requestPath(req));
    if (fresh) return continueWithContext(req, context, next);
    renew(req, res, next);
  };
}
