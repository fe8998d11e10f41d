/**
 * requireAuth(): let authenticated requests through; send page requests to login (coming back to
 * the same URL) and answer JSON requests with 401, since an XHR cannot follow a login redirect.
 */
import type { RequestHandler } from 'express';
import type { Runtime } from '../runtime.js';
import { asyncHandler } from './async-handler.js';
import { attachContext } from '../session/context.js';

// Reserved for the guards of the next milestone (scopes, claims); empty today.
export type RequireAuthOptions = Record<string, never>;

export function requireAuth(rt: Runtime, _opts: RequireAuthOptions = {}): RequestHandler {
  return asyncHandler(async (req, res, next) => {
    const ctx = await attachContext(req, rt);
    if (ctx.isAuthenticated()) return next();
    const loginUrl = `${rt.loginPath}?next=${encodeURIComponent(req.originalUrl)}`;
    if (rt.wantsJson(req)) {
      res.status(401).set('cache-control', 'no-store').json({ error: 'unauthenticated', error_description: 'Authentication required', login_url: loginUrl });
      return;
    }
    res.redirect(302, loginUrl);
  });
}
