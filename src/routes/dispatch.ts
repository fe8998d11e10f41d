/**
 * oidc.router: the library's routes and sessionRefresh as ONE middleware. Every request of the app
 * passes through it, so it does one map lookup instead of walking an Express Router's layers
 * (matching the same rules: method, HEAD as GET, case-insensitive path, optional trailing slash).
 */
import type { RequestHandler } from 'express';

export type RouteTable = Array<[method: 'GET' | 'POST', path: string, handler: RequestHandler]>;

const key = (method: string, path: string) => `${method} ${path.toLowerCase()}`;

export function routeDispatcher(routes: RouteTable, otherwise: RequestHandler): RequestHandler {
  const table = new Map(routes.map(([method, path, handler]) => [key(method, path), handler]));
  return (req, res, next) => {
    let path = req.path;
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const handler = table.get(key(req.method === 'HEAD' ? 'GET' : req.method, path));
    (handler ?? otherwise)(req, res, next);
  };
}
