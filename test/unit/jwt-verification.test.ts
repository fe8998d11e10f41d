/**
 * src/protocol/jwt-verification.ts: the one mapping of jose's failures to OidcError codes, shared
 * by ID tokens, JWT access tokens and logout tokens.
 */
import { describe, expect, it } from 'vitest';
import { errors as joseErrors } from 'jose';
import { OidcError, isTransientProviderError } from '../../src/errors.js';
import { ACCESS_TOKEN_ERRORS, ID_TOKEN_ERRORS, LOGOUT_TOKEN_ERRORS, mapJoseError, readJwsHeader } from '../../src/protocol/jwt-verification.js';
import { codeOf } from '../support/error-code.js';

const KINDS = [ID_TOKEN_ERRORS, ACCESS_TOKEN_ERRORS, LOGOUT_TOKEN_ERRORS];

describe('mapJoseError: the key source failing is transient for every kind of token', () => {
  const keySourceFailures: Array<[string, () => unknown]> = [
    ['JWKS not 200 (jose generic error)', () => new joseErrors.JOSEError('Expected 200 OK from the JSON Web Key Set HTTP response')],
    ['JWKS not JSON', () => new joseErrors.JOSEError('Failed to parse the JSON Web Key Set HTTP response as JSON')],
    ['JWKS malformed', () => new joseErrors.JWKSInvalid('JSON Web Key Set malformed')],
    ['JWKS timeout', () => new joseErrors.JWKSTimeout()],
    ['our HTTP client could not connect', () => new OidcError('OIDC_HTTP_NETWORK', 'connection refused')],
  ];
  for (const codes of KINDS) {
    it.each(keySourceFailures)(`${codes.name}: %s`, (_name, make) => {
      const mapped = mapJoseError(make(), codes);
      expect(isTransientProviderError(mapped)).toBe(true);
    });
  }
});

describe("mapJoseError: the token's own faults get the kind's codes", () => {
  it.each([
    [ID_TOKEN_ERRORS, ['OIDC_ID_TOKEN_SIGNATURE', 'OIDC_ID_TOKEN_EXPIRED', 'OIDC_ID_TOKEN_ALG', 'OIDC_ID_TOKEN_INVALID']],
    [ACCESS_TOKEN_ERRORS, ['OIDC_ACCESS_TOKEN_INVALID', 'OIDC_ACCESS_TOKEN_INVALID', 'OIDC_ACCESS_TOKEN_INVALID', 'OIDC_ACCESS_TOKEN_INVALID']],
    [LOGOUT_TOKEN_ERRORS, ['OIDC_LOGOUT_TOKEN_INVALID', 'OIDC_LOGOUT_TOKEN_INVALID', 'OIDC_LOGOUT_TOKEN_INVALID', 'OIDC_LOGOUT_TOKEN_INVALID']],
  ] as const)('%o', (codes, [signature, expired, alg, invalid]) => {
    expect(mapJoseError(new joseErrors.JWSSignatureVerificationFailed(), codes).code).toBe(signature);
    expect(mapJoseError(new joseErrors.JWKSNoMatchingKey(), codes).code).toBe(signature);
    expect(mapJoseError(new joseErrors.JWTExpired('expired', {}), codes).code).toBe(expired);
    expect(mapJoseError(new joseErrors.JOSEAlgNotAllowed('nope'), codes).code).toBe(alg);
    expect(mapJoseError(new joseErrors.JWTClaimValidationFailed('nbf', {}), codes).code).toBe(invalid);
    for (const e of [signature, expired, alg, invalid]) expect(isTransientProviderError(new OidcError(e, 'x'))).toBe(false);
  });
});

describe('readJwsHeader: the shared preamble', () => {
  it.each(KINDS)('$name: JWE, not a JWT, malformed header', (codes) => {
    expect(codeOf(() => readJwsHeader('a.b.c.d.e', codes))).toBe(codes.invalid);
    expect(codeOf(() => readJwsHeader('abc', codes))).toBe(codes.invalid);
    expect(codeOf(() => readJwsHeader('!!.e30.', codes))).toBe(codes.invalid);
    expect(readJwsHeader('eyJhbGciOiJSUzI1NiJ9.e30.sig', codes)).toEqual({ alg: 'RS256' });
  });
});
