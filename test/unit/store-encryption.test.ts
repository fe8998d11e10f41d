/**
 * Sealing values at rest (src/store/encryption.ts, src/store/sealed-values.ts): the JWE codec
 * (dir + A256GCM, RFC 7518 4.5 / 5.3) seals and opens, picks the key by `kid` after a rotation, and
 * refuses what it must (another key, tampering, plaintext, a value copied under another store key);
 * SealedValues keeps values under keys of their own through it. Token sets:
 * test/unit/token-sets-at-rest.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { IDENTITY_CODEC, JweCodec, createCodec, keyId, type Refusal } from '../../src/store/encryption.js';
import { SealedValues } from '../../src/store/sealed-values.js';
import { MemorySharedStore } from '../../src/store/shared-store.js';
import type { TokenSet } from '../../src/store/token-store.js';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const K3 = randomBytes(32);
const STORE_KEY = 'tokens:{login-1}';
const SET: TokenSet = {
  version: 1,
  accessToken: 'at-secret',
  accessTokenExpiresAt: 2_000_000_000,
  obtainedAt: 1_900_000_000,
  refreshToken: 'rt-secret',
  idToken: 'idt',
};

/** A codec that records what it refused. */
function codec(keys: Uint8Array[]): { codec: JweCodec; refused: Array<[Refusal, string | undefined]> } {
  const refused: Array<[Refusal, string | undefined]> = [];
  return { codec: new JweCodec(keys, { onRefused: (reason, kid) => refused.push([reason, kid]) }), refused };
}

/** Replace one character of a base64url part with another valid one. */
function flip(jwe: string, part: number): string {
  const parts = jwe.split('.');
  const p = parts[part] as string;
  const i = Math.floor(p.length / 2);
  parts[part] = p.slice(0, i) + (p[i] === 'A' ? 'B' : 'A') + p.slice(i + 1);
  return parts.join('.');
}

describe('JweCodec', () => {
  it('round trip: a compact JWE, dir + A256GCM, with the kid of the key; nothing of the plaintext in clear', async () => {
    const { codec: c } = codec([K1]);
    const sealed = await c.seal(STORE_KEY, JSON.stringify(SET));
    expect(sealed.split('.')).toHaveLength(5);
    expect(sealed.split('.')[1]).toBe(''); // dir: no encrypted key (RFC 7516 7.1, RFC 7518 4.5)
    expect(sealed).not.toContain('rt-secret');
    expect(Buffer.from(sealed.split('.')[3] as string, 'base64url').toString('latin1')).not.toContain('rt-secret');
    const header = decodeProtectedHeader(sealed);
    expect(header).toMatchObject({ alg: 'dir', enc: 'A256GCM', kid: keyId(K1) });
    expect(header.kid).toBe(c.sealingKid);
    expect(keyId(K1)).toMatch(/^[\w-]{12}$/);
    expect(keyId(K1)).not.toBe(keyId(K2));
    expect(JSON.parse((await c.open(STORE_KEY, sealed)) as string)).toEqual(SET);
    // A fresh IV each time: the same plaintext never seals to the same value.
    expect(await c.seal(STORE_KEY, 'x')).not.toBe(await c.seal(STORE_KEY, 'x'));
    expect(await c.open(STORE_KEY, await c.seal(STORE_KEY, ''))).toBe('');
    expect(await c.open(STORE_KEY, await c.seal(STORE_KEY, 'é ✓ 𝄞'))).toBe('é ✓ 𝄞');
  });

  it('rotation: [new, old] opens what old sealed, with the key its kid names; new values get the new kid', async () => {
    const old = codec([K1]).codec;
    const sealedOld = await old.seal(STORE_KEY, 'v1');
    const { codec: rotated, refused } = codec([K2, K1]);
    expect(await rotated.open(STORE_KEY, sealedOld)).toBe('v1');
    const sealedNew = await rotated.seal(STORE_KEY, 'v2');
    expect(decodeProtectedHeader(sealedNew).kid).toBe(keyId(K2));
    expect(await rotated.open(STORE_KEY, sealedNew)).toBe('v2');
    // Step 1 of a rotation: an instance still sealing with the old key already opens the new one's values.
    expect(await codec([K1, K2]).codec.open(STORE_KEY, sealedNew)).toBe('v2');
    // The old-only instance cannot.
    const { codec: oldOnly, refused: oldRefused } = codec([K1]);
    expect(await oldOnly.open(STORE_KEY, sealedNew)).toBeUndefined();
    expect(oldRefused).toEqual([['unknown-key', keyId(K2)]]);
    expect(refused).toEqual([]);
  });

  it('a value sealed with a key that is not configured opens to undefined (its kid is unknown)', async () => {
    const sealed = await codec([K1]).codec.seal(STORE_KEY, 'v');
    const { codec: other, refused } = codec([K2, K3]);
    expect(await other.open(STORE_KEY, sealed)).toBeUndefined();
    expect(refused).toEqual([['unknown-key', keyId(K1)]]);
  });

  it('tampering with any part (header, IV, ciphertext, tag) opens to undefined', async () => {
    const { codec: c, refused } = codec([K1]);
    const sealed = await c.seal(STORE_KEY, JSON.stringify(SET));
    for (const part of [2, 3, 4]) expect(await c.open(STORE_KEY, flip(sealed, part)), `part ${part}`).toBeUndefined();
    // The protected header is authenticated (RFC 7516 5.1 step 14): change it, keep its kid.
    const [, ...rest] = sealed.split('.');
    const header = { ...decodeProtectedHeader(sealed), extra: 1 };
    expect(await c.open(STORE_KEY, [Buffer.from(JSON.stringify(header)).toString('base64url'), ...rest].join('.'))).toBeUndefined();
    expect(await c.open(STORE_KEY, sealed.slice(0, -2))).toBeUndefined();
    expect(refused.map(([r]) => r)).toEqual(['not-decryptable', 'not-decryptable', 'not-decryptable', 'not-decryptable', 'not-decryptable']);
  });

  it('a value in clear is refused when encryption is on (a planted token set is not used)', async () => {
    const { codec: c, refused } = codec([K1]);
    expect(await c.open(STORE_KEY, JSON.stringify(SET))).toBeUndefined();
    expect(await c.open(STORE_KEY, 'a.b.c')).toBeUndefined();
    expect(await c.open(STORE_KEY, '')).toBeUndefined();
    // Five parts but not a JWE header.
    expect(await c.open(STORE_KEY, 'bm90LWpzb24..aXY.Y3Q.dGFn')).toBeUndefined();
    expect(refused.map(([r]) => r)).toEqual(['not-sealed', 'not-sealed', 'not-sealed', 'not-sealed']);
  });

  it('a sealed value copied under another store key is refused (the store key is bound in the protected header)', async () => {
    const { codec: c, refused } = codec([K1]);
    const sealed = await c.seal('tokens:{victim}', JSON.stringify(SET));
    expect(await c.open('tokens:{attacker}', sealed)).toBeUndefined();
    expect(await c.open('tokens:{victim}', sealed)).toBeDefined();
    expect(refused).toEqual([['other-store-key', undefined]]);
  });

  it('without a kid, every key is tried (a JWE sealed by hand, not by this codec)', async () => {
    const { CompactEncrypt } = await import('jose');
    const { createHash } = await import('node:crypto');
    const sk = createHash('sha256').update(STORE_KEY).digest('base64url');
    const noKid = await new CompactEncrypt(new TextEncoder().encode('by hand')).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', sk }).encrypt(K1);
    expect(await codec([K2, K1]).codec.open(STORE_KEY, noKid)).toBe('by hand');
    const { codec: none, refused } = codec([K2, K3]);
    expect(await none.open(STORE_KEY, noKid)).toBeUndefined();
    expect(refused).toEqual([['not-decryptable', undefined]]);
  });

  it('refuses other algorithms even under a known kid (alg and enc are pinned)', async () => {
    const { CompactEncrypt } = await import('jose');
    const a128 = await new CompactEncrypt(new TextEncoder().encode('x'))
      .setProtectedHeader({ alg: 'dir', enc: 'A128GCM', kid: keyId(K1) })
      .encrypt(K1.subarray(0, 16));
    expect(await codec([K1]).codec.open(STORE_KEY, a128)).toBeUndefined();
  });

  it('refuses keys that are not 32 bytes, and no keys at all', () => {
    expect(() => new JweCodec([randomBytes(16)])).toThrow(/32 bytes, got 16/);
    expect(() => new JweCodec([])).toThrow(TypeError);
  });

  it('createCodec: no keys -> the identity codec (values as they are)', async () => {
    const identity = createCodec([]);
    expect(identity).toBe(IDENTITY_CODEC);
    expect(identity.encrypts).toBe(false);
    expect(await identity.seal(STORE_KEY, '{"a":1}')).toBe('{"a":1}');
    expect(await identity.open(STORE_KEY, '{"a":1}')).toBe('{"a":1}');
    expect(createCodec([K1]).encrypts).toBe(true);
  });
});

