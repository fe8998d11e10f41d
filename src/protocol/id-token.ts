/**
 * ID token validation: OIDC Core 3.1.3.7 (authorization code flow) and 12.2 (refresh).
 *
 * Signature and time checks run through jose; the claim checks the spec lists are in
 * `checkIdTokenClaims`, a pure function, each with the step it comes from. Unlike OIDC Core
 * 3.1.3.7 step 6 requires, the signature of every ID token is verified, also of one received
 * straight from the token endpoint over TLS (the OpenID RP certification tests expect it, and a
 * token we store may later be shown to someone else as id_token_hint).
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { OidcError, isOidcError } from '../errors.js';
import { SUPPORTED_ALGS } from '../config.js';
import type { KeyResolver } from '../keys/jwks.js';
import type { OidcClaims } from '../types.js';

export interface IdTokenExpectations {
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
}

export interface IdTokenValidationOptions extends IdTokenExpectations {
  algorithms: string[];
  getKey: KeyResolver;
  /** OIDC_ALLOW_UNSECURED_JWT: accept alg "none" (only ever for tokens from the token endpoint). */
  allowUnsecured: boolean;
  previous?: PreviousIdToken | undefined;
}

const fail = (code: 'OIDC_ID_TOKEN_INVALID' | 'OIDC_ID_TOKEN_NONCE' | 'OIDC_ID_TOKEN_EXPIRED', message: string): never => {
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

  // Step 2: the issuer MUST exactly match the issuer identifier of the provider.
  if (exp.issuer !== undefined && claims.iss !== exp.issuer) {
    fail('OIDC_ID_TOKEN_INVALID', `"iss" ${String(claims.iss)} is not ${exp.issuer}`);
  }

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
    // OIDC Core 12.2: iss and sub MUST be the same as in the original ID token; auth_time, if
    // present, MUST represent the original authentication; and a nonce SHOULD NOT be present,
    // but if it is, it must not change (12.2 says "same as in the original").
    if (claims.iss !== previous.iss) fail('OIDC_ID_TOKEN_INVALID', 'refreshed ID token has another "iss"');
    if (claims.sub !== previous.sub) fail('OIDC_ID_TOKEN_INVALID', 'refreshed ID token has another "sub"');
    if (previous.auth_time !== undefined && claims.auth_time !== undefined && claims.auth_time !== previous.auth_time) {
      fail('OIDC_ID_TOKEN_INVALID', 'refreshed ID token has another "auth_time"');
    }
  }
  return claims as OidcClaims;
}

/** Algorithms accepted for ID tokens: the pinned one, else what the provider advertises, else RS256. */
export function allowedIdTokenAlgorithms(pinned: string | undefined, advertised: string[] | undefined, allowUnsecured: boolean): string[] {
  if (pinned) return [pinned];
  const supported = (advertised ?? []).filter(
    (a) => (SUPPORTED_ALGS as readonly string[]).includes(a) || (a === 'none' && allowUnsecured),
  );
  return supported.length > 0 ? supported : ['RS256'];
}

/** Verify signature (jose) and then the claims (checkIdTokenClaims). */
export async function validateIdToken(idToken: string, opts: IdTokenValidationOptions): Promise<OidcClaims> {
  // Step 1: an encrypted ID token (JWE, five parts) would need our private key; we register none.
  const parts = idToken.split('.');
  if (parts.length === 5) throw new OidcError('OIDC_ID_TOKEN_INVALID', 'ID token rejected: encrypted ID tokens are not supported');
  if (parts.length !== 3) throw new OidcError('OIDC_ID_TOKEN_INVALID', 'ID token rejected: not a JWT');

  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(idToken);
  } catch (err) {
    throw new OidcError('OIDC_ID_TOKEN_INVALID', 'ID token rejected: malformed header', { cause: err });
  }
  // Step 7: the alg MUST be the one the client expects (registered / advertised).
  if (typeof header.alg !== 'string' || !opts.algorithms.includes(header.alg)) {
    throw new OidcError('OIDC_ID_TOKEN_ALG', `ID token rejected: algorithm "${String(header.alg)}" is not allowed (allowed: ${opts.algorithms.join(', ')})`);
  }

  let payload: JWTPayload;
  if (header.alg === 'none') {
    if (!opts.allowUnsecured) throw new OidcError('OIDC_ID_TOKEN_ALG', 'ID token rejected: unsecured (alg none) tokens are not allowed');
    // An unsecured JWT has an empty signature part (RFC 7519 6.1). Only decode here: the time
    // checks, with the clock tolerance, are checkIdTokenClaims' job as for signed tokens.
    if (parts[2] !== '') throw new OidcError('OIDC_ID_TOKEN_INVALID', 'ID token rejected: alg "none" with a signature');
    try {
      payload = decodeJwt(idToken);
    } catch (err) {
      throw new OidcError('OIDC_ID_TOKEN_INVALID', 'ID token rejected: malformed unsecured JWT', { cause: err });
    }
  } else {
    try {
      const verified = await jwtVerify(idToken, opts.getKey, {
        algorithms: opts.algorithms.filter((a) => a !== 'none'),
        clockTolerance: opts.clockTolerance,
        ...(opts.now !== undefined ? { currentDate: new Date(opts.now * 1000) } : {}),
      });
      payload = verified.payload;
    } catch (err) {
      throw mapJoseError(err);
    }
  }
  return checkIdTokenClaims(payload, opts, opts.previous);
}

function mapJoseError(err: unknown): OidcError {
  if (isOidcError(err)) return err; // JWKS fetch failures from our HTTP client keep their code
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof joseErrors.JWTExpired) return new OidcError('OIDC_ID_TOKEN_EXPIRED', `ID token rejected: ${message}`, { cause: err });
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new OidcError('OIDC_ID_TOKEN_ALG', `ID token rejected: ${message}`, { cause: err });
  if (
    err instanceof joseErrors.JWSSignatureVerificationFailed ||
    err instanceof joseErrors.JWKSNoMatchingKey ||
    err instanceof joseErrors.JWKSMultipleMatchingKeys
  ) {
    return new OidcError('OIDC_ID_TOKEN_SIGNATURE', `ID token rejected: ${message}`, { cause: err });
  }
  if (err instanceof joseErrors.JWKSTimeout) return new OidcError('OIDC_HTTP_TIMEOUT', `JWKS fetch timed out: ${message}`, { cause: err, statusCode: 503 });
  if (err instanceof joseErrors.JWKSInvalid || err instanceof joseErrors.JOSEError && (err as joseErrors.JOSEError).code === 'ERR_JOSE_GENERIC') {
    return new OidcError('OIDC_HTTP_INVALID_BODY', `JWKS could not be used: ${message}`, { cause: err, statusCode: 503 });
  }
  return new OidcError('OIDC_ID_TOKEN_INVALID', `ID token rejected: ${message}`, { cause: err });
}
