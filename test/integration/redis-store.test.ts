/**
 * The SharedStore contract, run identically against a real redis-server through node-redis and
 * ioredis, and against the in-process MemorySharedStore; then TokenStore and SharedLock on top of
 * each. One redis-server per file (dynamic port, no persistence), stopped in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { MemorySharedStore, type SharedStore } from '../../src/store/shared-store.js';
import { RedisSharedStore } from '../../src/store/redis-store.js';
import { TokenStore, type TokenSet } from '../../src/store/token-store.js';
import { SharedLock, sleep } from '../../src/store/lock.js';
import { createOidcAuth } from '../../src/index.js';

let server: RedisServer | undefined;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});

/** Independent view of the raw keys, through the client's own typed API (not the store's code path). */
interface RawAccess {
  get(key: string): Promise<string | null>;
  pttl(key: string): Promise<number>;
  keys(pattern: string): Promise<string[]>;
  setPx(key: string, value: string, px: number): Promise<void>;
  smembers(key: string): Promise<string[]>;
}

interface Opened {
  /** Store of "process 1". */
  store: SharedStore;
  /** A second store on a separate connection ("process 2"); the same object for memory. */
  other: SharedStore;
  /** Full key as stored, for raw inspection. */
  prefix: string;
  raw: RawAccess | undefined;
  /** Another store on the same server under a different prefix (Redis only). */
  withPrefix: ((prefix: string) => SharedStore) | undefined;
  close(): Promise<void>;
}

interface Factory {
  name: string;
  open(): Promise<Opened>;
}

const uniquePrefix = (tag: string) => `t:${tag}:${randomBytes(4).toString('hex')}:`;

const factories: Factory[] = [
  {
    name: 'redis via node-redis',
    async open() {
      const url = server!.url;
      const c1 = createClient({ url });
      const c2 = createClient({ url });
      await Promise.all([c1.connect(), c2.connect()]);
      const prefix = uniquePrefix('nr');
      return {
        store: new RedisSharedStore(c1, prefix),
        other: new RedisSharedStore(c2, prefix),
        prefix,
        withPrefix: (p) => new RedisSharedStore(c1, p),
        raw: {
          get: (k) => c1.get(k),
          pttl: (k) => c1.pTTL(k),
          keys: (p) => c1.keys(p),
          setPx: async (k, v, px) => {
            await c1.set(k, v, { expiration: { type: 'PX', value: px } });
          },
          smembers: (k) => c1.sMembers(k),
        },
        async close() {
          await Promise.all([c1.close(), c2.close()]);
        },
      };
    },
  },
  {
    name: 'redis via ioredis',
    async open() {
      const url = server!.url;
      const c1 = new Redis(url, { lazyConnect: true });
      const c2 = new Redis(url, { lazyConnect: true });
      await Promise.all([c1.connect(), c2.connect()]);
      const prefix = uniquePrefix('io');
      return {
        store: new RedisSharedStore(c1, prefix),
        other: new RedisSharedStore(c2, prefix),
        prefix,
        withPrefix: (p) => new RedisSharedStore(c1, p),
        raw: {
          get: (k) => c1.get(k),
          pttl: (k) => c1.pttl(k),
          keys: (p) => c1.keys(p),
          setPx: async (k, v, px) => {
            await c1.set(k, v, 'PX', px);
          },
          smembers: (k) => c1.smembers(k),
        },
        async close() {
          await Promise.all([c1.quit(), c2.quit()]);
        },
      };
    },
  },
  {
    name: 'memory',
    async open() {
      const store = new MemorySharedStore();
      return {
        store,
        other: store,
        prefix: '',
        raw: undefined,
        withPrefix: undefined,
        async close() {
          store.close();
        },
      };
    },
  },
];

