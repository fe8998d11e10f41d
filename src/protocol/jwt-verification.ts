/**
 * The one path by which every signed JWT from the provider is verified: ID tokens (OIDC Core
 * 3.1.3.7), JWT access tokens (RFC 9068 4) and logout tokens (Back-Channel Logout 1.0 2.6).
 *
 * Each kind keeps its own claim checks (id-token.ts, access-token.ts, logout-token.ts); what they
 * share lives here once: the header preamble (JWS only, alg from an allow-list fixed by us, never
 * taken from the token: RFC 8725 3.1), the algorithm policy, and the mapping of jose's failures
 * to OidcError codes. That mapping is what decides between "the token is bad" (the caller refuses
 * it) and "the key source is unavailable" (a transient provider error: the caller answers 503 so
 * the provider or the client retries, see isTransientProviderError in errors.ts).
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { OidcError, isOidcError, type OidcErrorCode } from '../errors.js';
import { SUPPORTED_ALGS } from '../algorithms.js';
import type { KeyResolver } from '../keys/jwks.js';

/** The error codes of one kind of token. */
export interface JwtErrorCodes {
  /** Human name used in messages, e.g. "ID token". */
  name: string;
  invalid: OidcErrorCode;
  alg: OidcErrorCode;
  signature: OidcErrorCode;
  expired: OidcErrorCode;
}

export const ID_TOKEN_ERRORS: JwtErrorCodes = {
  name: 'ID token',
  invalid: 'OIDC_ID_TOKEN_INVALID',
  alg: 'OIDC_ID_TOKEN_ALG',
  signature: 'OIDC_ID_TOKEN_SIGNATURE',
  expired: 'OIDC_ID_TOKEN_EXPIRED',
};

export const ACCESS_TOKEN_ERRORS: JwtErrorCodes = {
  name: 'access token',
  invalid: 'OIDC_ACCESS_TOKEN_INVALID',
  alg: 'OIDC_ACCESS_TOKEN_INVALID',
  signature: 'OIDC_ACCESS_TOKEN_INVALID',
  expired: 'OIDC_ACCESS_TOKEN_INVALID',
};

export const LOGOUT_TOKEN_ERRORS: JwtErrorCodes = {
  name: 'logout token',
  invalid: 'OIDC_LOGOUT_TOKEN_INVALID',
  alg: 'OIDC_LOGOUT_TOKEN_INVALID',
  signature: 'OIDC_LOGOUT_TOKEN_INVALID',
  expired: 'OIDC_LOGOUT_TOKEN_INVALID',
};

export const ASYMMETRIC_ALGS: readonly string[] = SUPPORTED_ALGS.filter((a) => !a.startsWith('HS'));
const isSymmetric = (alg: string) => alg.startsWith('HS');

/**
 * Algorithms accepted for ID tokens and logout tokens (OIDC Core 3.1.3.7 steps 6-8; Back-Channel
 * Logout 2.6 step 2): the pinned OIDC_RP_SIGN_ALGO, else the asymmetric ones the provider
 * advertises, else RS256 (OIDC Core 15.1: RS256 is the default).
 *
 * Symmetric (HS*) algorithms only when pinned or when the provider advertises nothing else:
 * providers list HS256 in id_token_signing_alg_values_supported because some client may use it,
 * not because this one does, and an HS* token verifies with the client secret, which the client
 * itself, every instance and whoever leaks it hold. Accepting it unpinned would let any of them
 * mint ID tokens and logout tokens for any user of a client registered for RS256 (RFC 8725 3.2).
 */
export function allowedIdTokenAlgorithms(pinned: string | undefined, advertised: string[] | undefined, allowUnsecured: boolean): string[] {
  if (pinned) return [pinned];
  const known = (advertised ?? []).filter((a) => (SUPPORTED_ALGS as readonly string[]).includes(a));
  const asymmetric = known.filter((a) => !isSymmetric(a));
  const chosen = asymmetric.length > 0 ? asymmetric : known.length > 0 ? known : ['RS256'];
  // OIDC_ALLOW_UNSECURED_JWT: "none" only when the provider advertises it too.
  return allowUnsecured && advertised?.includes('none') ? [...chosen, 'none'] : chosen;
}

/**
 * Algorithms accepted for JWT access tokens: RS256 (RFC 9068 2.1: MUST be supported) plus the
 * asymmetric ones among the provider's advertised ID token algorithms and a pinned signAlgo.
 * Never `none`, never HS* (RFC 9068 4 recommends asymmetric signatures; see access-token.ts).
 */