describe('SealedValues', () => {
  const stores: MemorySharedStore[] = [];
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
  });

  it('put / get / take / delete, sealed with the codec and bound to the key', async () => {
    const shared = new MemorySharedStore();
    stores.push(shared);
    const sealed = new SealedValues(shared, new JweCodec([K1]));
    await sealed.put('dpop:pending:1', '{"d":"private"}', 60_000);
    const raw = (await shared.get('dpop:pending:1')) as string;
    expect(raw.split('.')).toHaveLength(5);
    expect(raw).not.toContain('private');
    expect(await sealed.get('dpop:pending:1')).toBe('{"d":"private"}');
    expect(await sealed.get('dpop:pending:2')).toBeUndefined();
    // Copied under another key: refused.
    await shared.set('dpop:pending:2', raw, 60_000);
    expect(await sealed.get('dpop:pending:2')).toBeUndefined();
    // take: the value once, then gone.
    expect(await sealed.take('dpop:pending:1')).toBe('{"d":"private"}');
    expect(await sealed.take('dpop:pending:1')).toBeUndefined();
    expect(await shared.get('dpop:pending:1')).toBeUndefined();
    await sealed.put('k', 'v', 60_000);
    await sealed.delete('k');
    expect(await sealed.get('k')).toBeUndefined();
  });

  it('of concurrent takes, exactly one gets the value', async () => {
    const shared = new MemorySharedStore();
    stores.push(shared);
    const sealed = new SealedValues(shared, new JweCodec([K1]));
    await sealed.put('once', 'secret', 60_000);
    const results = await Promise.all(Array.from({ length: 10 }, () => sealed.take('once')));
    expect(results.filter((r) => r === 'secret')).toHaveLength(1);
    expect(results.filter((r) => r === undefined)).toHaveLength(9);
  });

  it('the TTL is the one given', async () => {
    let now = 1_000_000;
    const shared = new MemorySharedStore(60_000, () => now);
    stores.push(shared);
    const sealed = new SealedValues(shared, IDENTITY_CODEC);
    await sealed.put('k', 'v', 1000);
    now += 999;
    expect(await sealed.get('k')).toBe('v');
    now += 1;
    expect(await sealed.get('k')).toBeUndefined();
  });
});
