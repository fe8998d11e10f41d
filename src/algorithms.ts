/**
 * JWS algorithms this library verifies (RFC 7518 section 3; EdDSA from RFC 8037, and Ed25519, its
 * fully-specified name, from RFC 9864). A base module: configuration checks a pinned signAlgo against this list, and
 * protocol/jwt-verification.ts builds its allow-lists from it, so neither imports the other.
 */

/** Algorithms an ID token, a JWT access token or a logout token may be signed with (OIDC Core 3.1.3.7 step 7). */
export const SUPPORTED_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'HS256',
  'HS384',
  'HS512',
] as const;

/** Asymmetric algorithms the client signs with: client assertions (RFC 7523), DPoP proofs (RFC 9449 4.2). */
export const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** FAPI 2.0 Security Profile 5.4 (cryptography): the only signing algorithms allowed. */
export const FAPI2_ALGS = ['PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
