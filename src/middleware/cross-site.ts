/**
 * Is a state-changing request coming from another site? Used by the logout route (logout CSRF).
 *
 * Browsers tell: Fetch Metadata's `Sec-Fetch-Site` (W3C Fetch Metadata Request Headers 2.1.3), and
 * `Origin` on every POST (RFC 6454 7; the Fetch standard sends it for non-GET requests), else the
 * `Referer`. A request with none of them is not from a modern browser (curl, a server, a test
 * client): it cannot carry a victim's cookies by CSRF, so it passes.
 */
import type { Request } from 'express';

/** Why the request is cross-site, or undefined when it is same-origin or says nothing. Pure on the headers. */
export function crossSiteReason(req: Pick<Request, 'get'>, appOrigin: string): string | undefined {
  const fetchSite = req.get('sec-fetch-site');
  if (fetchSite !== undefined && fetchSite.toLowerCase() === 'cross-site') return 'Sec-Fetch-Site: cross-site';
  const origin = req.get('origin');
  if (origin !== undefined) {
    // "null" (sandboxed frames, privacy-sensitive redirects) is never the app's origin.
    return origin === appOrigin ? undefined : `Origin ${origin.slice(0, 200)} is not ${appOrigin}`;
  }
  const referer = req.get('referer');
  if (referer !== undefined) {
    const from = URL.canParse(referer) ? new URL(referer).origin : undefined;
    return from === appOrigin ? undefined : `Referer from ${from ?? 'an unparseable URL'} is not ${appOrigin}`;
  }
  return undefined;
}
