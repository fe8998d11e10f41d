/**
 * Logout: destroy the local session, revoke its tokens (RFC 7009), and end the provider session
 * (RP-Initiated Logout 1.0) or go to the app's LOGOUT_REDIRECT_URL.
 *
 * POST only by default: a GET logout can be triggered by any page with an <img> (logout CSRF,
 * mozilla-django-oidc 0.3.0).
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Services } from '../session/services.js';
import { absoluteUrl, sendRedirect, wantsJson } from '../middleware/responses.js';
import { asyncHandler } from '../middleware/async-handler.js';
import { readOidcData, regenerateSession, requireSession, saveRegeneratedSession, writeOidcData, type AuthenticatedSession } from '../session/session-data.js';
import { setContext } from '../session/context.js';
import { endLogin } from '../session/end-login.js';
import { crossSiteReason } from '../middleware/cross-site.js';
import { buildEndSessionUrl } from '../protocol/end-session.js';
import type { ProviderMetadata } from '../protocol/discovery.js';

async function logoutTarget(
  config: Services['config'],
  req: Request,
  meta: ProviderMetadata | undefined,
  auth: AuthenticatedSession | undefined,
): Promise<string> {
  const endSessionUrl =
    config.providerLogout && meta?.endSessionEndpoint && auth
      ? buildEndSessionUrl({
          endSessionEndpoint: meta.endSessionEndpoint,
          clientId: config.clientId,
          idTokenHint: auth.idToken,
          postLogoutRedirectUri: absoluteUrl(config.baseUrl, config.logoutRedirectUrl),
        })
      : undefined;
  const fromHook = config.hooks.getLogoutUrl
    ? await config.hooks.getLogoutUrl({ req, idToken: auth?.idToken, claims: auth?.claims, endSessionUrl })
    : undefined;
  return fromHook ?? endSessionUrl ?? config.logoutRedirectUrl;
}

/** routes.logout: POST (and GET when ALLOW_LOGOUT_GET_METHOD), and what GET answers otherwise. */
export function logoutHandlers(deps: Pick<Services, 'config' | 'provider' | 'stores' | 'dpopKeys'>): { post: RequestHandler; get: RequestHandler } {
  const { config, provider } = deps;
  const appOrigin = new URL(config.baseUrl).origin;
  const handler = asyncHandler(async (req: Request, res: Response) => {
    // Logout CSRF: a cross-site form POST (cookies ride along for two minutes after login under
    // Chrome's Lax-by-default, always with SameSite=None) would end the app session and the
    // provider's. Browsers say where a request comes from; clients that say nothing pass.
    const crossSite = crossSiteReason(req, appOrigin);
    if (crossSite) {
      config.logger.warn('cross-site logout refused', { reason: crossSite });
      res.status(403).set('cache-control', 'no-store');
      if (wantsJson(req)) res.json({ error: 'cross_site_request', error_description: 'Logout must come from this site.' });
      else res.type('text/plain').send('Logout must come from this site.');
      return;
    }
    requireSession(req);
    const auth = readOidcData(req)?.auth;
    if (!auth) {
      // Nothing to end: touch no session, so an anonymous request stores nothing.
      res.set('cache-control', 'no-store');
      sendRedirect(res, req.method === 'POST' ? 303 : 302, await logoutTarget(config, req, undefined, undefined));
      return;
    }
    const sessionId = (req as { sessionID?: string }).sessionID;
    // Never let a provider outage block logout: use metadata we have, or try once, bounded by the timeout.
    const meta = provider.discovery.peek() ?? (await provider.discovery.get().catch(() => undefined));

    // Not just destroy: a request of this session still in flight would write its copy back under
    // the same id when it ends, logging the user in again. A fresh session id, saved (the marker
    // makes it non-empty) so the browser gets its cookie, leaves that write-back unreachable.
    await regenerateSession(req);
    writeOidcData(req, { loggedOutAt: Math.floor(Date.now() / 1000) });
    await saveRegeneratedSession(req);
    setContext(req, undefined, undefined);
    const ended = await endLogin(deps, auth, { sessionId, meta, revoke: config.revokeTokensOnLogout });
    const target = await logoutTarget(config, req, meta, ended);
    res.set('cache-control', 'no-store');
    // 303: the browser follows a POST with a GET.
    sendRedirect(res, req.method === 'POST' ? 303 : 302, target);
  });

  const refuseGet: RequestHandler = (_req, res) => {
    res.set('allow', 'POST').status(405).type('text/plain').send('Logout needs a POST request (ALLOW_LOGOUT_GET_METHOD is off).');
  };
  return { post: handler, get: config.allowLogoutGetMethod ? handler : refuseGet };
}
