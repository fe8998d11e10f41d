/**
 * src/protocol/dpop-verification.ts and dpop-nonce.ts: every check of RFC 9449 4.3 failing on its
 * own (and the same proof passing with that one thing right), htu normalisation (RFC 3986 6.2.2,
 * 6.2.3), the token binding (RFC 9449 6, 7.2), the replay key and its lifetime, server nonces.
 * Proofs come from test/support/dpop.ts, made with jose independently of src/.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { OidcError, type OidcErrorCode } from '../../src/errors.js';
import {
  DPOP_ALGS,
  accessTokenHash,
  boundJkt,
  checkDpopBinding,
  dpopReplayKey,
  dpopReplayTtlMs,
  normalizeHtu,
  publicRequestUrl,
  refuseBoundBearerToken,
  verifyDpopProof,
  type DpopProofExpectations,
  type VerifiedDpopProof,
} from '../../src/protocol/dpop-verification.js';
import { DPOP_NONCE_WINDOW_SECONDS, DpopNonces } from '../../src/protocol/dpop-nonce.js';
import { MemorySharedStore } from '../../src/store/shared-store.js';
import { ath, dpopKey, dpopProof, hmacProof, unsignedProof, type DpopKey, type ProofOptions } from '../support/dpop.js';
import { b64json, nowSeconds } from '../support/jwt.js';

const URL_ = 'https://api.example.com/orders';
const TOKEN = 'access-token-value';
const REQUEST = { method: 'GET', url: URL_ };
const EXPECT: DpopProofExpectations = { accessToken: TOKEN, maxAgeSeconds: 60, clockTolerance: 5 };

let es256: DpopKey;
let other: DpopKey;
beforeAll(async () => {
  es256 = await dpopKey('ES256');
  other = await dpopKey('ES256');
});

const proof = (opts: Partial<ProofOptions> = {}, key: DpopKey = es256) => dpopProof(key, { htu: URL_, accessToken: TOKEN, ...opts });

async function rejected(
  values: string[] | Promise<string>,
  messagePart: string,
  code: OidcErrorCode = 'OIDC_DPOP_PROOF_INVALID',
  request = REQUEST,
  exp: Partial<DpopProofExpectations> = {},
): Promise<void> {
  const list = Array.isArray(values) ? values : [await values];
  const err = await verifyDpopProof(list, request, { ...EXPECT, ...exp }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the proof should have been rejected').toBeInstanceOf(OidcError);
  expect((err as OidcError).code).toBe(code);
  expect((err as OidcError).message).toContain(messagePart);
}

const accepted = async (p: string | Promise<string>, request = REQUEST, exp: Partial<DpopProofExpectations> = {}): Promise<VerifiedDpopProof> =>
  verifyDpopProof([await p], request, { ...EXPECT, ...exp });

describe('verifyDpopProof: a good proof', () => {
  it('passes and gives the RFC 7638 thumbprint of its key, its jti and iat, and the normalised htu', async () => {
    const p = await proof({ claims: { jti: 'j-1' } });
    const v = await accepted(p);
    expect(v).toEqual({ jkt: es256.jkt, jti: 'j-1', iat: expect.any(Number), htu: URL_ });
  });

  it.each(['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'])('%s is accepted (asymmetric, RFC 9449 4.3 step 5)', async (alg) => {
    const key = await dpopKey(alg);
    expect((await accepted(proof({}, key))).jkt).toBe(key.jkt);
  });

  it('typ may be "application/dpop+jwt" and in any case (media types, RFC 7515 4.1.9)', async () => {
    await accepted(proof({ header: { typ: 'application/dpop+jwt' } }));
    await accepted(proof({ header: { typ: 'DPoP+JWT' } }));
  });

  it('algs lists no MAC and no none', () => {
    expect(DPOP_ALGS).toContain('ES256');
    expect(DPOP_ALGS.filter((a) => a.startsWith('HS') || a === 'none')).toEqual([]);
  });
});

describe('verifyDpopProof: each RFC 9449 4.3 check fails on its own', () => {
  it('step 1: no header, or more than one', async () => {
    await rejected([], 'no DPoP header');
    await rejected([await proof(), await proof()], 'more than one DPoP header');
  });

  it('step 2: not a single well-formed JWT (garbage, two parts, two proofs folded into one header, too large)', async () => {
    await rejected(['not-a-jwt'], 'compact JWS');
    await rejected(['a.b'], 'compact JWS');
    await rejected([`${await proof()}, ${await proof()}`], 'compact JWS');
    await rejected([`${b64json({ x: 1 }).slice(0, 3)}!.e30.sig`], 'compact JWS');
    await rejected([`${'a'.repeat(9000)}.e30.sig`], 'larger than');
    await rejected(['bm90LWpzb24.e30.c2ln'], 'malformed JOSE header');
  });

  it('step 4: typ must be dpop+jwt (absent, JWT, at+jwt refused)', async () => {
    await rejected(proof({ header: { typ: undefined } }), '"typ" header is missing');
    await rejected(proof({ header: { typ: 'JWT' } }), '"typ" header "JWT"');
    await rejected(proof({ header: { typ: 'at+jwt' } }), '"typ" header "at+jwt"');
  });

  it('step 5: alg none and HS256 are refused', async () => {
    await rejected(Promise.resolve(unsignedProof(es256, { htu: URL_, accessToken: TOKEN })), 'algorithm "none" is not allowed');
    await rejected(hmacProof({ htu: URL_, accessToken: TOKEN }), 'algorithm "HS256" is not allowed');
  });

  it('step 5: an asymmetric alg outside a narrower allow-list is refused', async () => {
    await rejected(proof(), 'algorithm "ES256" is not allowed', 'OIDC_DPOP_PROOF_INVALID', REQUEST, { algorithms: ['PS256'] });
  });

  it('step 7: a jwk holding the private key is refused, though the signature would verify', async () => {
    await rejected(proof({ header: { jwk: es256.privateJwk } }), 'private key material (d)');
    const rsa = await dpopKey('RS256');
    await rejected(proof({ header: { jwk: rsa.privateJwk } }, rsa), 'private key material (d, p, q, dp, dq, qi)');
  });

  it('step 7: no jwk at all', async () => {
    await rejected(proof({ header: { jwk: undefined } }), 'no "jwk" header');
    await rejected(proof({ header: { jwk: 'a string' } }), 'no "jwk" header');
  });

  it("step 6: the signature must verify with the jwk (another key's jwk; a tampered payload)", async () => {
    await rejected(proof({ header: { jwk: other.publicJwk } }), 'signature');
    const [h, , s] = (await proof()).split('.');
    const forged = `${h}.${b64json({ jti: 'x', htm: 'GET', htu: URL_, iat: nowSeconds(), ath: ath(TOKEN) })}.${s}`;
    await rejected([forged], 'signature');
  });

  it('step 3: jti, htm, htu and iat are required; jti is bounded', async () => {
    await rejected(proof({ claims: { jti: undefined } }), 'missing "jti"');
    await rejected(proof({ claims: { jti: '' } }), 'missing "jti"');
    await rejected(proof({ claims: { jti: 'x'.repeat(257) } }), '"jti" longer than 256');
    await rejected(proof({ claims: { htm: undefined } }), 'missing "htm"');
    await rejected(proof({ claims: { htu: undefined } }), 'missing "htu"');
    await rejected(proof({ claims: { iat: undefined } }), 'missing "iat"');
  });

  it('step 8: htm is the request method, case-sensitively', async () => {
    await rejected(proof({ htm: 'POST' }), '"htm" POST is not the request method GET');
    await rejected(proof({ htm: 'get' }), '"htm" get is not the request method GET');
    await accepted(proof({ htm: 'POST' }), { method: 'POST', url: URL_ });
  });

  it('step 9: htu is the request URI (another path, host, port or scheme is refused)', async () => {
    await rejected(proof({ htu: 'https://api.example.com/other' }), '"htu" https://api.example.com/other is not this request');
    await rejected(proof({ htu: 'https://evil.example.com/orders' }), 'is not this request');
    await rejected(proof({ htu: 'https://api.example.com:8443/orders' }), 'is not this request');
    await rejected(proof({ htu: 'http://api.example.com/orders' }), 'is not this request');
    await rejected(proof({ htu: 'https://api.example.com/orders/' }), 'is not this request');
    await rejected(proof({ htu: '/orders' }), 'not an absolute http(s) URI');
    await rejected(proof({ htu: 'https://user:pw@api.example.com/orders' }), 'not an absolute http(s) URI');
  });

  it('step 9: equivalent URIs match (RFC 3986 6.2.2, 6.2.3), query and fragment ignored on both sides', async () => {
    await accepted(proof({ htu: 'HTTPS://API.Example.COM:443/orders' }));
    await accepted(proof({ htu: 'https://api.example.com/orders?page=2#top' }));
    await accepted(proof(), { method: 'GET', url: `${URL_}?page=2` });
    await accepted(proof({ htu: 'https://api.example.com/x/../orders' }));
    await accepted(proof({ htu: 'https://api.example.com/%6Frders' }));
    await accepted(proof({ htu: 'http://api.example.com:80/a%2fb' }), { method: 'GET', url: 'http://api.example.com/a%2Fb' });
  });

  it('step 11: iat within maxAge (+ tolerance) in the past and the tolerance in the future', async () => {
    const now = nowSeconds();
    await accepted(proof({ claims: { iat: now - 65 } }), REQUEST, { now });
    await rejected(proof({ claims: { iat: now - 66 } }), '"iat" is more than 60 seconds old', 'OIDC_DPOP_PROOF_INVALID', REQUEST, { now });
    await accepted(proof({ claims: { iat: now + 5 } }), REQUEST, { now });
    await rejected(proof({ claims: { iat: now + 6 } }), '"iat" is in the future', 'OIDC_DPOP_PROOF_INVALID', REQUEST, { now });
  });

  it('step 12: ath is the hash of this access token', async () => {
    await rejected(proof({ accessToken: undefined }), 'missing "ath"');
    await rejected(proof({ accessToken: 'another-token' }), '"ath" is not the hash of the access token');
    expect(accessTokenHash(TOKEN)).toBe(ath(TOKEN));
  });

  it('step 10: with server nonces, a missing or wrong nonce is OIDC_DPOP_NONCE_INVALID, a current one passes', async () => {
    const checkNonce = (n: unknown) => n === 'server-nonce';
    await rejected(proof(), 'has no "nonce"', 'OIDC_DPOP_NONCE_INVALID', REQUEST, { checkNonce });
    await rejected(proof({ nonce: 'stale' }), 'not a current server nonce', 'OIDC_DPOP_NONCE_INVALID', REQUEST, { checkNonce });
    await accepted(proof({ nonce: 'server-nonce' }), REQUEST, { checkNonce });
    // A proof wrong in another way is reported as such, not sent round for a nonce.
    await rejected(proof({ htm: 'POST' }), '"htm"', 'OIDC_DPOP_PROOF_INVALID', REQUEST, { checkNonce });
  });
});

describe('normalizeHtu and publicRequestUrl', () => {
  it.each([
    ['HTTPS://Example.COM:443/a', 'https://example.com/a'],
    ['http://example.com:80/a', 'http://example.com/a'],
    ['https://example.com', 'https://example.com/'],
    ['https://example.com/a/./b/../c', 'https://example.com/a/c'],
    ['https://example.com/%7e%41', 'https://example.com/~A'],
    ['https://example.com/a%2fb', 'https://example.com/a%2Fb'],
    ['https://example.com/a?q=1#f', 'https://example.com/a'],
    ['https://example.com:8443/a', 'https://example.com:8443/a'],
  ])('%s -> %s', (input, normal) => {
    expect(normalizeHtu(input)).toBe(normal);
  });

  it('keeps what is not equivalent apart: path case, an encoded slash, a trailing slash', () => {
    expect(normalizeHtu('https://example.com/A')).not.toBe(normalizeHtu('https://example.com/a'));
    expect(normalizeHtu('https://example.com/a%2Fb')).not.toBe(normalizeHtu('https://example.com/a/b'));
    expect(normalizeHtu('https://example.com/a/')).not.toBe(normalizeHtu('https://example.com/a'));
  });

  it.each(['/relative', 'ftp://example.com/a', 'https://u:p@example.com/a', 'not a url'])('%s is no htu', (input) => {
    expect(normalizeHtu(input)).toBeUndefined();
  });

  it('the request URL is the base URL (origin and prefix) plus the request path, never its query or another origin', () => {
    expect(publicRequestUrl('https://app.example.com', '/api/orders?x=1')).toBe('https://app.example.com/api/orders');
    expect(publicRequestUrl('https://app.example.com/prefix', '/api')).toBe('https://app.example.com/prefix/api');
    // A path that looks like an authority stays a path.
    expect(normalizeHtu(publicRequestUrl('https://app.example.com', '//evil.com/x'))).toBe('https://app.example.com//evil.com/x');
    // An absolute-form request target gives its path only.
    expect(publicRequestUrl('https://app.example.com', 'http://evil.com/api?x')).toBe('https://app.example.com/api');
  });
});

describe('the token binding (RFC 9449 6, 7.2)', () => {
  it('cnf.jkt equal to the proof key passes; another key, no cnf, or a malformed cnf.jkt is OIDC_ACCESS_TOKEN_INVALID', () => {
    expect(() => checkDpopBinding({ cnf: { jkt: 'abc' } }, 'abc')).not.toThrow();
    const code = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        return [(e as OidcError).code, (e as OidcError).message];
      }
      return undefined;
    };
    expect(code(() => checkDpopBinding({ cnf: { jkt: 'abc' } }, 'xyz'))?.[0]).toBe('OIDC_ACCESS_TOKEN_INVALID');
    expect(code(() => checkDpopBinding({}, 'xyz'))?.[1]).toContain('not DPoP-bound');
    expect(code(() => checkDpopBinding({ cnf: { 'x5t#S256': 'cert' } }, 'xyz'))?.[1]).toContain('not DPoP-bound');
    expect(code(() => checkDpopBinding({ cnf: { jkt: 42 } }, 'xyz'))?.[1]).toContain('not a JWK thumbprint');
  });

  it('a bound token is refused as a bearer token; an unbound one is not', () => {
    expect(() => refuseBoundBearerToken({ cnf: { jkt: 'abc' } })).toThrow(/must be sent with the DPoP scheme/);
    expect(() => refuseBoundBearerToken({ sub: 'x' })).not.toThrow();
    expect(boundJkt({ cnf: null })).toBeUndefined();
  });
});

describe('replay (RFC 9449 11.1)', () => {
  it('one key per (key, htu, jti): the same proof twice is the same key, a different jti or key another', async () => {
    const p = await proof({ claims: { jti: 'same' } });
    const a = await accepted(p);
    const b = await accepted(p);
    expect(dpopReplayKey(a)).toBe(dpopReplayKey(b));
    expect(dpopReplayKey(a)).toMatch(/^dpop-jti:[0-9a-f]{64}$/);
    expect(dpopReplayKey(await accepted(proof({ claims: { jti: 'other' } })))).not.toBe(dpopReplayKey(a));
    expect(dpopReplayKey(await accepted(proof({ claims: { jti: 'same' } }, other)))).not.toBe(dpopReplayKey(a));
  });

  it('a replayed jti is caught by the store (SET NX) for as long as the proof is acceptable, and then forgotten', async () => {
    let clock = 1_000_000_000_000;
    const store = new MemorySharedStore(60_000, () => clock);
    try {
      const now = Math.floor(clock / 1000);
      const v = await accepted(proof({ claims: { iat: now } }), REQUEST, { now });
      const ttl = dpopReplayTtlMs(v.iat, now, 60, 5);
      expect(ttl).toBe((60 + 5 + 1) * 1000);
      expect(await store.setIfAbsent(dpopReplayKey(v), '1', ttl)).toBe(true);
      expect(await store.setIfAbsent(dpopReplayKey(v), '1', ttl)).toBe(false);
      // Just before the proof leaves the window, still a replay; after the TTL, the proof is too old anyway.
      clock += ttl - 1;
      expect(await store.setIfAbsent(dpopReplayKey(v), '1', ttl)).toBe(false);
      clock += 1;
      await rejected(proof({ claims: { iat: now } }), 'seconds old', 'OIDC_DPOP_PROOF_INVALID', REQUEST, { now: Math.floor(clock / 1000) });
      expect(await store.setIfAbsent(dpopReplayKey(v), '1', ttl)).toBe(true);
    } finally {
      store.close();
    }
  });

  it('the TTL is bounded by maxAge + 2 x tolerance + 1 s, and at least a second', () => {
    expect(dpopReplayTtlMs(1000 + 5, 1000, 60, 5)).toBe(71_000);
    expect(dpopReplayTtlMs(1000 - 65, 1000, 60, 5)).toBe(1000);
    expect(dpopReplayTtlMs(0, 1000, 60, 5)).toBe(1000);
  });
});

describe('DpopNonces (RFC 9449 9)', () => {
  const t = 1_700_000_100;

  it('the current nonce is valid, as is the previous window, not the one before; base64url (NQCHAR)', () => {
    const n = new DpopNonces('s'.repeat(32));
    const nonce = n.current(t);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(n.isValid(nonce, t)).toBe(true);
    expect(n.isValid(nonce, t + DPOP_NONCE_WINDOW_SECONDS)).toBe(true);
    expect(n.isValid(nonce, t + 2 * DPOP_NONCE_WINDOW_SECONDS)).toBe(false);
    expect(n.current(t + DPOP_NONCE_WINDOW_SECONDS)).not.toBe(nonce);
  });

  it('instances with the same secret agree; another secret, garbage and non-strings are refused', () => {
    const a = new DpopNonces('s'.repeat(32));
    const b = new DpopNonces('s'.repeat(32));
    const c = new DpopNonces('t'.repeat(32));
    expect(b.isValid(a.current(t), t)).toBe(true);
    expect(c.isValid(a.current(t), t)).toBe(false);
    expect(a.isValid('garbage', t)).toBe(false);
    expect(a.isValid(undefined, t)).toBe(false);
    expect(a.isValid(42, t)).toBe(false);
  });

  it('a nonce says nothing of the secret it comes from: not the HMAC of the window under the secret itself', async () => {
    const { createHmac } = await import('node:crypto');
    const secret = 's'.repeat(32);
    const window = Math.floor(t / DPOP_NONCE_WINDOW_SECONDS);
    expect(new DpopNonces(secret).current(t)).not.toBe(createHmac('sha256', secret).update(`dpop-nonce:${window}`).digest('base64url'));
  });
});
