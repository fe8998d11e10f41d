/**
 * JWT access token validation: RFC 9068 section 4 ("Validating JWT Access Tokens").
 *
 * As for ID tokens (id-token.ts), jose verifies the signature (and rejects a token past `exp` or
 * before `nbf`), and the claim checks RFC 9068 lists are in `checkAccessTokenClaims`, a pure
 * function, each citing the rule it comes from.
 *
 * Algorithms. RFC 9068 2.1: JWT access tokens MUST be signed and MUST NOT use "none"; RS256 MUST
 * be supported. RFC 9068 4 RECOMMENDS (not requires) asymmetric signatures and says the resource
 * server "MUST use the keys provided by the authorization server" (its `jwks_uri`). We go further
 * and refuse every symmetric (HS*) algorithm: the only symmetric key an OIDC client has is its own
 * client secret, which is not a key the authorization server publishes for access tokens, and
 * anyone who holds that secret (the client itself, every instance of it, whoever leaks it) could
 * then mint access tokens for any subject. RFC 8725 3.1 (perform algorithm verification) and 3.2
 * (use appropriate algorithms) are the general rules behind this: the accepted algorithms are an
 * allow-list fixed here, never taken from the token.
 */
import { decodeProtectedHeader, type JWTPayload } from 'jose';
import { OidcError } from '../errors.js';
import { ACCESS_TOKEN_ERRORS, ASYMMETRIC_ALGS, verifyJwt } from './jwt-verification.js';
import { issuerProblem, type IssuerExpectation } from './issuer.js';
import type { KeyResolver } from '../keys/jwks.js';
import type { OidcClaims } from '../types.js';

export interface AccessTokenExpectations extends IssuerExpectation {
  /** Expected `iss`: the provider's issuer identifier (RFC 9068 4: MUST exactly match). */
  issuer: string;
  /** This resource server's identifier, which `aud` must contain (RFC 9068 4). */
  audience: string;
  /** Seconds of clock skew tolerated for exp, iat and nbf (RFC 9068 4: "some small leeway"). */
  clockTolerance: number;
  /** Epoch seconds; injectable for tests. */
  now?: number;
}

export interface AccessTokenValidationOptions extends AccessTokenExpectations {
  /** Allowed `alg` values; `none` and HS* are removed whatever is passed. */
  algorithms: string[];
  getKey: KeyResolver;
  /** OIDC_BEARER_ACCEPT_JWT_TYP: also accept `typ: JWT` (or no typ), for providers predating RFC 9068. */
  acceptPlainJwtTyp: boolean;
}

const fail = (message: string): never => {
  throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', `access token rejected: ${message}`);
};

/**
 * True for a compact JWS (three base64url parts whose first decodes to a JOSE header with `alg`).
 * Anything else, a JWE included, is opaque to this resource server and goes to introspection.
 */
export function looksLikeJwt(token: string): boolean {
  if (token.split('.').length !== 3) return false;
  try {
    return typeof decodeProtectedHeader(token).alg === 'string';
  } catch {
    return false;
  }
}

/**
 * RFC 9068 4, first rule: the `typ` header MUST be "at+jwt" or "application/at+jwt"; any other
 * value is rejected. That keeps an ID token (typ JWT, signed with the same keys, often with our
 * client id as `aud`) from being replayed as an access token (RFC 9068 6; RFC 8725 3.11).
 * Media types compare case-insensitively and "application/" may be omitted (RFC 7515 4.1.9).
 * With `acceptPlainJwtTyp`, "JWT" or an absent typ (RFC 7519 5.1) is accepted too. Pure.
 */
export function checkAccessTokenTyp(typ: unknown, acceptPlainJwtTyp: boolean): void {
  if (typ === undefined) {
    if (acceptPlainJwtTyp) return;
    fail('no "typ" header (RFC 9068 requires "at+jwt")');
  }
  if (typeof typ !== 'string') fail('"typ" header is not a string');
  const t = (typ as string).toLowerCase().replace(/^application\//, '');
  if (t === 'at+jwt') return;
  if (t === 'jwt' && acceptPlainJwtTyp) return;
  fail(`"typ" header "${String(typ)}" is not "at+jwt"`);
}

/**
 * The claim checks of RFC 9068 4 (with the REQUIRED claims of 2.2). Pure.
 * Returns the claims typed as OidcClaims.
 */
export function checkAccessTokenClaims(claims: JWTPayload, exp: AccessTokenExpectations): OidcClaims {
  const now = exp.now ?? Math.floor(Date.now() / 1000);
  const tol = exp.clockTolerance;

  // RFC 9068 2.2: iss, exp, aud, sub, client_id and iat are REQUIRED. (jti is REQUIRED too, but
  // no validation rule of section 4 uses it, and it is not required here.)
  if (typeof claims.iss !== 'string') fail('missing "iss"');
  if (typeof claims.exp !== 'number') fail('missing "exp"');
  if (claims.aud === undefined) fail('missing "aud"');
  // RFC 9068 2.2: sub is the resource owner, or the client itself for grants without one.
  if (typeof claims.sub !== 'string' || claims.sub === '') fail('missing "sub"');
  // RFC 9068 2.2: client_id identifies the client the token was issued to. Its absence is also
  // what tells an ID token (which has azp, not client_id) from an access token when plain `JWT`
  // typ is accepted.
  if (typeof claims.client_id !== 'string' || claims.client_id === '') fail('missing "client_id"');
  if (typeof claims.iat !== 'number') fail('missing "iat"');

  // RFC 9068 4: the issuer identifier MUST exactly match the value of the "iss" claim (with the
  // documented forms of Entra multi-tenant and Google, protocol/issuer.ts).
  const issuer = issuerProblem(claims, exp);
  if (issuer) fail(issuer.reason);

  // RFC 9068 4: "aud" MUST contain a resource indicator of this resource server.
  const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!Array.isArray(aud) || !aud.includes(exp.audience)) fail(`"aud" does not contain ${exp.audience}`);

  // RFC 9068 4: the current time MUST be before "exp" (with a small leeway for clock skew).
  if ((claims.exp as number) <= now - tol) fail('"exp" is in the past');
  // An "iat" (RFC 9068 2.2: the time of issue) or "nbf" in the future beyond the leeway means a
  // broken clock at the issuer or a forged token.
  if ((claims.iat as number) > now + tol) fail('"iat" is in the future');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now + tol)) fail('"nbf" is in the future');

  return claims as OidcClaims;
}

/** Verify typ, alg and signature (jwt-verification.ts), then the claims (checkAccessTokenClaims). */
export async function validateJwtAccessToken(token: string, opts: AccessTokenValidationOptions): Promise<OidcClaims> {
  // RFC 9068 4: validate the signature with the keys of the authorization server (JWKS or the
  // pinned OIDC_RP_IDP_SIGN_KEY, via the provider's key resolver). RFC 9068 2.1 / 4: "none" MUST
  // be rejected; HS* is refused too (module comment).
  const { payload } = await verifyJwt(token, {
    codes: ACCESS_TOKEN_ERRORS,
    algorithms: opts.algorithms.filter((a) => ASYMMETRIC_ALGS.includes(a)),
    getKey: opts.getKey,
    clockTolerance: opts.clockTolerance,
    now: opts.now,
    checkHeader: (header) => checkAccessTokenTyp(header.typ, opts.acceptPlainJwtTyp),
  });
  return checkAccessTokenClaims(payload, opts);
}
