/**
 * Which redirects a request to the provider may follow. Pure: the HTTP client (http/client.ts)
 * does the I/O and asks this module, hop by hop, where to go next.
 *
 * undici's `request` never follows redirects, and most provider calls must not: a token or
 * revocation request that a redirect could send elsewhere would carry the client secret along.
 * Requests that opt in (discovery, behind Django's APPEND_SLASH 301 for one) are followed only
 * within the origin of the URL first requested, so a redirect cannot move a request to another
 * host, port or scheme, and never from https down to http.
 */
import { OidcError } from '../errors.js';

/** RFC 9110 15.4: the redirect statuses that carry a Location to repeat the request at. */
const FOLLOWED_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export function isFollowedRedirect(status: number): boolean {
  return FOLLOWED_STATUSES.has(status);
}

export interface RedirectHop {
  /** The URL first requested: every hop must stay on its origin. */
  first: string;
  /** The URL that answered with the redirect. */
  from: string;
  status: number;
  /** The Location header, undefined when absent. */
  location: string | undefined;
  /** Redirects already followed before this one. */
  followed: number;
  /** Most redirects a request may follow. */
  max: number;
}

function refused(hop: RedirectHop, why: string): OidcError {
  return new OidcError('OIDC_HTTP_STATUS', `${hop.from} answered HTTP ${hop.status}, ${why}`, { status: hop.status });
}

/**
 * The absolute URL to follow a redirect response to. Throws OidcError('OIDC_HTTP_STATUS') naming
 * the URL and the rule when the redirect may not be followed.
 */
export function redirectTarget(hop: RedirectHop): string {
  if (hop.followed >= hop.max) {
    throw refused(hop, `a redirect after ${hop.followed} already followed; at most ${hop.max} redirects are followed`);
  }
  if (hop.location === undefined || hop.location.trim() === '') {
    throw refused(hop, 'a redirect without a Location header; only a redirect naming its target can be followed (RFC 9110 10.2.2)');
  }
  // RFC 9110 10.2.2: a relative Location is resolved against the URL that answered.
  const target = URL.canParse(hop.location, hop.from) ? new URL(hop.location, hop.from) : undefined;
  if (target === undefined) {
    throw refused(hop, `a redirect to an invalid Location "${hop.location}"`);
  }
  const first = new URL(hop.first);
  if (first.protocol === 'https:' && target.protocol === 'http:') {
    throw refused(hop, `a redirect to ${target.href}; a redirect from https to http is never followed`);
  }
  if (target.origin !== first.origin) {
    throw refused(hop, `a redirect to ${target.href}; only redirects on the origin ${first.origin} are followed, never to another origin`);
  }
  return target.href;
}
