/**
 * src/protocol/access-token.ts (RFC 9068 4), the pure parts of src/protocol/introspection.ts
 * (RFC 7662 2.2) and the header / scope parsing of src/middleware/bearer-auth.ts (RFC 6750).
 * validateJwtAccessToken is exercised with real jose-signed tokens and a local key.
 */
import { createHash, createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, base64url, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import {
  checkAccessTokenClaims,
  checkAccessTokenTyp,
  looksLikeJwt,
  validateJwtAccessToken,
  type AccessTokenExpectations,
  type AccessTokenValidationOptions,
} from '../../src/protocol/access-token.js';
import { allowedAccessTokenAlgorithms } from '../../src/protocol/jwt-verification.js';
import { checkIntrospectionResponse, type IntrospectionExpectations } from '../../src/protocol/introspection.js';
import { accessTokenScheme, readAccessToken, readBearerToken, tokenScopes } from '../../src/protocol/bearer-token.js';
import { hashToken } from '../../src/store/bearer-cache.js';
import type { KeyResolver } from '../../src/keys/jwks.js';
import { errorOf, errorOfAsync } from '../support/error-code.js';

const ISS = 'https://op.example.com';
const API = 'https://api.example.com';
const NOW = 1_700_000_000;
const TOL = 60;

const expectations: AccessTokenExpectations = { issuer: ISS, audience: API, clockTolerance: TOL, now: NOW };

function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const c: Record<string, unknown> = { iss: ISS, sub: 'user-1', aud: API, client_id: 'client-1', exp: NOW + 300, iat: NOW, jti: 'j-1', ...overrides };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c as JWTPayload;
}

