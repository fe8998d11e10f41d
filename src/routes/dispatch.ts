/**
 * oidc.router: the library's routes and sessionRefresh as ONE middleware. Every request of the app
 * passes through it, so it does a set lookup (and, for one of its own paths, a map lookup) instead
 * of walking an Express Router's layers (matching the same rules: method, HEAD as GET,
 * case-insensitive path, optional trailing slash).
 */
import type { Request, RequestHandler } from 'express';

export type RouteTable = Array<[method: 'GET' | 'POST', path: string, handler: RequestHandler]>;

/** The table's key: the method and the path, already lowercased. */
const key = (method: string, lowerPath: string) => `${method} ${lowerPath}`;

/** What makes parseurl (behind req.path) parse a URL fully rather than cut it at the `?`. */
const NOT_PLAIN = /[\t\n\f\r #\u00a0\ufeff]/;

/**
 * The request's path, as req.path gives it (the part of req.url before the query): cut out of
 * req.url directly when it is a plain origin-form target (RFC 9112 3.2.1), the form browsers
 * send, which saves Express' getter and parseurl's property reads on every request of the app.
 * Anything else (an absolute-form target, a `#` or whitespace) goes through req.path.
 */
function pathOf(req: Request): string {
  const url = req.url;
  if (url.charCodeAt(0) !== 0x2f /* / */ || NOT_PLAIN.test(url)) return req.path;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function routeDispatcher(routes: RouteTable, otherwise: RequestHandler): RequestHandler {
  const table = new Map(routes.map(([method, path, handler]) => [key(method, path.toLowerCase()), handler]));
  const paths = new Set(routes.map(([, path]) => path.toLowerCase()));
  return (req, res, next) => {
    let path = pathOf(req);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    path = path.toLowerCase();
    // Most requests of an app are not for the library's routes: they go on without req.method
    // being read (one property read less on Express' request object, see pathOf).
    if (!paths.has(path)) return otherwise(req, res, next);
    const method = req.method;
    const handler = table.get(key(method === 'HEAD' ? 'GET' : method, path));
    (handler ?? otherwise)(req, res, next);
  };
}
