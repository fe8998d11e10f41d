/**
 * Login: start an authorization code flow (OIDC Core 3.1.2) for this browser tab.
 */
import type { Request, RequestHandler } from 'express';
import type { Runtime } from '../runtime.js';
import { asyncHandler } from '../middleware/async-handler.js';
import { buildAuthorizationUrl, randomToken } from '../protocol/authorization-request.js';
import type { ProviderMetadata } from '../protocol/discovery.js';
import { addPendingLogin, requireSession, saveSession } from '../session/session-data.js';
import { safeRedirectTarget } from '../redirect-target.js';

export interface BeginOptions {
  next: string | undefined;
  /** Silent re-authentication (prompt=none), see OIDC Core 3.1.2.1. */
  silent?: boolean;
}

/**
 * Make fresh state, nonce and PKCE verifier, remember them in the session bound to this issuer
 * and redirect_uri, save the session, and return the authorization URL.
 */
export async function beginAuthorization(req: Request, rt: Runtime, meta: ProviderMetadata, opts: BeginOptions): Promise<string> {
  const { config } = rt;
  const state = randomToken();
  const nonce = config.useNonce ? randomToken() : undefined;
  const codeVerifier = config.usePkce ? randomToken() : undefined;
  addPendingLogin(
    req,
    state,
    { nonce, codeVerifier, issuer: meta.issuer, redirectUri: config.redirectUri, next: opts.next, createdAt: Date.now(), silent: opts.silent || undefined },
    config.maxStates,
    config.stateTtlSeconds * 1000,
  );
  // Persist before the browser leaves: the callback may arrive before express-session's own
  // end-of-response save would have finished.
  await saveSession(req);
  return buildAuthorizationUrl({
    authorizationEndpoint: meta.authorizationEndpoint,
    clientId: config.clientId,
    redirectUri: config.redirectUri,
    scopes: config.scopes,
    state,
    nonce,
    codeVerifier,
    extraParams: opts.silent ? { ...config.authRequestExtraParams, prompt: 'none' } : config.authRequestExtraParams,
  });
}

/** GET routes.login: start a login; `?next=` is kept only when safe. */
export function loginHandler(rt: Runtime): RequestHandler {
  return asyncHandler(async (req, res) => {
    requireSession(req);
    const meta = await rt.discovery.get().catch((err: unknown) => {
      rt.config.logger.warn('login cannot start: provider metadata unavailable', { code: (err as { code?: string }).code, reason: (err as Error).message });
      throw err;
    });
    const next = safeRedirectTarget(req.query.next, { baseUrl: rt.config.baseUrl, allowedHosts: rt.config.redirectAllowedHosts });
    if (req.query.next !== undefined && next === undefined) {
      rt.config.logger.warn('ignoring unsafe "next" redirect target', { next: String(req.query.next).slice(0, 200) });
    }
    const url = await beginAuthorization(req, rt, meta, { next });
    res.set('cache-control', 'no-store');
    res.redirect(302, url);
  });
}
