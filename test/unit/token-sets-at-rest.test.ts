/**
 * Token sets at rest (src/store/token-store.ts, src/store/stores.ts, the storeEncryptionKeys option):
 * the token store seals every write (create, replace, tombstone) with the store's codec, keeps
 * compare-and-set on the stored ciphertext, and seeds a set again over one it cannot read;
 * createStores builds the codec from the keys and warns once per kind of refused value; the option
 * is checked at start-up with messages naming it and its env var (and never quoting a key).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { IDENTITY_CODEC, JweCodec, keyId } from '../../src/store/encryption.js';
import { MemorySharedStore } from '../../src/store/shared-store.js';
import { TokenStore, type TokenSet } from '../../src/store/token-store.js';
import { createStores, type StoreSettings } from '../../src/store/stores.js';
import { resolveConfig } from '../../src/config.js';
import { isOidcError, type OidcError } from '../../src/errors.js';
import type { OidcAuthOptions, OidcLogger } from '../../src/types.js';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const K3 = randomBytes(32);
const SET: TokenSet = {
  version: 1,
  accessToken: 'at-secret',
  accessTokenExpiresAt: 2_000_000_000,
  obtainedAt: 1_900_000_000,
  refreshToken: 'rt-secret',
  idToken: 'idt',
};

describe('TokenStore with the JWE codec (memory store)', () => {
  const stores: MemorySharedStore[] = [];
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
  });
  const memory = () => {
    const s = new MemorySharedStore();
    stores.push(s);
    return s;
  };
  const RAW_KEY = 'tokens:{login-1}';

  it('create, replace (compare-and-set on the ciphertext) and the tombstone are sealed; reads open them', async () => {
    const shared = memory();
    const tokens = new TokenStore(shared, 60_000, new JweCodec([K1]));
    await tokens.create('login-1', SET);
    const raw1 = (await shared.get(RAW_KEY)) as string;
    expect(raw1.split('.')).toHaveLength(5);
    expect(raw1).not.toContain('rt-secret');
    const read1 = await tokens.read('login-1');
    expect(read1).toEqual({ set: SET, raw: raw1 });

    const next = { ...SET, version: 2, refreshToken: 'rt-2' };
    expect(await tokens.replace('login-1', read1, next)).toBe(true);
    // A writer holding the superseded read loses: compare-and-set on the stored ciphertext.
    expect(await tokens.replace('login-1', read1, { ...SET, version: 2, refreshToken: 'rt-lost' })).toBe(false);
    expect((await tokens.read('login-1'))?.set).toEqual(next);

    await tokens.end('login-1');
    const tomb = (await shared.get(RAW_KEY)) as string;
    expect(tomb.split('.')).toHaveLength(5);
    expect((await tokens.read('login-1'))?.set).toMatchObject({ ended: true });
  });

  it('without a codec the stored value is the JSON, as before', async () => {
    const shared = memory();
    const tokens = new TokenStore(shared, 60_000);
    await tokens.create('login-1', SET);
    expect(JSON.parse((await shared.get(RAW_KEY)) as string)).toEqual(SET);
  });

  it('a planted plaintext set reads as absent, and seeding from the session copy replaces it', async () => {
    const shared = memory();
    const tokens = new TokenStore(shared, 60_000, new JweCodec([K1]));
    await shared.set(RAW_KEY, JSON.stringify({ ...SET, version: 99, refreshToken: 'planted' }), 60_000);
    expect(await tokens.read('login-1')).toBeUndefined();
    const seeded = { ...SET, version: 2 };
    expect(await tokens.replace('login-1', undefined, seeded)).toBe(true);
    expect((await tokens.read('login-1'))?.set).toEqual(seeded);
    // Seeding over a readable set still loses, as before.
    expect(await tokens.replace('login-1', undefined, { ...SET, version: 3 })).toBe(false);
    expect((await tokens.read('login-1'))?.set).toEqual(seeded);
  });

  it('a set sealed with a key that was removed reads as absent and is rewritten with the current key', async () => {
    const shared = memory();
    await new TokenStore(shared, 60_000, new JweCodec([K1])).create('login-1', SET);
    const tokens = new TokenStore(shared, 60_000, new JweCodec([K2]));
    expect(await tokens.read('login-1')).toBeUndefined();
    expect(await tokens.replace('login-1', undefined, { ...SET, version: 2 })).toBe(true);
    expect(decodeProtectedHeader((await shared.get(RAW_KEY)) as string).kid).toBe(keyId(K2));
  });

  it("one login's sealed set copied under another login's key reads as absent", async () => {
    const shared = memory();
    const tokens = new TokenStore(shared, 60_000, new JweCodec([K1]));
    await tokens.create('victim', SET);
    await shared.set('tokens:{attacker}', (await shared.get('tokens:{victim}')) as string, 60_000);
    expect(await tokens.read('attacker')).toBeUndefined();
    expect((await tokens.read('victim'))?.set).toEqual(SET);
  });
});

describe('createStores', () => {
  const silent: OidcLogger = { debug() {}, info() {}, warn() {}, error() {} };
  const settings = (keys: Uint8Array[], logger: OidcLogger = silent): StoreSettings => ({
    redis: undefined,
    redisPrefix: 'oidc:',
    tokenStoreTtlSeconds: 3600,
    storeEncryptionKeys: keys,
    bearer: { cacheMaxEntries: 10, cacheTtlSeconds: 60 },
    timeoutMs: 5000,
    logger,
  });

  it('builds the codec from the keys and gives it to the token store and stores.sealed; warns once per reason', async () => {
    const warnings: Array<{ message: string; meta: Record<string, unknown> | undefined }> = [];
    const stores = createStores(settings([K2, K1], { ...silent, warn: (message, meta) => void warnings.push({ message, meta }) }));
    try {
      expect(stores.codec.encrypts).toBe(true);
      await stores.tokens.create('login-1', SET);
      const raw = (await stores.shared.get('tokens:{login-1}')) as string;
      expect(decodeProtectedHeader(raw).kid).toBe(keyId(K2));
      await stores.sealed.put('x', 'y', 1000);
      expect(await stores.codec.open('x', (await stores.shared.get('x')) as string)).toBe('y');

      await stores.shared.set('tokens:{a}', '{"version":1}', 60_000);
      await stores.shared.set('tokens:{b}', '{"version":1}', 60_000);
      expect(await stores.tokens.read('a')).toBeUndefined();
      expect(await stores.tokens.read('b')).toBeUndefined();
      await stores.shared.set('tokens:{c}', await new JweCodec([K3]).seal('tokens:{c}', '{}'), 60_000);
      expect(await stores.tokens.read('c')).toBeUndefined();
      expect(warnings.map((w) => w.meta?.reason)).toEqual(['not-sealed', 'unknown-key']);
      expect(warnings[0]?.message).toContain('"storeEncryptionKeys" (env OIDC_STORE_ENCRYPTION_KEYS)');
      expect(warnings[1]?.meta?.kid).toBe(keyId(K3));
    } finally {
      await stores.close();
    }
  });

  it('without keys: the identity codec, token sets stored as JSON', async () => {
    const stores = createStores(settings([]));
    try {
      expect(stores.codec).toBe(IDENTITY_CODEC);
      await stores.tokens.create('login-1', SET);
      expect(JSON.parse((await stores.shared.get('tokens:{login-1}')) as string)).toEqual(SET);
    } finally {
      await stores.close();
    }
  });
});

describe('the storeEncryptionKeys option', () => {
  const BASE: OidcAuthOptions = {
    clientId: 'client-1',
    clientSecret: 'secret-1',
    baseUrl: 'https://app.example.com',
    issuer: 'https://op.example.com',
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  };
  const resolve = (options: OidcAuthOptions, env: Record<string, string> = {}) => resolveConfig({ ...BASE, ...options, env });
  const NAMED = '"storeEncryptionKeys" (env OIDC_STORE_ENCRYPTION_KEYS)';

  function problems(fn: () => unknown): readonly string[] {
    try {
      fn();
    } catch (err) {
      expect(isOidcError(err)).toBe(true);
      expect((err as OidcError).code).toBe('OIDC_CONFIG_INVALID');
      return (err as OidcError).problems ?? [];
    }
    throw new Error('expected OIDC_CONFIG_INVALID');
  }

  it('defaults to no keys', () => {
    expect(resolve({}).storeEncryptionKeys).toEqual([]);
    expect(resolve({}, { OIDC_STORE_ENCRYPTION_KEYS: '' }).storeEncryptionKeys).toEqual([]);
  });

  it('accepts base64 (openssl rand -base64 32) and base64url, padded or not, in code or comma separated in the env; resolved to the bytes in order', () => {
    const b64 = K1.toString('base64');
    const b64url = K2.toString('base64url');
    expect(b64).toMatch(/=$/);
    expect(resolve({ storeEncryptionKeys: [b64, b64url] }).storeEncryptionKeys.map((k) => Buffer.from(k).toString('hex'))).toEqual([
      K1.toString('hex'),
      K2.toString('hex'),
    ]);
    expect(resolve({ storeEncryptionKeys: b64 }).storeEncryptionKeys).toHaveLength(1);
    const fromEnv = resolve({}, { OIDC_STORE_ENCRYPTION_KEYS: ` ${b64url}, ${b64} ,${K3.toString('base64url')}= ` }).storeEncryptionKeys;
    expect(fromEnv.map((k) => Buffer.from(k).toString('hex'))).toEqual([K2.toString('hex'), K1.toString('hex'), K3.toString('hex')]);
  });

  it('a key of the wrong length is refused, saying 32 bytes and what it decodes to, without quoting the key', () => {
    const short = randomBytes(16).toString('base64url');
    const [p, ...rest] = problems(() => resolve({ storeEncryptionKeys: [K1.toString('base64'), short] }));
    expect(rest).toEqual([]);
    expect(p).toBe(`option ${NAMED} entry 2 must be 32 random bytes, base64url or base64 (openssl rand -base64 32); it decodes to 16 bytes`);
    expect(p).not.toContain(short);
  });

  it('a hex key gets a hint; a passphrase is not base64', () => {
    expect(problems(() => resolve({}, { OIDC_STORE_ENCRYPTION_KEYS: K1.toString('hex') }))).toEqual([
      `option ${NAMED} entry 1 must be 32 random bytes, base64url or base64 (openssl rand -base64 32); it decodes to 48 bytes (it looks like hex: give the key as base64)`,
    ]);
    expect(problems(() => resolve({ storeEncryptionKeys: ['correct horse battery staple!'] }))[0]).toBe(
      `option ${NAMED} entry 1 must be 32 random bytes, base64url or base64 (openssl rand -base64 32); it is not base64`,
    );
    // Mixed alphabets, stray padding, a length no base64 has.
    for (const bad of [`${K1.toString('base64url').slice(0, 40)}+/_-`, `=${K1.toString('base64')}`, `${K1.toString('base64url')}A`]) {
      expect(problems(() => resolve({ storeEncryptionKeys: [bad] }))[0], bad).toMatch(/entry 1 must be 32 random bytes/);
    }
  });

  it('the same key twice is refused (also once as base64 and once as base64url)', () => {
    expect(problems(() => resolve({ storeEncryptionKeys: [K1.toString('base64'), K2.toString('base64'), K1.toString('base64url')] }))).toEqual([
      `option ${NAMED} entries 1 and 3 are the same key`,
    ]);
  });

  it('a value of another type is refused', () => {
    expect(problems(() => resolve({ storeEncryptionKeys: [42] as unknown as string[] }))).toEqual([`option ${NAMED} must be a list of strings`]);
  });
});