describe('checkAccessTokenClaims (RFC 9068 2.2, 4)', () => {
  it('a complete, valid set of claims passes and is returned', () => {
    const c = claims();
    expect(checkAccessTokenClaims(c, expectations)).toEqual(c);
  });

  it.each(['iss', 'exp', 'aud', 'sub', 'client_id', 'iat'])('missing "%s" (REQUIRED by 2.2) -> OIDC_ACCESS_TOKEN_INVALID', (claim) => {
    const err = errorOf(() => checkAccessTokenClaims(claims({ [claim]: undefined }), expectations));
    expect(err?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(err?.message).toContain(claim);
  });

  it('jti is not required (no rule of section 4 uses it)', () => {
    expect(errorOf(() => checkAccessTokenClaims(claims({ jti: undefined }), expectations))).toBeUndefined();
  });

  it('empty sub or client_id is as good as missing', () => {
    expect(errorOf(() => checkAccessTokenClaims(claims({ sub: '' }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(errorOf(() => checkAccessTokenClaims(claims({ client_id: '' }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('iss must match exactly (no trailing-slash or case leniency)', () => {
    for (const iss of [`${ISS}/`, ISS.toUpperCase(), 'https://evil.example.com']) {
      expect(errorOf(() => checkAccessTokenClaims(claims({ iss }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    }
  });

  it('aud must contain the audience, as a string or in an array', () => {
    expect(errorOf(() => checkAccessTokenClaims(claims({ aud: [API, 'other'] }), expectations))).toBeUndefined();
    expect(errorOf(() => checkAccessTokenClaims(claims({ aud: 'other' }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(errorOf(() => checkAccessTokenClaims(claims({ aud: ['a', 'b'] }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(errorOf(() => checkAccessTokenClaims(claims({ aud: 42 }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('exp: accepted within the clock tolerance, rejected beyond it', () => {
    expect(errorOf(() => checkAccessTokenClaims(claims({ exp: NOW - TOL + 1 }), expectations))).toBeUndefined();
    expect(errorOf(() => checkAccessTokenClaims(claims({ exp: NOW - TOL }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(errorOf(() => checkAccessTokenClaims(claims({ exp: NOW }), { ...expectations, clockTolerance: 0 }))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('iat and nbf in the future beyond the tolerance are rejected', () => {
    expect(errorOf(() => checkAccessTokenClaims(claims({ iat: NOW + TOL }), expectations))).toBeUndefined();
    expect(errorOf(() => checkAccessTokenClaims(claims({ iat: NOW + TOL + 1 }), expectations))?.message).toContain('"iat"');
    expect(errorOf(() => checkAccessTokenClaims(claims({ nbf: NOW + TOL + 1 }), expectations))?.message).toContain('"nbf"');
    expect(errorOf(() => checkAccessTokenClaims(claims({ nbf: 'soon' }), expectations))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });
});

describe('checkAccessTokenTyp (RFC 9068 4, RFC 7515 4.1.9)', () => {
  it.each(['at+jwt', 'application/at+jwt', 'AT+JWT', 'Application/At+Jwt'])('"%s" is accepted', (typ) => {
    expect(errorOf(() => checkAccessTokenTyp(typ, false))).toBeUndefined();
  });

  it.each([['JWT'], ['jwt'], ['application/jwt'], [undefined], ['logout+jwt'], ['at+jwt2'], [42]])('%s is rejected by default', (typ) => {
    expect(errorOf(() => checkAccessTokenTyp(typ, false))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('with acceptPlainJwtTyp, JWT and an absent typ are accepted, other types still are not', () => {
    expect(errorOf(() => checkAccessTokenTyp('JWT', true))).toBeUndefined();
    expect(errorOf(() => checkAccessTokenTyp(undefined, true))).toBeUndefined();
    expect(errorOf(() => checkAccessTokenTyp('logout+jwt', true))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });
});

describe('allowedAccessTokenAlgorithms', () => {
  it('always RS256 (RFC 9068 2.1), plus the asymmetric advertised and pinned ones', () => {
    expect(allowedAccessTokenAlgorithms(undefined)).toEqual(['RS256']);
    expect(allowedAccessTokenAlgorithms(['ES256', 'PS256'])).toEqual(['RS256', 'ES256', 'PS256']);
    expect(allowedAccessTokenAlgorithms(['RS256'], 'EdDSA').sort()).toEqual(['EdDSA', 'RS256']);
  });

  it('never none, never HS*, never an unknown name', () => {
    expect(allowedAccessTokenAlgorithms(['none', 'HS256', 'HS512', 'XYZ'], 'HS256')).toEqual(['RS256']);
  });
});

describe('looksLikeJwt', () => {
  const header = (h: unknown) => base64url.encode(JSON.stringify(h));
  it('true for a compact JWS, false for opaque strings and JWEs', () => {
    expect(looksLikeJwt(`${header({ alg: 'RS256' })}.e30.sig`)).toBe(true);
    expect(looksLikeJwt(`${header({ alg: 'none' })}.e30.`)).toBe(true);
    expect(looksLikeJwt('2YotnFZFEjr1zCsicMWpAA')).toBe(false);
    expect(looksLikeJwt('a.b.c')).toBe(false); // header is not JSON
    expect(looksLikeJwt(`${header({ typ: 'JWT' })}.e30.sig`)).toBe(false); // no alg
    expect(looksLikeJwt(`${header({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.k.iv.ct.tag`)).toBe(false);
  });
});

describe('validateJwtAccessToken (jose-signed tokens)', () => {
  let keys: { publicKey: CryptoKey; privateKey: CryptoKey };
  let other: { publicKey: CryptoKey; privateKey: CryptoKey };
  const getKey: KeyResolver = async () => keys.publicKey;
  const opts = (o: Partial<AccessTokenValidationOptions> = {}): AccessTokenValidationOptions => ({
    ...expectations,
    algorithms: ['RS256'],
    getKey,
    acceptPlainJwtTyp: false,
    ...o,
  });
  const sign = (payload: JWTPayload, header: Record<string, unknown> = { typ: 'at+jwt' }, key = keys.privateKey) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', ...header }).sign(key);

  beforeAll(async () => {
    keys = await generateKeyPair('RS256');
    other = await generateKeyPair('RS256');
  });

  it('a valid at+jwt passes and returns its claims', async () => {
    const token = await sign(claims());
    await expect(validateJwtAccessToken(token, opts())).resolves.toMatchObject({ sub: 'user-1', client_id: 'client-1' });
  });

  it('typ JWT is rejected unless acceptPlainJwtTyp', async () => {
    const token = await sign(claims(), { typ: 'JWT' });
    expect((await errorOfAsync(validateJwtAccessToken(token, opts())))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    await expect(validateJwtAccessToken(token, opts({ acceptPlainJwtTyp: true }))).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('a signature by another key is rejected', async () => {
    const token = await sign(claims(), { typ: 'at+jwt' }, other.privateKey);
    expect((await errorOfAsync(validateJwtAccessToken(token, opts())))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('alg none is rejected even if listed', async () => {
    const token = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${base64url.encode(JSON.stringify(claims()))}.`;
    const err = await errorOfAsync(validateJwtAccessToken(token, opts({ algorithms: ['RS256', 'none'] })));
    expect(err?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(err?.message).toContain('"none" is not allowed');
  });

  it('HS256 is rejected even if listed and the key resolver would hand out a secret', async () => {
    const input = `${base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'at+jwt' }))}.${base64url.encode(JSON.stringify(claims()))}`;
    const token = `${input}.${createHmac('sha256', 'client-secret').update(input).digest('base64url')}`;
    const secretResolver: KeyResolver = async () => new TextEncoder().encode('client-secret');
    const err = await errorOfAsync(validateJwtAccessToken(token, opts({ algorithms: ['RS256', 'HS256'], getKey: secretResolver })));
    expect(err?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(err?.message).toContain('"HS256" is not allowed');
  });

  it('an encrypted (5-part) token and garbage are rejected', async () => {
    expect((await errorOfAsync(validateJwtAccessToken('a.b.c.d.e', opts())))?.message).toContain('encrypted');
    expect((await errorOfAsync(validateJwtAccessToken('nope', opts())))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect((await errorOfAsync(validateJwtAccessToken('a.b.c', opts())))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('an expired token is rejected (by jose or by the claim check, same code)', async () => {
    const token = await sign(claims({ exp: NOW - 3600, iat: NOW - 7200 }));
    expect((await errorOfAsync(validateJwtAccessToken(token, opts())))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('a JWKS that cannot be fetched is a provider error, not an invalid token', async () => {
    const token = await sign(claims());
    const { OidcError: E } = await import('../../src/errors.js');
    const down: KeyResolver = async () => {
      throw new E('OIDC_HTTP_NETWORK', 'connection refused');
    };
    expect((await errorOfAsync(validateJwtAccessToken(token, opts({ getKey: down }))))?.code).toBe('OIDC_HTTP_NETWORK');
  });
});

describe('checkIntrospectionResponse (RFC 7662 2.2)', () => {
  const exp: IntrospectionExpectations = { issuer: ISS, audiences: [API, 'client-1'], clockTolerance: TOL, now: NOW };
  const body = (o: Record<string, unknown> = {}) => ({ active: true, sub: 'user-1', client_id: 'client-1', scope: 'openid read', exp: NOW + 60, ...o });

  it('an active response gives claims without "active", iss defaulting to the issuer', () => {
    const c = checkIntrospectionResponse(body(), exp);
    expect(c).toMatchObject({ sub: 'user-1', iss: ISS, scope: 'openid read' });
    expect('active' in c).toBe(false);
  });

  it.each([[false], ['true'], [1], [undefined]])('active %s -> OIDC_ACCESS_TOKEN_INVALID', (active) => {
    expect(errorOf(() => checkIntrospectionResponse(body({ active }), exp))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('iss, when present, must equal the issuer', () => {
    expect(errorOf(() => checkIntrospectionResponse(body({ iss: ISS }), exp))).toBeUndefined();
    expect(errorOf(() => checkIntrospectionResponse(body({ iss: 'https://other' }), exp))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('aud, when present, must contain the audience or the client id', () => {
    expect(errorOf(() => checkIntrospectionResponse(body({ aud: API }), exp))).toBeUndefined();
    expect(errorOf(() => checkIntrospectionResponse(body({ aud: ['x', 'client-1'] }), exp))).toBeUndefined();
    expect(errorOf(() => checkIntrospectionResponse(body({ aud: 'other-api' }), exp))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });

  it('exp in the past (beyond the tolerance), nbf in the future and a missing sub are rejected', () => {
    expect(errorOf(() => checkIntrospectionResponse(body({ exp: NOW - TOL }), exp))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(errorOf(() => checkIntrospectionResponse(body({ exp: undefined }), exp))).toBeUndefined();
    expect(errorOf(() => checkIntrospectionResponse(body({ nbf: NOW + TOL + 1 }), exp))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(errorOf(() => checkIntrospectionResponse(body({ sub: undefined }), exp))?.code).toBe('OIDC_ACCESS_TOKEN_INVALID');
  });
});

describe('readBearerToken (RFC 6750 2.1)', () => {
  it('reads the token; the scheme is case-insensitive', () => {
    expect(readBearerToken('Bearer abc.DEF-_~+/=')).toEqual({ kind: 'token', token: 'abc.DEF-_~+/=' });
    expect(readBearerToken('bearer abc')).toEqual({ kind: 'token', token: 'abc' });
    expect(readBearerToken('BEARER   abc  ')).toEqual({ kind: 'token', token: 'abc' });
  });

  it('no header or another scheme: no bearer credentials', () => {
    expect(readBearerToken(undefined).kind).toBe('none');
    expect(readBearerToken('').kind).toBe('none');
    expect(readBearerToken('Basic dXNlcjpwYXNz').kind).toBe('none');
    expect(readBearerToken('Bearerabc').kind).toBe('none');
  });

  it('Bearer without a token, or with characters outside b64token, is malformed', () => {
    expect(readBearerToken('Bearer').kind).toBe('malformed');
    expect(readBearerToken('Bearer   ').kind).toBe('malformed');
    expect(readBearerToken('Bearer a b').kind).toBe('malformed');
    expect(readBearerToken('Bearer a"b').kind).toBe('malformed');
    expect(readBearerToken('Bearer ab=c').kind).toBe('malformed');
  });
});

describe('readAccessToken (RFC 6750 2.1, RFC 9449 7.1)', () => {
  it('reads Bearer and DPoP tokens with their scheme, case-insensitively', () => {
    expect(readAccessToken('Bearer abc')).toEqual({ kind: 'token', scheme: 'Bearer', token: 'abc' });
    expect(readAccessToken('dpop abc.DEF-_~+/=')).toEqual({ kind: 'token', scheme: 'DPoP', token: 'abc.DEF-_~+/=' });
    expect(readAccessToken('DPoP   abc  ')).toEqual({ kind: 'token', scheme: 'DPoP', token: 'abc' });
  });

  it('another scheme is none; a DPoP header without a token or with a bad token68 is malformed', () => {
    expect(readAccessToken('Basic dXNlcjpwYXNz').kind).toBe('none');
    expect(readAccessToken('DPoPabc').kind).toBe('none');
    expect(readAccessToken('DPoP')).toMatchObject({ kind: 'malformed', scheme: 'DPoP' });
    expect(readAccessToken('DPoP a b')).toMatchObject({ kind: 'malformed', scheme: 'DPoP' });
  });

  it('a DPoP token is no bearer token for readBearerToken', () => {
    expect(readBearerToken('DPoP abc').kind).toBe('none');
  });

  it('accessTokenScheme names the scheme, whatever the token', () => {
    expect(accessTokenScheme('bearer x')).toBe('Bearer');
    expect(accessTokenScheme('DPOP x')).toBe('DPoP');
    expect(accessTokenScheme('Basic x')).toBeUndefined();
    expect(accessTokenScheme(undefined)).toBeUndefined();
  });
});

describe('tokenScopes', () => {
  it('reads a space separated scope, an scp array, or both', () => {
    expect([...tokenScopes({ scope: 'openid  read write' })]).toEqual(['openid', 'read', 'write']);
    expect([...tokenScopes({ scp: ['read', 'write', 3] })]).toEqual(['read', 'write']);
    expect([...tokenScopes({ scope: 'a', scp: ['b'] })]).toEqual(['a', 'b']);
    expect(tokenScopes({}).size).toBe(0);
  });
});

describe('hashToken', () => {
  it('is the SHA-256 hex of the token and does not contain it', () => {
    const h = hashToken('secret-token');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).toBe(createHash('sha256').update('secret-token', 'utf8').digest('hex'));
    expect(h).not.toContain('secret-token');
  });
});
