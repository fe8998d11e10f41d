/**
 * Logout Token validation: OpenID Connect Back-Channel Logout 1.0, section 2.6.
 *
 * The token arrives from anyone who can reach the endpoint, so every check the spec lists is made,
 * and the signature is always verified through the same keys as ID tokens (never `alg: none`).
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { OidcError, isOidcError } from '../errors.js';
import type { KeyResolver } from '../keys/jwks.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * How old a logout token without `exp` may be (section 2.6 step 3 lets the RP bound `iat` as for
 * ID tokens). Without a bound such a token would never expire, and its jti cannot be remembered
 * forever: a replay an hour later would end the user's newer sessions.
 */
export const LOGOUT_TOKEN_MAX_AGE_SECONDS = 300;

export interface LogoutTokenExpectations {
  issuer: string | undefined;
  clientId: string;
  clockTolerance: number;
  now?: number;
}

export interface LogoutTokenClaims extends JWTPayload {
  iss: string;
  jti: string;
  iat: number;
  sub?: string;
  sid?: string;
}

const invalid = (why: string, cause?: unknown): never => {
  throw new OidcError('OIDC_LOGOUT_TOKEN_INVALID', `logout token rejected: ${why}`, cause === undefined ? {} : { cause });
};

/** The claim checks of section 2.6 (steps 3 to 7). Pure. */
export function checkLogoutTokenClaims(claims: JWTPayload, exp: LogoutTokenExpectations): LogoutTokenClaims {
  const now = exp.now ?? Math.floor(Date.now() / 1000);
  const tol = exp.clockTolerance;
  // Step 3: iss, aud and iat as for ID tokens (OIDC Core 3.1.3.7 steps 2, 3, 10), exp if present.
  if (typeof claims.iss !== 'string') invalid('missing "iss"');
  if (exp.issuer !== undefined && claims.iss !== exp.issuer) invalid(`"iss" ${String(claims.iss)} is not ${exp.issuer}`);
  const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!Array.isArray(aud) || !aud.includes(exp.clientId)) invalid('"aud" does not contain the client id');
  if (typeof claims.iat !== 'number') invalid('missing "iat"');
  if ((claims.iat as number) > now + tol) invalid('"iat" is in the future');
  if (typeof claims.exp === 'number') {
    if (claims.exp <= now - tol) invalid('"exp" is in the past');
  } else if ((claims.iat as number) < now - LOGOUT_TOKEN_MAX_AGE_SECONDS - tol) {
    invalid(`no "exp" and "iat" is older than ${LOGOUT_TOKEN_MAX_AGE_SECONDS} s`);
  }
  // Step 4: a sub, a sid, or both.
  const sub = claims.sub;
  const sid = (claims as { sid?: unknown }).sid;
  if (sub !== undefined && (typeof sub !== 'string' || sub === '')) invalid('invalid "sub"');
  if (sid !== undefined && (typeof sid !== 'string' || sid === '')) invalid('invalid "sid"');
  if (sub === undefined && sid === undefined) invalid('neither "sub" nor "sid"');
  // Step 5: events contains the back-channel logout member, whose value is a JSON object.
  const events = (claims as { events?: unknown }).events;
  const event = typeof events === 'object' && events !== null ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) invalid(`"events" has no ${BACKCHANNEL_LOGOUT_EVENT} object`);
  // Step 6: no nonce (an ID token must never pass as a logout token, nor the reverse).
  if ('nonce' in claims) invalid('it contains a "nonce"');
  // Section 2.4: jti is REQUIRED (replay detection, step 7, is done by the caller with a store).
  if (typeof claims.jti !== 'string' || claims.jti === '') invalid('missing "jti"');
  return claims as LogoutTokenClaims;
}

/** Steps 1-2 (signature, algorithm, type) with jose, then checkLogoutTokenClaims. */
export async function validateLogoutToken(
  token: string,
  opts: LogoutTokenExpectations & { algorithms: string[]; getKey: KeyResolver },
): Promise<LogoutTokenClaims> {
  // Step 1: encrypted logout tokens would need a key of ours; we register none.
  const parts = token.split('.');
  if (parts.length !== 3) invalid(parts.length === 5 ? 'encrypted logout tokens are not supported' : 'not a JWT');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (err) {
    return invalid('malformed header', err);
  }
  // Section 2.4 recommends typ "logout+jwt"; providers that predate it send "JWT" or nothing.
  // Any other type (at+jwt, ...) is a different kind of token and is refused.
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (typ !== undefined && typ !== 'logout+jwt' && typ !== 'jwt') invalid(`unexpected typ "${String(header.typ)}"`);
  const algorithms = opts.algorithms.filter((a) => a !== 'none');
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) invalid(`algorithm "${String(header.alg)}" is not allowed`);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, opts.getKey, {
      algorithms,
      clockTolerance: opts.clockTolerance,
      ...(opts.now !== undefined ? { currentDate: new Date(opts.now * 1000) } : {}),
    }));
  } catch (err) {
    if (isOidcError(err)) throw err; // JWKS unreachable: not the token's fault
    if (err instanceof joseErrors.JWKSTimeout) throw new OidcError('OIDC_HTTP_TIMEOUT', 'JWKS fetch timed out', { cause: err });
    return invalid(err instanceof Error ? err.message : String(err), err);
  }
  return checkLogoutTokenClaims(payload, opts);
}
