/**
 * src/protocol/id-token.ts: ID token validation per OIDC Core 3.1.3.7 (code flow) and 12.2
 * (refresh). Claim checks are pure (checkIdTokenClaims); validateIdToken is exercised with real
 * jose-signed tokens.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { SignJWT, UnsecuredJWT, generateKeyPair, base64url, type JWTPayload, type CryptoKey } from 'jose';
import {
  authTimeDeviation,
  checkIdTokenClaims,
  validateIdToken,
  type IdTokenExpectations,
  type IdTokenValidationOptions,
} from '../../src/protocol/id-token.js';
import { allowedIdTokenAlgorithms } from '../../src/protocol/jwt-verification.js';
import { OidcError } from '../../src/errors.js';
import type { KeyResolver } from '../../src/keys/jwks.js';
import { codeOf } from '../support/error-code.js';

const ISS = 'https://op.example.com';
const CLIENT = 'client-1';
const NOW = 1_700_000_000;
const TOL = 60;

const expectations: IdTokenExpectations = { issuer: ISS, clientId: CLIENT, nonce: 'n-1', clockTolerance: TOL, now: NOW };

function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const c: Record<string, unknown> = { iss: ISS, sub: 'user-1', aud: CLIENT, exp: NOW + 300, iat: NOW, nonce: 'n-1', ...overrides };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c as JWTPayload;
}

async function asyncCodeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as OidcError).code;
  }
  return undefined;
}

describe('checkIdTokenClaims: required claims (OIDC Core 2)', () => {
  it('a complete, valid set of claims passes and is returned', () => {
    const c = claims();
    expect(checkIdTokenClaims(c, expectations)).toEqual(c);
  });

  it.each(['iss', 'sub', 'aud', 'exp', 'iat'])('missing "%s" -> OIDC_ID_TOKEN_INVALID', (claim) => {
    expect(codeOf(() => checkIdTokenClaims(claims({ [claim]: undefined }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('missing "iss" is rejected even without an expected issuer', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ iss: undefined }), { ...expectations, issuer: undefined }))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('an empty "sub" -> OIDC_ID_TOKEN_INVALID', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ sub: '' }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it.each([
    ['exp', String(NOW + 300)],
    ['iat', String(NOW)],
  ])('non-numeric "%s" -> OIDC_ID_TOKEN_INVALID', (claim, value) => {
    expect(codeOf(() => checkIdTokenClaims(claims({ [claim]: value }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });
});

describe('checkIdTokenClaims: OIDC Core 3.1.3.7 steps', () => {
  it('step 2: "iss" must exactly match the issuer -> OIDC_ID_TOKEN_INVALID', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ iss: 'https://evil.example.com' }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
    // exact match: a trailing slash is another issuer
    expect(codeOf(() => checkIdTokenClaims(claims({ iss: `${ISS}/` }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('step 2: without a configured issuer (explicit endpoints) any "iss" string is accepted', () => {
    expect(() => checkIdTokenClaims(claims({ iss: 'https://other.example.com' }), { ...expectations, issuer: undefined })).not.toThrow();
  });

  it('step 3: "aud" must contain the client_id -> OIDC_ID_TOKEN_INVALID', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ aud: 'other-client' }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
    expect(codeOf(() => checkIdTokenClaims(claims({ aud: ['other-client'], azp: CLIENT }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
    expect(codeOf(() => checkIdTokenClaims(claims({ aud: 42 }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('step 3: "aud" as a one-element array with the client_id passes', () => {
    expect(() => checkIdTokenClaims(claims({ aud: [CLIENT] }), expectations)).not.toThrow();
  });

  it('step 4: several audiences without "azp" -> OIDC_ID_TOKEN_INVALID', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ aud: [CLIENT, 'api'] }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('step 4-5: several audiences with azp = client_id pass', () => {
    expect(() => checkIdTokenClaims(claims({ aud: [CLIENT, 'api'], azp: CLIENT }), expectations)).not.toThrow();
  });

  it('step 5: "azp" present but not the client_id -> OIDC_ID_TOKEN_INVALID (also with a single audience)', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ aud: [CLIENT, 'api'], azp: 'api' }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
    expect(codeOf(() => checkIdTokenClaims(claims({ azp: 'api' }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('step 9: "exp" in the past beyond the tolerance -> OIDC_ID_TOKEN_EXPIRED', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ exp: NOW - TOL - 1 }), expectations))).toBe('OIDC_ID_TOKEN_EXPIRED');
  });

  it('step 9 edge: exp = now - tolerance is expired (current time MUST be before exp)', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ exp: NOW - TOL }), expectations))).toBe('OIDC_ID_TOKEN_EXPIRED');
  });

  it('step 9 edge: exp = now - tolerance + 1 is still accepted (within clock skew)', () => {
    expect(() => checkIdTokenClaims(claims({ exp: NOW - TOL + 1 }), expectations)).not.toThrow();
  });

  it('step 9: with zero tolerance, exp = now is expired and exp = now + 1 is not', () => {
    const strict = { ...expectations, clockTolerance: 0 };
    expect(codeOf(() => checkIdTokenClaims(claims({ exp: NOW }), strict))).toBe('OIDC_ID_TOKEN_EXPIRED');
    expect(() => checkIdTokenClaims(claims({ exp: NOW + 1 }), strict)).not.toThrow();
  });

  it('step 10: "iat" in the future beyond the tolerance -> OIDC_ID_TOKEN_INVALID', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ iat: NOW + TOL + 1, exp: NOW + 1000 }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('step 10: "iat" in the future within the tolerance is accepted (clock skew)', () => {
    expect(() => checkIdTokenClaims(claims({ iat: NOW + TOL, exp: NOW + 1000 }), expectations)).not.toThrow();
    expect(() => checkIdTokenClaims(claims({ iat: NOW + 1, exp: NOW + 1000 }), expectations)).not.toThrow();
  });

  it('"nbf" in the future beyond the tolerance -> OIDC_ID_TOKEN_INVALID; within it is accepted', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ nbf: NOW + TOL + 1 }), expectations))).toBe('OIDC_ID_TOKEN_INVALID');
    expect(() => checkIdTokenClaims(claims({ nbf: NOW + TOL }), expectations)).not.toThrow();
  });

  it('step 11: a nonce was sent and the claim differs -> OIDC_ID_TOKEN_NONCE', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ nonce: 'other' }), expectations))).toBe('OIDC_ID_TOKEN_NONCE');
  });

  it('step 11: a nonce was sent and the claim is missing -> OIDC_ID_TOKEN_NONCE', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ nonce: undefined }), expectations))).toBe('OIDC_ID_TOKEN_NONCE');
  });

  it('step 11: no nonce sent -> the claim is not checked', () => {
    expect(() => checkIdTokenClaims(claims({ nonce: undefined }), { ...expectations, nonce: undefined })).not.toThrow();
  });

  it('uses the current time when "now" is not given', () => {
    const realNow = Math.floor(Date.now() / 1000);
    const live = { issuer: ISS, clientId: CLIENT, nonce: undefined, clockTolerance: 0 };
    expect(() => checkIdTokenClaims(claims({ iat: realNow, exp: realNow + 60 }), live)).not.toThrow();
    expect(codeOf(() => checkIdTokenClaims(claims({ iat: realNow - 600, exp: realNow - 10 }), live))).toBe('OIDC_ID_TOKEN_EXPIRED');
  });
});

describe('checkIdTokenClaims: refreshed ID tokens (OIDC Core 12.2)', () => {
  const refresh = { ...expectations, nonce: undefined };
  const previous = { iss: ISS, sub: 'user-1', auth_time: NOW - 3600 };

  it('same iss, sub and auth_time passes', () => {
    expect(() => checkIdTokenClaims(claims({ nonce: undefined, auth_time: NOW - 3600 }), refresh, previous)).not.toThrow();
  });

  it('12.2: "sub" must be the same as in the original ID token -> OIDC_ID_TOKEN_INVALID', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ sub: 'user-2' }), refresh, previous))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('12.2: "iss" must be the same as in the original ID token -> OIDC_ID_TOKEN_INVALID', () => {
    // No configured issuer so only the 12.2 comparison can catch it.
    const noIssuer = { ...refresh, issuer: undefined };
    expect(codeOf(() => checkIdTokenClaims(claims({ iss: 'https://other.example.com' }), noIssuer, previous))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('12.2: a re-stamped "auth_time" (B2C, Cognito, ...) is tolerated by default and reported as a deviation', () => {
    expect(() => checkIdTokenClaims(claims({ auth_time: NOW }), refresh, previous)).not.toThrow();
    expect(authTimeDeviation(claims({ auth_time: NOW }), previous)).toBe('changed');
    expect(authTimeDeviation(claims({ auth_time: NOW - 3600 }), previous)).toBeUndefined();
  });

  it('12.2, strict mode: a changed "auth_time" -> OIDC_ID_TOKEN_INVALID', () => {
    const strict = { ...previous, strictAuthTime: true };
    expect(codeOf(() => checkIdTokenClaims(claims({ auth_time: NOW }), refresh, strict))).toBe('OIDC_ID_TOKEN_INVALID');
    expect(() => checkIdTokenClaims(claims({ auth_time: NOW - 3600 }), refresh, strict)).not.toThrow();
  });

  it('12.2: a changed "sub" ends the session whatever the auth_time mode', () => {
    expect(codeOf(() => checkIdTokenClaims(claims({ sub: 'user-2', auth_time: NOW - 3600 }), refresh, previous))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('12.2: an absent auth_time on either side is not a change (12.2: "if present")', () => {
    expect(() => checkIdTokenClaims(claims(), refresh, previous)).not.toThrow();
    expect(() => checkIdTokenClaims(claims(), refresh, { ...previous, strictAuthTime: true })).not.toThrow();
    expect(authTimeDeviation(claims(), previous)).toBe('missing');
    expect(() => checkIdTokenClaims(claims({ auth_time: NOW }), refresh, { iss: ISS, sub: 'user-1' })).not.toThrow();
    expect(authTimeDeviation(claims({ auth_time: NOW }), { iss: ISS, sub: 'user-1' })).toBeUndefined();
  });
});

describe('allowedIdTokenAlgorithms (OIDC Core 3.1.3.7 step 7)', () => {
  it('a pinned algorithm is the only one allowed, whatever the provider advertises', () => {
    expect(allowedIdTokenAlgorithms('ES256', ['RS256', 'ES256', 'PS256'], false)).toEqual(['ES256']);
    expect(allowedIdTokenAlgorithms('HS256', undefined, false)).toEqual(['HS256']);
  });

  it('otherwise: the advertised algorithms that are supported', () => {
    expect(allowedIdTokenAlgorithms(undefined, ['RS256', 'ES256', 'XX999', 'RSA-OAEP'], false)).toEqual(['RS256', 'ES256']);
  });

  it('unpinned, symmetric algorithms are refused when the provider offers an asymmetric one (the client secret must not mint ID tokens)', () => {
    // oidc-provider, Keycloak and others advertise HS256 for the clients that use it.
    expect(allowedIdTokenAlgorithms(undefined, ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'], false)).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA']);
    expect(allowedIdTokenAlgorithms(undefined, ['RS256', 'HS256', 'HS384', 'HS512'], false)).toEqual(['RS256']);
  });

  it('HS* unpinned only when the provider offers nothing else', () => {
    expect(allowedIdTokenAlgorithms(undefined, ['HS256'], false)).toEqual(['HS256']);
    expect(allowedIdTokenAlgorithms(undefined, ['HS256', 'HS512', 'XX999'], false)).toEqual(['HS256', 'HS512']);
  });

  it('falls back to RS256 (the OIDC default) when nothing is advertised or nothing is supported', () => {
    expect(allowedIdTokenAlgorithms(undefined, undefined, false)).toEqual(['RS256']);
    expect(allowedIdTokenAlgorithms(undefined, [], false)).toEqual(['RS256']);
    expect(allowedIdTokenAlgorithms(undefined, ['XX999'], false)).toEqual(['RS256']);
  });

  it('"none" only with allowUnsecured', () => {
    expect(allowedIdTokenAlgorithms(undefined, ['none', 'RS256'], false)).toEqual(['RS256']);
    expect(allowedIdTokenAlgorithms(undefined, ['none'], false)).toEqual(['RS256']);
    expect(allowedIdTokenAlgorithms(undefined, ['none', 'RS256'], true)).toEqual(['RS256', 'none']);
  });
});

describe('validateIdToken with jose-signed tokens', () => {
  type Pair = { privateKey: CryptoKey; publicKey: CryptoKey };
  const keys: Record<string, Pair> = {};
  let otherRsa: Pair;
  const hsSecret = new TextEncoder().encode('a-client-secret-that-is-long-enough-for-hs256');

  beforeAll(async () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA', 'PS256']) keys[alg] = await generateKeyPair(alg);
    otherRsa = await generateKeyPair('RS256');
  });

  const resolverFor = (key: CryptoKey | Uint8Array): KeyResolver => (async () => key) as KeyResolver;

  function options(algorithms: string[], getKey: KeyResolver, extra: Partial<IdTokenValidationOptions> = {}): IdTokenValidationOptions {
    return { ...expectations, algorithms, getKey, allowUnsecured: false, ...extra };
  }

  function sign(alg: string, key: CryptoKey | Uint8Array, payload: JWTPayload = claims()): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg, kid: 'k1' }).sign(key);
  }

  it.each(['RS256', 'ES256', 'EdDSA', 'PS256'])('a valid %s token passes', async (alg) => {
    const pair = keys[alg] as Pair;
    const token = await sign(alg, pair.privateKey);
    const result = await validateIdToken(token, options([alg], resolverFor(pair.publicKey)));
    expect(result.sub).toBe('user-1');
    expect(result.iss).toBe(ISS);
  });

  it('a valid HS256 token (client secret as key) passes', async () => {
    const token = await sign('HS256', hsSecret);
    const result = await validateIdToken(token, options(['HS256'], resolverFor(hsSecret)));
    expect(result.sub).toBe('user-1');
  });

  it('step 7: alg not in the allowed list -> OIDC_ID_TOKEN_ALG', async () => {
    const pair = keys.ES256 as Pair;
    const token = await sign('ES256', pair.privateKey);
    expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], resolverFor(pair.publicKey))))).toBe('OIDC_ID_TOKEN_ALG');
  });

  it('step 7: an HS256 token is refused when only RS256 is allowed (alg confusion)', async () => {
    const token = await sign('HS256', hsSecret);
    expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], resolverFor(hsSecret))))).toBe('OIDC_ID_TOKEN_ALG');
  });

  it('step 6: tampered payload -> OIDC_ID_TOKEN_SIGNATURE', async () => {
    const pair = keys.RS256 as Pair;
    const token = await sign('RS256', pair.privateKey);
    const [h, , s] = token.split('.');
    const forged = base64url.encode(JSON.stringify(claims({ sub: 'admin' })));
    const tampered = `${h}.${forged}.${s}`;
    expect(await asyncCodeOf(validateIdToken(tampered, options(['RS256'], resolverFor(pair.publicKey))))).toBe('OIDC_ID_TOKEN_SIGNATURE');
  });

  it('step 6: signed with another key -> OIDC_ID_TOKEN_SIGNATURE', async () => {
    const token = await sign('RS256', otherRsa.privateKey);
    const pair = keys.RS256 as Pair;
    expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], resolverFor(pair.publicKey))))).toBe('OIDC_ID_TOKEN_SIGNATURE');
  });

  it('claim checks run after the signature: wrong aud in a validly signed token -> OIDC_ID_TOKEN_INVALID', async () => {
    const pair = keys.RS256 as Pair;
    const token = await sign('RS256', pair.privateKey, claims({ aud: 'other-client' }));
    expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], resolverFor(pair.publicKey))))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('step 9 through jose: an expired signed token -> OIDC_ID_TOKEN_EXPIRED', async () => {
    const pair = keys.RS256 as Pair;
    const token = await sign('RS256', pair.privateKey, claims({ iat: NOW - 7200, exp: NOW - 3600 }));
    expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], resolverFor(pair.publicKey))))).toBe('OIDC_ID_TOKEN_EXPIRED');
  });

  it('step 11 through validateIdToken: wrong nonce -> OIDC_ID_TOKEN_NONCE', async () => {
    const pair = keys.RS256 as Pair;
    const token = await sign('RS256', pair.privateKey, claims({ nonce: 'replayed' }));
    expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], resolverFor(pair.publicKey))))).toBe('OIDC_ID_TOKEN_NONCE');
  });

  it('12.2 through validateIdToken: "previous" is applied', async () => {
    const pair = keys.RS256 as Pair;
    const token = await sign('RS256', pair.privateKey, claims({ nonce: undefined }));
    const opts = options(['RS256'], resolverFor(pair.publicKey), { nonce: undefined, previous: { iss: ISS, sub: 'someone-else' } });
    expect(await asyncCodeOf(validateIdToken(token, opts))).toBe('OIDC_ID_TOKEN_INVALID');
  });

  it('an OidcError from the key resolver keeps its code', async () => {
    const pair = keys.RS256 as Pair;
    const token = await sign('RS256', pair.privateKey);
    const failing = (async () => {
      throw new OidcError('OIDC_HTTP_TIMEOUT', 'jwks timed out');
    }) as KeyResolver;
    expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], failing)))).toBe('OIDC_HTTP_TIMEOUT');
  });

  describe('alg "none" (unsecured JWT)', () => {
    const unsecured = () => new UnsecuredJWT(claims()).encode();

    it('rejected by default -> OIDC_ID_TOKEN_ALG', async () => {
      expect(await asyncCodeOf(validateIdToken(unsecured(), options(['RS256'], resolverFor(hsSecret))))).toBe('OIDC_ID_TOKEN_ALG');
    });

    it('rejected when "none" is in the algorithms but allowUnsecured is off -> OIDC_ID_TOKEN_ALG', async () => {
      expect(await asyncCodeOf(validateIdToken(unsecured(), options(['none', 'RS256'], resolverFor(hsSecret))))).toBe('OIDC_ID_TOKEN_ALG');
    });

    it('rejected when allowUnsecured is on but "none" is not in the algorithms -> OIDC_ID_TOKEN_ALG', async () => {
      const opts = options(['RS256'], resolverFor(hsSecret), { allowUnsecured: true });
      expect(await asyncCodeOf(validateIdToken(unsecured(), opts))).toBe('OIDC_ID_TOKEN_ALG');
    });

    // jose's UnsecuredJWT.decode checks exp/nbf against the real clock, so these tokens use it too.
    const live = () => {
      const t = Math.floor(Date.now() / 1000);
      return { t, exp: { issuer: ISS, clientId: CLIENT, nonce: undefined, clockTolerance: TOL } };
    };

    it('accepted only with allowUnsecured and "none" in the algorithms; claims still checked', async () => {
      const { t, exp } = live();
      const opts = { ...exp, algorithms: ['none'], getKey: resolverFor(hsSecret), allowUnsecured: true };
      const good = new UnsecuredJWT(claims({ iat: t, exp: t + 300, nonce: undefined })).encode();
      expect((await validateIdToken(good, opts)).sub).toBe('user-1');
      const badAud = new UnsecuredJWT(claims({ iat: t, exp: t + 300, aud: 'other' })).encode();
      expect(await asyncCodeOf(validateIdToken(badAud, opts))).toBe('OIDC_ID_TOKEN_INVALID');
      const badIss = new UnsecuredJWT(claims({ iat: t, exp: t + 300, iss: 'https://evil.example.com' })).encode();
      expect(await asyncCodeOf(validateIdToken(badIss, opts))).toBe('OIDC_ID_TOKEN_INVALID');
    });

    it('step 9: an expired unsecured token -> OIDC_ID_TOKEN_EXPIRED, the same code as for a signed token', async () => {
      const { t, exp } = live();
      const opts = { ...exp, algorithms: ['none'], getKey: resolverFor(hsSecret), allowUnsecured: true };
      const expired = new UnsecuredJWT(claims({ iat: t - 7200, exp: t - 3600, nonce: undefined })).encode();
      expect(await asyncCodeOf(validateIdToken(expired, opts))).toBe('OIDC_ID_TOKEN_EXPIRED');
    });

    it('step 9: the clock tolerance applies to unsecured tokens as to signed ones (exp 10 s ago, tolerance 60 s)', async () => {
      const { t, exp } = live();
      const payload = claims({ iat: t - 100, exp: t - 10, nonce: undefined });
      const signed = await sign('HS256', hsSecret, payload);
      await expect(validateIdToken(signed, { ...exp, algorithms: ['HS256'], getKey: resolverFor(hsSecret), allowUnsecured: false })).resolves.toBeDefined();
      const unsecured = new UnsecuredJWT(payload).encode();
      await expect(validateIdToken(unsecured, { ...exp, algorithms: ['none'], getKey: resolverFor(hsSecret), allowUnsecured: true })).resolves.toBeDefined();
    });

    it('an alg "none" header with a non-empty signature is rejected', async () => {
      const opts = options(['none'], resolverFor(hsSecret), { allowUnsecured: true });
      expect(await asyncCodeOf(validateIdToken(`${unsecured()}c2ln`, opts))).toBe('OIDC_ID_TOKEN_INVALID');
    });
  });

  describe('malformed tokens', () => {
    it('step 1: a 5-part (JWE-like) string -> OIDC_ID_TOKEN_INVALID', async () => {
      const jweLike = 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d';
      expect(await asyncCodeOf(validateIdToken(jweLike, options(['RS256'], resolverFor(hsSecret))))).toBe('OIDC_ID_TOKEN_INVALID');
    });

    it.each(['', 'garbage', 'a.b', 'a.b.c', 'a.b.c.d', '...', '!!!.???.###'])('%j -> OIDC_ID_TOKEN_INVALID', async (raw) => {
      expect(await asyncCodeOf(validateIdToken(raw, options(['RS256'], resolverFor(hsSecret))))).toBe('OIDC_ID_TOKEN_INVALID');
    });

    it('a header without alg -> OIDC_ID_TOKEN_ALG', async () => {
      const token = `${base64url.encode('{"typ":"JWT"}')}.${base64url.encode(JSON.stringify(claims()))}.sig`;
      expect(await asyncCodeOf(validateIdToken(token, options(['RS256'], resolverFor(hsSecret))))).toBe('OIDC_ID_TOKEN_ALG');
    });
  });
});
