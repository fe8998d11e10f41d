/**
 * Tokens at rest against a real redis-server: with storeEncryptionKeys, a login's token set in Redis
 * is a compact JWE (dir + A256GCM) that holds none of its tokens in clear, and refresh works through
 * it; without the option it is JSON as before; a key rotation works across instances (A seals with
 * K1, B configured [K2, K1] opens it, refreshes and seals with K2), and an instance that lost the
 * key seeds the set again from the session copy instead of failing.
 *
 * The instances are apps in this process (test/support/rp-app.ts), each with its own createOidcAuth
 * and its own Redis client, sharing one express-session store (what connect-redis gives several
 * processes) and one redis-server. Expiry is forced by moving the clock (Date only; the fake OP
 * runs in this process and shares it).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import session from 'express-session';
import request from 'supertest';
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import { decodeProtectedHeader } from 'jose';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { reservePort, startRpApp, type RpApp } from '../support/rp-app.js';
import { loginWithCookies, meWithCookie } from '../support/login.js';
import { JweCodec, keyId } from '../../src/store/encryption.js';
import type { TokenSet } from '../../src/store/token-store.js';
import type { RedisClientLike } from '../../src/types.js';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const K3 = randomBytes(32);
const b64 = (k: Buffer) => k.toString('base64');

interface Me {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: number;
}

let redisServer: RedisServer;
let raw: ReturnType<typeof createClient>;
let op: FakeOp;

beforeAll(async () => {
  [redisServer, op] = await Promise.all([startRedisServer(), startFakeOp()]);
  raw = createClient({ url: redisServer.url });
  await raw.connect();
}, 30_000);
afterAll(async () => {
  await raw?.close();
  await Promise.all([op?.close(), redisServer?.stop()]);
});

const cleanups: Array<() => Promise<unknown>> = [];
beforeEach(() => {
  op.reset();
  op.requests.length = 0;
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
});
afterEach(async () => {
  vi.useRealTimers();
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
});

/** One Redis key prefix per test: the test finds its login's token set by it. */
let prefix = '';
let sessions = new session.MemoryStore();
beforeEach(() => {
  prefix = `enc:${randomBytes(4).toString('hex')}:`;
  sessions = new session.MemoryStore();
});

/** An instance: its own library and Redis client; the session store and prefix of this test. */
async function instance(keys: Buffer[] | undefined, opts: { client?: 'node-redis' | 'ioredis'; baseUrl?: string } = {}): Promise<RpApp> {
  let client: RedisClientLike;
  if (opts.client === 'ioredis') {
    const io = new Redis(redisServer.url, { lazyConnect: true });
    await io.connect();
    cleanups.push(() => io.quit());
    client = io;
  } else {
    const nr = createClient({ url: redisServer.url });
    await nr.connect();
    cleanups.push(() => nr.close());
    client = nr;
  }
  const reserved = await reservePort();
  const app = await startRpApp({
    reserved,
    store: sessions,
    oidc: {
      issuer: op.issuer,
      clientId: op.clientId,
      clientSecret: op.clientSecret,
      baseUrl: opts.baseUrl ?? reserved.url,
      redis: client,
      redisPrefix: prefix,
      ...(keys ? { storeEncryptionKeys: keys.map(b64) } : {}),
    },
  });
  cleanups.push(() => app.close());
  return app;
}

/** The one token-set key of this test, without the prefix (as the library's codec binds it). */
async function tokenKey(): Promise<string> {
  const keys = await raw.keys(`${prefix}tokens:*`);
  expect(keys).toHaveLength(1);
  return (keys[0] as string).slice(prefix.length);
}

async function stored(key: string): Promise<string> {
  const value = await raw.get(prefix + key);
  expect(value).not.toBeNull();
  return value as string;
}

/** Assert a stored value is a dir/A256GCM JWE under `kid` that shows none of `secrets`, and open it. */
async function expectSealed(key: string, kid: string, secrets: string[], keys: Buffer[]): Promise<TokenSet> {
  const value = await stored(key);
  const parts = value.split('.');
  expect(parts).toHaveLength(5);
  expect(decodeProtectedHeader(value)).toMatchObject({ alg: 'dir', enc: 'A256GCM', kid });
  for (const secret of secrets) {
    expect(value).not.toContain(secret);
    for (const part of parts) expect(Buffer.from(part, 'base64url').toString('latin1')).not.toContain(secret);
  }
  const opened = await new JweCodec(keys).open(key, value);
  expect(opened).toBeDefined();
  return JSON.parse(opened as string) as TokenSet;
}

async function me(app: RpApp, cookie: string): Promise<Me> {
  const res = await meWithCookie(app, cookie);
  expect(res.status, res.text).toBe(200);
  return res.body as Me;
}

/** Move the shared clock past this access token's expiry. */
function expire(m: Me): void {
  vi.setSystemTime((m.accessTokenExpiresAt + 5) * 1000);
}