export function allowedAccessTokenAlgorithms(advertised: string[] | undefined, pinned?: string): string[] {
  const out = new Set<string>(['RS256']);
  for (const alg of [pinned, ...(advertised ?? [])]) if (alg !== undefined && ASYMMETRIC_ALGS.includes(alg)) out.add(alg);
  return [...out];
}

export interface JwtVerificationOptions {
  codes: JwtErrorCodes;
  /** The allow-list; `none` is never verified here (unsecured ID tokens are id-token.ts' business). */
  algorithms: string[];
  getKey: KeyResolver;
  clockTolerance: number;
  /** Epoch seconds; injectable for tests. */
  now?: number | undefined;
  /** Kind-specific header rules (typ), run before any key is fetched. */
  checkHeader?: (header: ProtectedHeaderParameters) => void;
}

/**
 * The header preamble shared by every kind: a compact JWS (a JWE would need a decryption key we
 * never register), a parseable header, then the kind's own header rules. Pure.
 */
export function readJwsHeader(token: string, codes: JwtErrorCodes): ProtectedHeaderParameters {
  const parts = token.split('.');
  if (parts.length === 5) throw new OidcError(codes.invalid, `${codes.name} rejected: encrypted (JWE) tokens are not supported`);
  if (parts.length !== 3) throw new OidcError(codes.invalid, `${codes.name} rejected: not a JWT`);
  try {
    return decodeProtectedHeader(token);
  } catch (err) {
    throw new OidcError(codes.invalid, `${codes.name} rejected: malformed JOSE header`, { cause: err });
  }
}

/** The alg allow-list check (RFC 8725 3.1), before any key is fetched. Pure. */
export function checkAlgorithm(header: ProtectedHeaderParameters, algorithms: string[], codes: JwtErrorCodes): string {
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
    throw new OidcError(codes.alg, `${codes.name} rejected: algorithm "${String(header.alg)}" is not allowed (allowed: ${algorithms.join(', ')})`);
  }
  return header.alg;
}

/** Preamble, alg allow-list, then jose's signature and time checks. Returns the payload. */
export async function verifyJwt(token: string, opts: JwtVerificationOptions): Promise<{ payload: JWTPayload; header: ProtectedHeaderParameters }> {
  const { codes } = opts;
  const header = readJwsHeader(token, codes);
  opts.checkHeader?.(header);
  const algorithms = opts.algorithms.filter((a) => a !== 'none');
  checkAlgorithm(header, algorithms, codes);
  try {
    const verified = await jwtVerify(token, opts.getKey, {
      algorithms,
      clockTolerance: opts.clockTolerance,
      ...(opts.now !== undefined ? { currentDate: new Date(opts.now * 1000) } : {}),
    });
    return { payload: verified.payload, header };
  } catch (err) {
    throw mapJoseError(err, codes);
  }
}

/**
 * jose's failures as OidcErrors. The key source's fault (JWKS unreachable, not 200, not JSON, not
 * a key set) is a transient provider error whatever the kind of token: a valid token must never be
 * refused, nor a logout lost, because the provider's key endpoint is down.
 */
export function mapJoseError(err: unknown, codes: JwtErrorCodes): OidcError {
  if (isOidcError(err)) return err; // our HTTP client's failures (network, timeout, size) keep their code
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof joseErrors.JWKSTimeout) {
    return new OidcError('OIDC_HTTP_TIMEOUT', `JWKS fetch timed out: ${message}`, { cause: err, statusCode: 503 });
  }
  // jose throws a bare JOSEError (ERR_JOSE_GENERIC) only from its remote JWKS fetch: a non-200
  // answer or a body that is not JSON.
  if (err instanceof joseErrors.JWKSInvalid || (err instanceof joseErrors.JOSEError && err.code === 'ERR_JOSE_GENERIC')) {
    return new OidcError('OIDC_HTTP_INVALID_BODY', `JWKS could not be used: ${message}`, { cause: err, statusCode: 503 });
  }
  const why = `${codes.name} rejected: ${message}`;
  if (err instanceof joseErrors.JWTExpired) return new OidcError(codes.expired, why, { cause: err });
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new OidcError(codes.alg, why, { cause: err });
  if (
    err instanceof joseErrors.JWSSignatureVerificationFailed ||
    err instanceof joseErrors.JWKSNoMatchingKey ||
    err instanceof joseErrors.JWKSMultipleMatchingKeys
  ) {
    return new OidcError(codes.signature, why, { cause: err });
  }
  return new OidcError(codes.invalid, why, { cause: err });
}
