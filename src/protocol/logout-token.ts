/**
 * Logout Token validation: OpenID Connect Back-Channel Logout 1.0, section 2.6.
 *
 * The token arrives from anyone who can reach the endpoint, so every check the spec lists is made,
 * and the signature is always verified through the same keys as ID tokens (never `alg: none`).
 */
import type { JWTPayload } from 'jose';
import { OidcError } from '../errors.js';
import { LOGOUT_TOKEN_ERRORS, verifyJwt } from './jwt-verification.js';
import { issuerProblem, type IssuerExpectation } from './issuer.js';
import type { KeyResolver } from '../keys/jwks.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export interface LogoutTokenExpectations extends IssuerExpectation {
  issuer: string | undefined;
  clientId: string;
  clockTolerance: number;
  /**
   * OIDC_LOGOUT_TOKEN_MAX_AGE_SECONDS: how old (by `iat`) a logout token may be, whatever its
   * `exp`. Section 2.6 step 3 validates `iat` as OIDC Core 3.1.3.7 step 10 does, which lets the
   * RP reject tokens issued too far in the past. A logout token is sent the moment the provider
   * session ends, so an old one is a replay or a token captured and held back; and its jti can
   * only be remembered for a bounded time (the caller keeps it until iat + this age).
   */
  maxAgeSeconds: number;
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
  const issuer = issuerProblem(claims, exp);
  if (issuer) invalid(issuer.reason);
  const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!Array.isArray(aud) || !aud.includes(exp.clientId)) invalid('"aud" does not contain the client id');
  if (typeof claims.iat !== 'number') invalid('missing "iat"');
  if ((claims.iat as number) > now + tol) invalid('"iat" is in the future');
  if ((claims.iat as number) < now - exp.maxAgeSeconds - tol) invalid(`"iat" is older than ${exp.maxAgeSeconds} s (OIDC_LOGOUT_TOKEN_MAX_AGE_SECONDS)`);
  if (typeof claims.exp === 'number' && claims.exp <= now - tol) invalid('"exp" is in the past');
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

/** Steps 1-2 (signature, algorithm, type) through jwt-verification.ts, then checkLogoutTokenClaims. */
export async function validateLogoutToken(
  token: string,
  opts: LogoutTokenExpectations & { algorithms: string[]; getKey: KeyResolver },
): Promise<LogoutTokenClaims> {
  // Step 1: encrypted logout tokens would need a key of ours; we register none (readJwsHeader).
  // Step 2: signature and algorithm as for ID tokens, never `alg: none` (verifyJwt drops it). A
  // JWKS that cannot be fetched is a transient provider error (503, the provider retries), not
  // an invalid token.
  const { payload } = await verifyJwt(token, {
    codes: LOGOUT_TOKEN_ERRORS,
    algorithms: opts.algorithms,
    getKey: opts.getKey,
    clockTolerance: opts.clockTolerance,
    now: opts.now,
    checkHeader: (header) => {
      // Section 2.4 recommends typ "logout+jwt"; providers that predate it send "JWT" or nothing.
      // Any other type (at+jwt, ...) is a different kind of token and is refused.
      const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
      if (typ !== undefined && typ !== 'logout+jwt' && typ !== 'jwt') invalid(`unexpected typ "${String(header.typ)}"`);
    },
  });
  return checkLogoutTokenClaims(payload, opts);
}
