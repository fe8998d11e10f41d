/**
 * Where a browser may be sent after login (`next`): local paths of this app, or absolute URLs on
 * hosts listed in OIDC_REDIRECT_ALLOWED_HOSTS. Everything else is dropped, never "fixed up".
 *
 * The attacks this stops (docs/design.md "Redirect targets"): protocol-relative `//evil.com` and
 * `///evil.com` (express-openid-connect GHSA-7p99-3798-f85c; RFC 9700 4.11, open redirection), `/\evil.com` (browsers treat `\` as
 * `/`), percent-encoded variants a proxy might decode once, control characters browsers strip
 * (`/\t/evil.com`), and `javascript:`/`data:` schemes.
 */

export interface RedirectPolicy {
  /** The app's base URL (origin + optional path prefix). */
  baseUrl: string;
  /** Extra allowed hosts, lower-case, with optional port ("app.example.com", "localhost:3000"). */
  allowedHosts: string[];
}

// C0 controls, DEL, and backslash: none belongs in a redirect target we accept.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's job
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

function decodeRepeatedly(value: string): string {
  let current = value;
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return current;
    }
    if (next === current) break;
    current = next;
  }
  return current;
}

/**
 * The path + query + fragment of a same-origin URL, or undefined if that string would itself
 * leave the origin. URL parsing removes dot segments, so `/.//evil.com` parses to the path
 * `//evil.com`, which a browser reads as a protocol-relative URL: check the result, not the input.
 */
function sameOriginPath(url: URL, base: URL): string | undefined {
  const target = url.pathname + url.search + url.hash;
  if (target.startsWith('//') || target.includes('\\')) return undefined;
  return new URL(target, base.origin).origin === base.origin ? target : undefined;
}

/**
 * Returns the target to redirect to, or undefined when `raw` is not safe. Local paths come back
 * as path + query + fragment relative to the app's origin.
 */
export function safeRedirectTarget(raw: unknown, policy: RedirectPolicy): string | undefined {
  if (typeof raw !== 'string' || raw === '' || raw.length > 2048) return undefined;
  // Check the raw value and its decoded forms: what a proxy or framework decodes must be safe too.
  const decoded = decodeRepeatedly(raw);
  for (const v of [raw, decoded]) {
    if (FORBIDDEN.test(v)) return undefined;
  }
  const base = new URL(policy.baseUrl);

  if (raw.startsWith('/')) {
    if (raw.startsWith('//') || decoded.startsWith('//')) return undefined;
    let url: URL;
    try {
      url = new URL(raw, base.origin);
    } catch {
      return undefined;
    }
    if (url.origin !== base.origin) return undefined;
    return sameOriginPath(url, base);
  }

  // Absolute URL: only http(s) to our own origin or an allowed host.
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username || url.password) return undefined;
  if (url.origin === base.origin) return sameOriginPath(url, base);
  const host = url.host.toLowerCase();
  if (policy.allowedHosts.includes(host) || policy.allowedHosts.includes(url.hostname.toLowerCase())) {
    // An allowed host still needs https unless the app itself runs on plain http (development).
    if (url.protocol === 'http:' && base.protocol === 'https:') return undefined;
    return url.toString();
  }
  return undefined;
}