const presented = () => op.requests.filter((r) => r.path === '/token' && r.body.grant_type === 'refresh_token').map((r) => r.body.refresh_token);
const refusals = (app: RpApp) => app.logs.filter((l) => l.level === 'warn' && l.message.includes('storeEncryptionKeys'));

describe('tokens at rest in Redis', () => {
  it('with storeEncryptionKeys the token set is a JWE without a token in clear, and refresh works through it', async () => {
    const a = await instance([K1]);
    const cookie = await loginWithCookies(a.url);
    const m0 = await me(a, cookie);
    expect(typeof m0.refreshToken).toBe('string');
    const key = await tokenKey();
    const set0 = await expectSealed(key, keyId(K1), [m0.accessToken, m0.refreshToken], [K1]);
    expect(set0).toMatchObject({ accessToken: m0.accessToken, refreshToken: m0.refreshToken });
    expect(typeof set0.idToken).toBe('string');
    // The ID token (kept server-side for logout) is not in clear either.
    expect(await stored(key)).not.toContain(set0.idToken);

    expire(m0);
    const m1 = await me(a, cookie);
    expect(m1.accessToken).not.toBe(m0.accessToken);
    expect(m1.refreshToken).not.toBe(m0.refreshToken);
    const set1 = await expectSealed(key, keyId(K1), [m1.accessToken, m1.refreshToken], [K1]);
    expect(set1).toMatchObject({ version: set0.version + 1, accessToken: m1.accessToken, refreshToken: m1.refreshToken });

    // The rotated refresh token was stored and is the one presented next.
    expire(m1);
    const m2 = await me(a, cookie);
    expect(presented()).toEqual([m0.refreshToken, m1.refreshToken]);
    const set2 = await expectSealed(key, keyId(K1), [m2.refreshToken], [K1]);
    expect(set2.version).toBe(set0.version + 2);
    expect(refusals(a)).toEqual([]);

    // Logout opens the set for its id_token_hint, and the tombstone it leaves is sealed too.
    const out = await request(a.url).post('/oidc/logout').set('cookie', cookie);
    expect(out.status, out.text).toBe(303);
    expect(new URL(out.headers.location as string).searchParams.get('id_token_hint')).toBe(set2.idToken);
    expect(await expectSealed(key, keyId(K1), [], [K1])).toMatchObject({ ended: true });
  });

  it('without the option the token set is JSON, as before', async () => {
    const a = await instance(undefined);
    const cookie = await loginWithCookies(a.url);
    const m0 = await me(a, cookie);
    const value = await stored(await tokenKey());
    expect(JSON.parse(value)).toMatchObject({ accessToken: m0.accessToken, refreshToken: m0.refreshToken });
  });

  it('rotation across instances: A seals with K1; B [K2, K1] opens it, refreshes and seals with K2; C [K1, K2] (step 1 of a rotation) opens that', async () => {
    const a = await instance([K1]);
    const b = await instance([K2, K1], { client: 'ioredis', baseUrl: a.url });
    const c = await instance([K1, K2], { baseUrl: a.url });
    const cookie = await loginWithCookies(a.url);
    const m0 = await me(a, cookie);
    const key = await tokenKey();
    const set0 = await expectSealed(key, keyId(K1), [m0.refreshToken], [K1]);

    expire(m0);
    const m1 = await me(b, cookie);
    expect(m1.refreshToken).not.toBe(m0.refreshToken);
    const set1 = await expectSealed(key, keyId(K2), [m1.refreshToken], [K2]);
    expect(set1).toMatchObject({ version: set0.version + 1, refreshToken: m1.refreshToken });

    expire(m1);
    const m2 = await me(c, cookie);
    expect((await expectSealed(key, keyId(K1), [m2.refreshToken], [K1])).version).toBe(set0.version + 2);
    expect(presented()).toEqual([m0.refreshToken, m1.refreshToken]);
    // Each instance opened what the other had sealed: no value was refused.
    expect([...refusals(a), ...refusals(b), ...refusals(c)]).toEqual([]);
  });

  it('an instance without the key that sealed the set warns once, seeds it again from the session copy and seals it with its own key', async () => {
    const a = await instance([K1]);
    const d = await instance([K3], { baseUrl: a.url });
    const cookie = await loginWithCookies(a.url);
    const m0 = await me(a, cookie);
    const key = await tokenKey();
    const set0 = await expectSealed(key, keyId(K1), [], [K1]);

    expire(m0);
    const m1 = await me(d, cookie);
    expect(m1.refreshToken).not.toBe(m0.refreshToken);
    expect(presented()).toEqual([m0.refreshToken]);
    expect(refusals(d)).toHaveLength(1);
    expect(refusals(d)[0]?.meta).toMatchObject({ reason: 'unknown-key', kid: keyId(K1) });
    // Rewritten, not left blocking every later write for the login.
    expect(await expectSealed(key, keyId(K3), [m1.refreshToken], [K3])).toMatchObject({ version: set0.version + 1, refreshToken: m1.refreshToken });
  });
});
