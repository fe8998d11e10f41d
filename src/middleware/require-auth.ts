/**
 * requireAuth(): let authenticated requests through; send page requests to login (coming back to
 * the same URL) and answer JSON requests with 401, since an XHR cannot follow a login redirect.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Runtime } from '../runtime.js';
import { continueWithContext } from '../session/context.js';

// Reserved for the guards of the next milestone (scopes, claims); empty today.
export type RequireAuthOptions = Record<string, never>;

export function requireAuth(rt: Runtime, _opts: RequireAuthOptions = {}): RequestHandler {
  const deny = (req: Request, res: Response): void => {
    const loginUrl = `${rt.loginPath}?next=${encodeURIComponent(req.originalUrl)}`;
    if (rt.wantsJson(req)) {
      res.status(401).set('cache-control', 'no-store').json({ error: 'unauthenticated', error_description: 'Authentication required', login_url: loginUrl });
      return;
    }
    res.redirect(302, loginUrl);
  };
  return (req, res, next) => {
    continueWithContext(req, rt, (err) => {
      if (err) next(err);
      else if (req.oidc.isAuthenticated()) next();
      else deny(req, res);
    });
  };
}
