/**
 * OAuth 2.0 access tokens on the wire: reading the Authorization header (RFC 6750 2.1 `Bearer`,
 * RFC 9449 7.1 `DPoP`), the `WWW-Authenticate` challenges of both schemes, and the one way this
 * library reads granted scopes.
 * Pure and framework-free: middleware/bearer-auth.ts and middleware/responses.ts use it.
 */

// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// RFC 6750 3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export type BearerCredentials = { kind: 'none' } | { kind: 'malformed'; reason: string } | { kind: 'token'; token: string };

/** The schemes an access token is presented with: RFC 6750 `Bearer`, RFC 9449 `DPoP`. */
export type TokenScheme = 'Bearer' | 'DPoP';

export type AccessTokenCredentials =
  | { kind: 'none' }
  | { kind: 'malformed'; scheme: TokenScheme; reason: string }
  | { kind: 'token'; scheme: TokenScheme; token: string };

const SCHEMES: Record<string, TokenScheme> = { bearer: 'Bearer', dpop: 'DPoP' };

/**
 * The access token of the Authorization header and its scheme: `Bearer` (RFC 6750 2.1) or `DPoP`
 * (RFC 9449 7.1, whose token68 syntax is RFC 6750's b64token). Schemes are case-insensitive
 * (RFC 9110 11.1). Any other scheme (Basic...) is no access token: `none`.
 */
export function readAccessToken(header: string | undefined): AccessTokenCredentials {
  if (header === undefined || header.trim() === '') return { kind: 'none' };
  const value = header.trim();
  const space = value.search(/\s/);
  const scheme = SCHEMES[(space === -1 ? value : value.slice(0, space)).toLowerCase()];
  if (scheme === undefined) return { kind: 'none' };
  const token = space === -1 ? '' : value.slice(space).trim();
  if (token === '') return { kind: 'malformed', scheme, reason: `the ${scheme} authorization header has no token` };
  if (!B64TOKEN.test(token)) return { kind: 'malformed', scheme, reason: `the ${scheme} access token has characters RFC 6750 / RFC 9449 do not allow` };
  return { kind: 'token', scheme, token };
}

/** The bearer token of the Authorization header (RFC 6750 2.1); a DPoP token is no bearer token. */
export function readBearerToken(header: string | undefined): BearerCredentials {
  const creds = readAccessToken(header);
  if (creds.kind === 'none' || creds.scheme !== 'Bearer') return { kind: 'none' };
  return creds.kind === 'malformed' ? { kind: 'malformed', reason: creds.reason } : { kind: 'token', token: creds.token };
}

/** The request carries `Authorization: Bearer ...` (an API request, whatever the token is worth). */
export function hasBearerScheme(authorization: string | undefined): boolean {
  return /^bearer\s/i.test(authorization ?? '');
}

/**
 * The scheme of an access token in the Authorization header (`Bearer` or `DPoP`), whatever the
 * token is worth; undefined for anything else.
 */
export function accessTokenScheme(authorization: string | undefined): TokenScheme | undefined {
  const m = /^(bearer|dpop)\s/i.exec(authorization ?? '');
  return m ? SCHEMES[(m[1] as string).toLowerCase()] : undefined;
}

/** A valid RFC 6749 3.3 / RFC 6750 3 scope token. */
export function isScopeToken(scope: string): boolean {
  return SCOPE_TOKEN.test(scope);
}

/**
 * The scopes in claim-like values, merged: space-separated strings (the token response `scope`,
 * RFC 6749 5.1; the `scope` claim, RFC 9068 2.2.3 / RFC 8693 4.2) and arrays (Okta's and Entra's
 * `scp`). Every place that reads scopes (sessions, bearer tokens, claimIncludes) uses this.
 */
export function parseScopes(...values: unknown[]): string[] {
  const out = new Set<string>();
  for (const value of values) {
    const list = typeof value === 'string' ? value.split(/\s+/) : Array.isArray(value) ? value : [];
    for (const s of list) if (typeof s === 'string' && s !== '') out.add(s);
  }
  return [...out];
}

/** Scopes granted to a token: its `scope` and `scp` claims, merged. */
export function tokenScopes(claims: Record<string, unknown>): Set<string> {
  return new Set(parseScopes(claims.scope, claims.scp));
}

/**
 * Text safe inside an auth-param quoted-string (RFC 6750 3: error_description and scope use only
 * %x20-21 / %x23-5B / %x5D-7E: no double quote, no backslash, ASCII only).
 */
export function challengeText(value: string): string {
  return value.replace(/"/g, "'").replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, ' ');
}

const quoted = (value: string): string => `"${challengeText(value)}"`;

/**
 * One `WWW-Authenticate` challenge with the realm and optional attributes: RFC 6750 3 for
 * `Bearer`; RFC 9449 7.1 for `DPoP`, which takes the same attributes plus `algs`.
 */
export function authChallenge(scheme: TokenScheme, realm: string, params: Record<string, string> = {}): string {
  return [scheme, [`realm=${quoted(realm)}`, ...Object.entries(params).map(([k, v]) => `${k}=${quoted(v)}`)].join(', ')].join(' ');
}

/** RFC 6750 3: a `WWW-Authenticate: Bearer` challenge with the realm and optional attributes. */
export function bearerChallenge(realm: string, params: Record<string, string> = {}): string {
  return authChallenge('Bearer', realm, params);
}
