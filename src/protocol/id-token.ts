/**
 * ID token validation: OIDC Core 3.1.3.7 (authorization code flow) and 12.2 (refresh).
 *
 * Signature and time checks run through jose; the claim checks the spec lists are in
 * `checkIdTokenClaims`, a pure function, each with the step it comes from. Unlike OIDC Core
 * 3.1.3.7 step 6 requires, the signature of every ID token is verified, also of one received
 * straight from the token endpoint over TLS (the OpenID RP certification tests expect it, and a
 * token we store may later be shown to someone else as id_token_hint).
 */
import { decodeJwt, type JWTPayload } from 'jose';
import { OidcError } from '../errors.js';
import { ID_TOKEN_ERRORS, checkAlgorithm, readJwsHeader, verifyJwt } from './jwt-verification.js';
import { issuerProblem, type IssuerExpectation } from './issuer.js';
import type { KeyResolver } from '../keys/jwks.js';
import type { OidcClaims } from '../types.js';

export interface IdTokenExpectations extends IssuerExpectation {
  /** Expected `iss`; undefined only without a configured issuer (explicit endpoints). */
  issuer: string | undefined;
  clientId: string;
  /** The nonce sent in the authorization request; undefined when nonces are off or on refresh. */
  nonce: string | undefined;
  /** Seconds of clock skew tolerated for exp, iat and nbf. */
  clockTolerance: number;
  /** Epoch seconds; injectable for tests. */
  now?: number;
}

/** For refreshed ID tokens (OIDC Core 12.2): the claims of the ID token of the login. */
export interface PreviousIdToken {
  iss: string;
  sub: string;
  auth_time?: number | undefined;
  /** Entra multi-tenant: the login's tenant, which a refresh must not change. */
  tid?: string | undefined;
  /** OIDC_STRICT_REFRESH_AUTH_TIME: refuse a refreshed ID token whose auth_time changed. */
  strictAuthTime?: boolean | undefined;
}

/**
 * How a refreshed ID token's auth_time deviates from the login's (OIDC Core 12.2), or undefined
 * when it does not: `changed` (Azure AD B2C, AWS Cognito with rotation, django-oidc-provider and
 * Rauthy re-stamp it with the refresh time) or `missing`. Pure.
 */
export function authTimeDeviation(claims: JWTPayload, previous: PreviousIdToken): 'changed' | 'missing' | undefined {
  if (previous.auth_time === undefined) return undefined;
  if (claims.auth_time === undefined) return 'missing';
  return claims.auth_time === previous.auth_time ? undefined : 'changed';
}

export interface IdTokenValidationOptions extends IdTokenExpectations {
  algorithms: string[];
  getKey: KeyResolver;
  /** OIDC_ALLOW_UNSECURED_JWT: accept alg "none" (only ever for tokens from the token endpoint). */
  allowUnsecured: boolean;
  previous?: PreviousIdToken | undefined;
}

const fail = (code: 'OIDC_ID_TOKEN_INVALID' | 'OIDC_ID_TOKEN_NONCE' | 'OIDC_ID_TOKEN_EXPIRED' | 'OIDC_TENANT_NOT_ALLOWED', message: string): never => {
  throw new OidcError(code, `ID token rejected: ${message}`);
};

/**
 * The claim checks of OIDC Core 3.1.3.7 (and 12.2 when `previous` is given). Pure.
 * Returns the claims typed as OidcClaims.
 */
