/**
 * sessionRefresh: makes req.oidc / req.user available on every request of a session.
 */
import type { RequestHandler } from 'express';
import type { Runtime } from '../runtime.js';
import { asyncHandler } from './async-handler.js';
import { attachContext } from '../session/context.js';

export function sessionRefresh(rt: Runtime): RequestHandler {
  return asyncHandler(async (req, _res, next) => {
    await attachContext(req, rt);
    next();
  });
}
