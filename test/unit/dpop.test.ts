/**
 * DPoP on the client side (src/protocol/dpop.ts, src/session/dpop-keys.ts): proofs as RFC 9449
 * 4.2 describes them, nonce challenges (8, 9), the bounded nonce cache, and the per-login keys
 * that wait in the shared store between login and callback.
 */
import { describe, expect, it } from 'vitest';
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify } from 'jose';
import { DpopNonces, accessTokenHash, createDpopProof, generateDpopKey, isNonceChallenge, proofTarget, sendWithDpop } from '../../src/protocol/dpop.js';
import { DpopKeys } from '../../src/session/dpop-keys.js';
import { MemorySharedStore } from '../../src/store/shared-store.js';
import { SealedValues } from '../../src/store/sealed-values.js';
import { IDENTITY_CODEC } from '../../src/store/encryption.js';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/http/client.js';

describe('createDpopProof (RFC 9449 4.2)', () => {
  it('typ dpop+jwt, the public key as jwk, jti/htm/htu/iat; ath and nonce when given; verifiable with the embedded key', async () => {
    const { key } = await generateDpopKey('ES256');
    const proof = await createDpopProof(key, { htm: 'POST', url: 'https://op.example/token?x=1#f', nonce: 'n-1', accessToken: 'at-1' });
    const header = decodeProtectedHeader(proof);
    expect(header.typ).toBe('dpop+jwt');
    expect(header.alg).toBe('ES256');
    expect(header.jwk).not.toHaveProperty('d');
    expect(await calculateJwkThumbprint(header.jwk as never)).toBe(key.jkt);
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    expect(payload).toMatchObject({ htm: 'POST', htu: 'https://op.example/token', nonce: 'n-1', ath: accessTokenHash('at-1') });
    expect(typeof payload.jti).toBe('string');
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(5);
  });

  it('ath is base64url(SHA-256(token)) (RFC 9449 4.2 example)', () => {
    // The example access token and ath of RFC 9449 7.1.
    expect(accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU')).toBe('fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
  });

  it('htu drops query and fragment', () => {
    expect(proofTarget('https://api.example/a/b?c=d#e')).toBe('https://api.example/a/b');
  });
});

describe('nonces (RFC 9449 8, 9)', () => {
  it('recognises the provider (400 use_dpop_nonce) and resource server (401 DPoP error="use_dpop_nonce") challenges only', () => {
    expect(isNonceChallenge(400, {}, JSON.stringify({ error: 'use_dpop_nonce' }))).toBe(true);
    expect(isNonceChallenge(400, {}, JSON.stringify({ error: 'invalid_grant' }))).toBe(false);
    expect(isNonceChallenge(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"' }, undefined)).toBe(true);
    expect(isNonceChallenge(401, new Headers({ 'www-authenticate': 'DPoP error="invalid_token"' }), undefined)).toBe(false);
    expect(isNonceChallenge(200, {}, JSON.stringify({ error: 'use_dpop_nonce' }))).toBe(false);
  });

  it('keeps the latest nonce per origin, refuses malformed ones, and is bounded', () => {
    const n = new DpopNonces(2);
    n.remember('https://a.example/token', { 'dpop-nonce': 'one' });
    n.remember('https://a.example/other', { 'dpop-nonce': 'two' });
    expect(n.get('https://a.example/x')).toBe('two');
    n.remember('https://a.example/x', { 'dpop-nonce': 'bad nonce"' });
    expect(n.get('https://a.example/x')).toBe('two');
    n.remember('https://b.example/', { 'dpop-nonce': 'b' });
    n.remember('https://c.example/', { 'dpop-nonce': 'c' });
    expect(n.get('https://a.example/')).toBeUndefined();
    expect(n.get('https://c.example/')).toBe('c');
  });

  it('sendWithDpop retries once with the nonce the server gave, with a fresh request each time', async () => {
    const { key } = await generateDpopKey('ES256');
    const seen: Array<{ nonce: unknown; build: number }> = [];
    let builds = 0;
    const http = {
      send: async (url: string, req: HttpRequest): Promise<HttpResponse> => {
        const { payload } = await jwtVerify(req.headers?.dpop as string, EmbeddedJWK);
        seen.push({ nonce: payload.nonce, build: Number(req.headers?.build) });
        return payload.nonce === 'srv-1'
          ? { url, status: 200, headers: {}, text: '{}' }
          : { url, status: 400, headers: { 'dpop-nonce': 'srv-1' }, text: JSON.stringify({ error: 'use_dpop_nonce' }) };
      },
    } as unknown as HttpClient;
    const nonces = new DpopNonces();
    const res = await sendWithDpop(http, 'https://op.example/token', () => ({ method: 'POST', headers: { build: String(++builds) } }), { key, nonces });
    expect(res.status).toBe(200);
    expect(seen).toEqual([
      { nonce: undefined, build: 1 },
      { nonce: 'srv-1', build: 2 },
    ]);
    // Remembered: the next request carries it from the start.
    expect(nonces.get('https://op.example/par')).toBe('srv-1');
  });
});

describe('DpopKeys (session/dpop-keys.ts)', () => {
  it('a pending key is claimed once, by any instance on the same store; an unknown reference is undefined', async () => {
    const shared = new MemorySharedStore();
    try {
      const a = new DpopKeys(new SealedValues(shared, IDENTITY_CODEC), 'ES256', 60_000);
      const b = new DpopKeys(new SealedValues(shared, IDENTITY_CODEC), 'ES256', 60_000);
      const { ref, jkt } = await a.begin();
      const [first, second] = await Promise.all([b.claim(ref), a.claim(ref)]);
      const claimed = first ?? second;
      expect([first, second].filter(Boolean)).toHaveLength(1);
      expect(claimed?.key.jkt).toBe(jkt);
      expect(await b.claim('nope')).toBeUndefined();
    } finally {
      shared.close();
    }
  });
});