export function checkIdTokenClaims(claims: JWTPayload, exp: IdTokenExpectations, previous?: PreviousIdToken): OidcClaims {
  const now = exp.now ?? Math.floor(Date.now() / 1000);
  const tol = exp.clockTolerance;

  // OIDC Core 2: iss, sub, aud, exp and iat are REQUIRED.
  if (typeof claims.iss !== 'string') fail('OIDC_ID_TOKEN_INVALID', 'missing "iss"');
  if (typeof claims.sub !== 'string' || claims.sub === '') fail('OIDC_ID_TOKEN_INVALID', 'missing "sub"');
  if (typeof claims.exp !== 'number') fail('OIDC_ID_TOKEN_INVALID', 'missing "exp"');
  if (typeof claims.iat !== 'number') fail('OIDC_ID_TOKEN_INVALID', 'missing "iat"');

  // Step 2: the issuer MUST exactly match the issuer identifier of the provider (with the
  // documented forms of Entra multi-tenant and Google, protocol/issuer.ts).
  const issuer = issuerProblem(claims, exp);
  if (issuer) fail(issuer.tenantNotAllowed ? 'OIDC_TENANT_NOT_ALLOWED' : 'OIDC_ID_TOKEN_INVALID', issuer.reason);

  // Step 3: aud MUST contain our client_id; other audiences must be vouched for by azp (step 4-5).
  const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!Array.isArray(aud) || !aud.includes(exp.clientId)) fail('OIDC_ID_TOKEN_INVALID', '"aud" does not contain the client id');
  // Step 4: with several audiences, azp should be present; we require it (openid-client does too).
  if ((aud as string[]).length > 1 && claims.azp === undefined) fail('OIDC_ID_TOKEN_INVALID', 'several audiences and no "azp"');
  // Step 5: if azp is present it MUST be our client_id.
  if (claims.azp !== undefined && claims.azp !== exp.clientId) fail('OIDC_ID_TOKEN_INVALID', '"azp" is not the client id');

  // Step 9: the current time MUST be before exp.
  if ((claims.exp as number) <= now - tol) fail('OIDC_ID_TOKEN_EXPIRED', '"exp" is in the past');
  // Step 10: iat can bound how old a token may be; an iat in the future beyond the tolerance
  // means a broken or forged token.
  if ((claims.iat as number) > now + tol) fail('OIDC_ID_TOKEN_INVALID', '"iat" is in the future');
  if (typeof claims.nbf === 'number' && claims.nbf > now + tol) fail('OIDC_ID_TOKEN_INVALID', '"nbf" is in the future');

  // Step 11: if a nonce was sent, the claim MUST be present and equal it (replay protection).
  if (exp.nonce !== undefined && claims.nonce !== exp.nonce) fail('OIDC_ID_TOKEN_NONCE', '"nonce" does not match the authorization request');

  if (previous) {
    // OIDC Core 12.2: iss and sub MUST be the same as in the original ID token (these protect the
    // relying party: a token for another user must never continue this session; aud is step 3).
    if (claims.iss !== previous.iss) fail('OIDC_ID_TOKEN_INVALID', 'refreshed ID token has another "iss"');
    if (claims.sub !== previous.sub) fail('OIDC_ID_TOKEN_INVALID', 'refreshed ID token has another "sub"');
    // A multi-tenant login stays in its tenant (the substituted iss already differs; said plainly).
    if (previous.tid !== undefined && claims.tid !== previous.tid) fail('OIDC_ID_TOKEN_INVALID', 'refreshed ID token has another tenant ("tid")');
    // 12.2 also says auth_time, if present, MUST represent the original authentication. That
    // rule is on the provider, and several re-stamp it with the refresh time; refusing their
    // tokens would log every user out at each access-token expiry. So a changed auth_time is
    // refused only in strict mode; otherwise the caller keeps the login's auth_time and warns.
    if (previous.strictAuthTime && authTimeDeviation(claims, previous) === 'changed') {
      fail('OIDC_ID_TOKEN_INVALID', 'refreshed ID token has another "auth_time" (OIDC_STRICT_REFRESH_AUTH_TIME is on)');
    }
  }
  return claims as OidcClaims;
}

/** Verify signature (jose, through jwt-verification.ts) and then the claims (checkIdTokenClaims). */
export async function validateIdToken(idToken: string, opts: IdTokenValidationOptions): Promise<OidcClaims> {
  // Step 1: an encrypted ID token (JWE) would need our private key; we register none.
  const header = readJwsHeader(idToken, ID_TOKEN_ERRORS);
  // Step 7: the alg MUST be the one the client expects (registered / advertised).
  checkAlgorithm(header, opts.algorithms, ID_TOKEN_ERRORS);

  let payload: JWTPayload;
  if (header.alg === 'none') {
    if (!opts.allowUnsecured) throw new OidcError('OIDC_ID_TOKEN_ALG', 'ID token rejected: unsecured (alg none) tokens are not allowed');
    // An unsecured JWT has an empty signature part (RFC 7519 6.1). Only decode here: the time
    // checks, with the clock tolerance, are checkIdTokenClaims' job as for signed tokens.
    if (idToken.split('.')[2] !== '') throw new OidcError('OIDC_ID_TOKEN_INVALID', 'ID token rejected: alg "none" with a signature');
    try {
      payload = decodeJwt(idToken);
    } catch (err) {
      throw new OidcError('OIDC_ID_TOKEN_INVALID', 'ID token rejected: malformed unsecured JWT', { cause: err });
    }
  } else {
    ({ payload } = await verifyJwt(idToken, {
      codes: ID_TOKEN_ERRORS,
      algorithms: opts.algorithms,
      getKey: opts.getKey,
      clockTolerance: opts.clockTolerance,
      now: opts.now,
    }));
  }
  return checkIdTokenClaims(payload, opts, opts.previous);
}
