/**
 * Logout: destroy the local session, revoke its tokens (RFC 7009), and end the provider session
 * (RP-Initiated Logout 1.0) or go to the app's LOGOUT_REDIRECT_URL.
 *
 * POST only by default: a GET logout can be triggered by any page with an <img> (logout CSRF,
 * mozilla-django-oidc 0.3.0).
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Runtime } from '../runtime.js';
import { asyncHandler } from '../middleware/async-handler.js';
import { readOidcData, regenerateSession, requireSession, saveSession, writeOidcData, type AuthenticatedSession } from '../session/session-data.js';
import { setContext } from '../session/context.js';
import { revokeToken, type RevocableTokenType } from '../protocol/revocation.js';
import { buildEndSessionUrl } from '../protocol/end-session.js';
import type { ProviderMetadata } from '../protocol/discovery.js';

/** Revoke the session's tokens, in parallel, bounded by OIDC_TIMEOUT; failures are logged only. */
async function revokeSessionTokens(rt: Runtime, meta: ProviderMetadata, auth: AuthenticatedSession): Promise<void> {
  const endpoint = meta.revocationEndpoint;
  if (!endpoint) return;
  const tokens: Array<[string | undefined, RevocableTokenType]> = [
    // Refresh token first in intent: revoking it also ends its access tokens at most providers.
    [auth.refreshToken, 'refresh_token'],
    [auth.accessToken, 'access_token'],
  ];
  const results = await Promise.allSettled(
    tokens.filter(([t]) => t !== undefined).map(([token, hint]) => revokeToken(rt.http, endpoint, rt.creds, token as string, hint)),
  );
  for (const r of results) {
    if (r.status === 'rejected') rt.config.logger.warn('token revocation failed; logging out anyway', { reason: String((r.reason as Error)?.message ?? r.reason) });
  }
}

async function logoutTarget(rt: Runtime, req: Request, meta: ProviderMetadata | undefined, auth: AuthenticatedSession | undefined): Promise<string> {
  const { config } = rt;
  const endSessionUrl =
    config.providerLogout && meta?.endSessionEndpoint && auth
      ? buildEndSessionUrl({
          endSessionEndpoint: meta.endSessionEndpoint,
          clientId: config.clientId,
          idTokenHint: auth.idToken,
          postLogoutRedirectUri: rt.absoluteUrl(config.logoutRedirectUrl),
        })
      : undefined;
  const fromHook = config.hooks.getLogoutUrl
    ? await config.hooks.getLogoutUrl({ req, idToken: auth?.idToken, claims: auth?.claims, endSessionUrl })
    : undefined;
  return fromHook ?? endSessionUrl ?? config.logoutRedirectUrl;
}

/** routes.logout: POST (and GET when ALLOW_LOGOUT_GET_METHOD), and what GET answers otherwise. */
export function logoutHandlers(rt: Runtime): { post: RequestHandler; get: RequestHandler } {
  const { config } = rt;
  const handler = asyncHandler(async (req: Request, res: Response) => {
    requireSession(req);
    const auth = readOidcData(req)?.auth;
    const sessionId = (req as { sessionID?: string }).sessionID;
    // Never let a provider outage block logout: use metadata we have, or try once, bounded by the timeout.
    const meta = rt.discovery.peek() ?? (auth ? await rt.discovery.get().catch(() => undefined) : undefined);

    // Not just destroy: a request of this session still in flight would write its copy back under
    // the same id when it ends, logging the user in again. A fresh session id, saved (the marker
    // makes it non-empty) so the browser gets its cookie, leaves that write-back unreachable.
    await regenerateSession(req);
    writeOidcData(req, { loggedOutAt: Math.floor(Date.now() / 1000) });
    await saveSession(req);
    setContext(req, undefined, undefined);
    let ended = auth;
    if (auth) {
      // The shared token set is authoritative: the session copy may hold a rotated-away refresh
      // token, and it holds the ID token (for id_token_hint) only with OIDC_STORE_ID_TOKEN.
      const stored = await rt.tokens.read(auth.loginId).catch(() => undefined);
      if (stored && !stored.set.ended) {
        const { refreshToken, accessToken, idToken } = stored.set;
        ended = { ...auth, refreshToken: refreshToken ?? auth.refreshToken, accessToken: accessToken ?? auth.accessToken, idToken: idToken ?? auth.idToken };
      }
      // A tombstone, not a delete: a resurrected copy of this session then ends at its next refresh
      // instead of presenting its revoked refresh token.
      if (sessionId) await rt.index.remove(auth.iss, auth.sub, auth.sid, { sessionId, loginId: auth.loginId }).catch(() => undefined);
      await rt.tokens.end(auth.loginId).catch((err: unknown) => {
        config.logger.warn('could not mark the login ended at logout', { reason: (err as Error)?.message });
      });
      if (meta && config.revokeTokensOnLogout) await revokeSessionTokens(rt, meta, ended as AuthenticatedSession);
    }
    const target = await logoutTarget(rt, req, meta, ended);
    res.set('cache-control', 'no-store');
    // 303: the browser follows a POST with a GET.
    res.redirect(req.method === 'POST' ? 303 : 302, target);
  });

  const refuseGet: RequestHandler = (_req, res) => {
    res.set('allow', 'POST').status(405).type('text/plain').send('Logout needs a POST request (ALLOW_LOGOUT_GET_METHOD is off).');
  };
  return { post: handler, get: config.allowLogoutGetMethod ? handler : refuseGet };
}
