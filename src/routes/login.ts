/**
 * Login: start an authorization code flow (OIDC Core 3.1.2) for this browser tab.
 */
import type { RequestHandler } from 'express';
import type { Services } from '../session/services.js';
import { asyncHandler } from '../middleware/async-handler.js';
import { sendRedirect } from '../middleware/responses.js';
import { requireSession } from '../session/session-data.js';
import { beginAuthorization } from '../session/authorization.js';
import { safeRedirectTarget } from '../protocol/redirect-target.js';

/** GET routes.login: start a login; `?next=` is kept only when safe. */
export function loginHandler(deps: Pick<Services, 'config' | 'provider' | 'dpopKeys'>): RequestHandler {
  const { config, provider } = deps;
  return asyncHandler(async (req, res) => {
    requireSession(req);
    const meta = await provider.discovery.get().catch((err: unknown) => {
      config.logger.warn('login cannot start: provider metadata unavailable', { code: (err as { code?: string }).code, reason: (err as Error).message });
      throw err;
    });
    const next = safeRedirectTarget(req.query.next, { baseUrl: config.baseUrl, allowedHosts: config.redirectAllowedHosts });
    if (req.query.next !== undefined && next === undefined) {
      config.logger.warn('ignoring unsafe "next" redirect target', { next: String(req.query.next).slice(0, 200) });
    }
    const url = await beginAuthorization(req, deps, meta, { next });
    res.set('cache-control', 'no-store');
    sendRedirect(res, 302, url);
  });
}