const tokenSet = (over: Partial<TokenSet> = {}): TokenSet => ({
  version: 1,
  accessToken: 'at-1',
  accessTokenExpiresAt: 2_000_000_000,
  obtainedAt: 1_700_000_000,
  refreshToken: 'rt-1',
  idToken: 'id-1',
  ...over,
});

describe.each(factories)('SharedStore contract: $name', (factory) => {
  let o: Opened;
  beforeAll(async () => {
    o = await factory.open();
  });
  afterAll(async () => {
    await o?.close();
  });

  it('get/set round-trips and the value expires after its TTL', async () => {
    const { store } = o;
    expect(await store.get('missing')).toBeUndefined();
    await store.set('k-ttl', 'v1', 200);
    expect(await store.get('k-ttl')).toBe('v1');
    if (o.raw) {
      const pttl = await o.raw.pttl(`${o.prefix}k-ttl`);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(200);
    }
    // Overwrite replaces value and TTL.
    await store.set('k-ttl', 'v2', 200);
    expect(await store.get('k-ttl')).toBe('v2');
    await sleep(300);
    expect(await store.get('k-ttl')).toBeUndefined();
  });

  it('delete removes a key', async () => {
    await o.store.set('k-del', 'v', 10_000);
    await o.store.delete('k-del');
    expect(await o.store.get('k-del')).toBeUndefined();
    await o.store.delete('k-del'); // idempotent
  });

  it('setIfAbsent: only the first caller wins, and the key is free again after its TTL', async () => {
    const { store } = o;
    expect(await store.setIfAbsent('k-nx', 'first', 200)).toBe(true);
    expect(await store.setIfAbsent('k-nx', 'second', 200)).toBe(false);
    expect(await store.get('k-nx')).toBe('first');
    await sleep(300);
    expect(await store.setIfAbsent('k-nx', 'third', 200)).toBe(true);
    expect(await store.get('k-nx')).toBe('third');
  });

  it('setIfAbsent: 20 concurrent callers on two connections -> exactly one true, and its value is stored', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? o.other : o.store).setIfAbsent('k-nx-race', `caller-${i}`, 10_000).then((ok) => ({ i, ok }))),
    );
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    expect(await o.store.get('k-nx-race')).toBe(`caller-${winners[0]!.i}`);
  });

  it('compareAndSet: wrong expected -> false and value unchanged; right expected -> true, new value and TTL', async () => {
    const { store } = o;
    expect(await store.compareAndSet('k-cas', 'anything', 'x', 10_000)).toBe(false); // absent key
    expect(await store.get('k-cas')).toBeUndefined();
    await store.set('k-cas', 'v1', 10_000);
    expect(await store.compareAndSet('k-cas', 'not-v1', 'v2', 10_000)).toBe(false);
    expect(await store.get('k-cas')).toBe('v1');
    expect(await store.compareAndSet('k-cas', 'v1', 'v2', 200)).toBe(true);
    expect(await store.get('k-cas')).toBe('v2');
    // The stale expectation no longer matches.
    expect(await store.compareAndSet('k-cas', 'v1', 'v3', 10_000)).toBe(false);
    expect(await store.get('k-cas')).toBe('v2');
    if (o.raw) expect(await o.raw.pttl(`${o.prefix}k-cas`)).toBeLessThanOrEqual(200);
    await sleep(300);
    expect(await store.get('k-cas')).toBeUndefined();
  });

  it('deleteIfEquals: deletes only when the value still matches', async () => {
    const { store } = o;
    await store.set('k-die', 'owner-a', 10_000);
    expect(await store.deleteIfEquals('k-die', 'owner-b')).toBe(false);
    expect(await store.get('k-die')).toBe('owner-a');
    expect(await store.deleteIfEquals('k-die', 'owner-a')).toBe(true);
    expect(await store.get('k-die')).toBeUndefined();
    expect(await store.deleteIfEquals('k-die', 'owner-a')).toBe(false);
  });

  it('addToSet / members / removeFromSet, with the TTL on the whole set refreshed on add', async () => {
    const { store } = o;
    expect(await store.members('k-set')).toEqual([]);
    await store.addToSet('k-set', 'a', 10_000);
    await store.addToSet('k-set', 'b', 10_000);
    await store.addToSet('k-set', 'a', 10_000); // a set: no duplicates
    expect((await store.members('k-set')).sort()).toEqual(['a', 'b']);
    if (o.raw) expect((await o.raw.smembers(`${o.prefix}k-set`)).sort()).toEqual(['a', 'b']);
    await store.removeFromSet('k-set', 'a');
    expect(await store.members('k-set')).toEqual(['b']);
    await store.removeFromSet('k-set', 'b');
    expect(await store.members('k-set')).toEqual([]);
    if (o.raw) expect(await o.raw.keys(`${o.prefix}k-set`)).toEqual([]);
    await store.removeFromSet('k-set', 'nothing'); // no-op on an absent set

    // TTL: gone after it; each add pushes the expiry out.
    await store.addToSet('k-set-ttl', 'x', 300);
    await sleep(200);
    await store.addToSet('k-set-ttl', 'y', 300);
    await sleep(200);
    expect((await store.members('k-set-ttl')).sort()).toEqual(['x', 'y']);
    await sleep(200);
    expect(await store.members('k-set-ttl')).toEqual([]);
  });

  it('the key prefix is applied to every key written (raw keys inspected with the client)', async () => {
    if (!o.raw) {
      // Memory has no namespace to share: the prefix only matters on a shared Redis.
      expect(o.store.kind).toBe('memory');
      return;
    }
    const { store, raw, prefix } = o;
    await store.set('p-plain', 'v', 10_000);
    await store.setIfAbsent('p-nx', 'v', 10_000);
    await store.set('p-cas', 'v', 10_000);
    await store.compareAndSet('p-cas', 'v', 'w', 10_000);
    await store.addToSet('p-set', 'm', 10_000);
    expect((await raw.keys(`${prefix}p-*`)).sort()).toEqual([`${prefix}p-cas`, `${prefix}p-nx`, `${prefix}p-plain`, `${prefix}p-set`]);
    expect(await raw.get(`${prefix}p-cas`)).toBe('w');
    // Nothing leaked outside the prefix.
    expect(await raw.keys('p-*')).toEqual([]);
    // A store with another prefix on the same server sees none of it.
    const foreign = o.withPrefix!(`${prefix}other:`);
    expect(await foreign.get('p-plain')).toBeUndefined();
    expect(await foreign.setIfAbsent('p-nx', 'mine', 10_000)).toBe(true);
    expect(await store.get('p-nx')).toBe('v');
  });

  // ---- TokenStore on top ------------------------------------------------------------------

  it('TokenStore: create then read returns the set and its exact raw string; absent and unreadable read as undefined', async () => {
    const tokens = new TokenStore(o.store, 10_000);
    expect(await tokens.read('login-none')).toBeUndefined();
    const set = tokenSet();
    await tokens.create('login-1', set);
    const read = await tokens.read('login-1');
    expect(read?.set).toEqual(set);
    expect(read?.raw).toBe(JSON.stringify(set));
    if (o.raw) expect(await o.raw.get(`${o.prefix}tokens:login-1`)).toBe(JSON.stringify(set));
    await o.store.set('tokens:login-garbage', '{not json', 10_000);
    expect(await tokens.read('login-garbage')).toBeUndefined();
  });

  it('TokenStore: replace is compare-and-set; two concurrent replace() from the same previous -> exactly one wins', async () => {
    const t1 = new TokenStore(o.store, 10_000);
    const t2 = new TokenStore(o.other, 10_000);
    await t1.create('login-cas', tokenSet());
    const previous = (await t1.read('login-cas'))!;
    const a = tokenSet({ version: 2, accessToken: 'at-A', refreshToken: 'rt-A' });
    const b = tokenSet({ version: 2, accessToken: 'at-B', refreshToken: 'rt-B' });
    const [okA, okB] = await Promise.all([t1.replace('login-cas', previous, a), t2.replace('login-cas', previous, b)]);
    expect([okA, okB].filter(Boolean)).toHaveLength(1);
    expect((await t1.read('login-cas'))?.set).toEqual(okA ? a : b);
    // The loser's stale previous can never overwrite the winner later.
    expect(await t2.replace('login-cas', previous, tokenSet({ version: 3 }))).toBe(false);
    expect((await t1.read('login-cas'))?.set).toEqual(okA ? a : b);
  });

  it('TokenStore: replace from undefined seeds only when no set exists', async () => {
    const tokens = new TokenStore(o.store, 10_000);
    expect(await tokens.replace('login-seed', undefined, tokenSet({ accessToken: 'seeded' }))).toBe(true);
    expect(await tokens.replace('login-seed', undefined, tokenSet({ accessToken: 'second seed' }))).toBe(false);
    expect((await tokens.read('login-seed'))?.set.accessToken).toBe('seeded');
  });

  it('TokenStore: end() writes a tombstone that outranks any version', async () => {
    const tokens = new TokenStore(o.store, 10_000);
    await tokens.create('login-end', tokenSet());
    const before = (await tokens.read('login-end'))!;
    await tokens.end('login-end');
    const tomb = (await tokens.read('login-end'))!;
    expect(tomb.set.ended).toBe(true);
    expect(tomb.set.version).toBe(Number.MAX_SAFE_INTEGER);
    expect(tomb.set.refreshToken).toBeUndefined();
    expect(tomb.set.accessToken).toBeUndefined();
    // A refresh computed from the pre-tombstone set cannot resurrect the login.
    expect(await tokens.replace('login-end', before, tokenSet({ version: 2 }))).toBe(false);
    expect((await tokens.read('login-end'))?.set.ended).toBe(true);
  });

  it('TokenStore: a write lives at least as long as the session that points to it', async () => {
    const tokens = new TokenStore(o.store, 200);
    await tokens.create('login-long-session', tokenSet(), 2_000);
    await sleep(400);
    expect(await tokens.read('login-long-session')).toBeDefined();
  });

  it('TokenStore: sets expire with the store TTL', async () => {
    const tokens = new TokenStore(o.store, 200);
    await tokens.create('login-ttl', tokenSet());
    expect(await tokens.read('login-ttl')).toBeDefined();
    await sleep(300);
    expect(await tokens.read('login-ttl')).toBeUndefined();
  });

  // ---- SharedLock on top ------------------------------------------------------------------

  it('SharedLock: 20 concurrent single tryWith calls on one key from two instances -> exactly one acquires', async () => {
    const opts = { ttlMs: 5_000, maxWaitMs: 6_000, pollMs: 10 };
    const locks = [new SharedLock(o.store, opts), new SharedLock(o.other, opts)];
    let inside = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        locks[i % 2]!.tryWith('lk-once', async () => {
          inside++;
          await sleep(100);
          return i;
        }),
      ),
    );
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
    expect(inside).toBe(1);
    // Released afterwards.
    expect(await o.store.get('lock:lk-once')).toBeUndefined();
  });

  it('SharedLock: mutual exclusion across two instances - 20 callers retrying until acquired never overlap (max concurrency 1)', async () => {
    const opts = { ttlMs: 5_000, maxWaitMs: 6_000, pollMs: 5 };
    const locks = [new SharedLock(o.store, opts), new SharedLock(o.other, opts)];
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const lock = locks[i % 2]!;
        for (;;) {
          const r = await lock.tryWith('lk-mutex', async () => {
            active++;
            maxActive = Math.max(maxActive, active);
            await sleep(15);
            order.push(i);
            active--;
          });
          if (r.acquired) return;
          await sleep(opts.pollMs);
        }
      }),
    );
    expect(maxActive).toBe(1);
    expect(order.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await o.store.get('lock:lk-mutex')).toBeUndefined();
  });

  it('SharedLock: a dead holder (lock key set directly, never released) blocks only until ttlMs, then the lock is free', async () => {
    const lock = new SharedLock(o.other, { ttlMs: 5_000, maxWaitMs: 6_000, pollMs: 10 });
    // A process that took the lock for 300 ms and died.
    if (o.raw) await o.raw.setPx(`${o.prefix}lock:lk-dead`, 'dead-process', 300);
    else await o.store.set('lock:lk-dead', 'dead-process', 300);
    const ran: string[] = [];
    expect(await lock.tryWith('lk-dead', async () => ran.push('early'))).toEqual({ acquired: false });
    const started = Date.now();
    let acquiredAt = 0;
    for (;;) {
      const r = await lock.tryWith('lk-dead', async () => ran.push('after-expiry'));
      if (r.acquired) {
        acquiredAt = Date.now();
        break;
      }
      if (Date.now() - started > 3_000) throw new Error('lock never expired');
      await sleep(10);
    }
    expect(ran).toEqual(['after-expiry']);
    expect(acquiredAt - started).toBeLessThan(1_000);
    expect(await o.store.get('lock:lk-dead')).toBeUndefined();
  });

  it('SharedLock: release is owner-checked - a holder whose lock expired does not delete the next holder\'s lock', async () => {
    // First's lock lasts 150 ms; second's long enough to still be held when first finishes.
    const first = new SharedLock(o.store, { ttlMs: 150, maxWaitMs: 1_000, pollMs: 10 });
    const second = new SharedLock(o.other, { ttlMs: 5_000, maxWaitMs: 6_000, pollMs: 10 });
    let releaseSecond!: () => void;
    const secondHolding = new Promise<void>((r) => (releaseSecond = r));
    let secondEntered!: () => void;
    const secondIn = new Promise<void>((r) => (secondEntered = r));

    // First holder outlives its lock TTL (slow work).
    const firstRun = first.tryWith('lk-owner', () => sleep(400).then(() => 'first done'));
    await sleep(250); // first's lock has expired
    const secondRun = second.tryWith('lk-owner', async () => {
      secondEntered();
      await secondHolding;
      return 'second done';
    });
    await secondIn;
    const secondOwner = await o.store.get('lock:lk-owner');
    expect(secondOwner).toBeDefined();

    // First finishes and "releases": must not touch second's lock.
    expect(await firstRun).toEqual({ acquired: true, value: 'first done' });
    expect(await o.store.get('lock:lk-owner')).toBe(secondOwner);
    expect(await first.tryWith('lk-owner', async () => 'third')).toEqual({ acquired: false });

    releaseSecond();
    expect(await secondRun).toEqual({ acquired: true, value: 'second done' });
    expect(await o.store.get('lock:lk-owner')).toBeUndefined();
  });
});

describe('createOidcAuth redis option', () => {
  const base = { issuer: 'https://op.example', clientId: 'c', clientSecret: 's', baseUrl: 'https://rp.example', env: {} };

  it('rejects an object that is neither a node-redis nor an ioredis client with OIDC_CONFIG_INVALID naming "redis"', () => {
    let caught: unknown;
    try {
      createOidcAuth({ ...base, redis: {} as never });
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'OIDC_CONFIG_INVALID' });
    expect((caught as Error).message).toContain('"redis"');
  });

  it('accepts a real node-redis client and a real ioredis client', async () => {
    const nr = createClient({ url: server!.url });
    const io = new Redis(server!.url, { lazyConnect: true });
    await Promise.all([nr.connect(), io.connect()]);
    try {
      for (const client of [nr, io]) {
        const oidc = createOidcAuth({ ...base, redis: client });
        await oidc.close();
      }
    } finally {
      await Promise.all([nr.close(), io.quit()]);
    }
  });
});
