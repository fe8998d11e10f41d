/**
 * The SharedStore contract, run identically against a real redis-server through node-redis and
 * ioredis, and against the in-process MemorySharedStore; then TokenStore and SharedLock on top of
 * each. One redis-server per file (dynamic port, no persistence), stopped in afterAll.
 *
 * No assertion depends on how long a sleep or a command took. TTLs are checked where they are kept:
 * the memory store runs on a clock the test moves by hand (present 1 ms before the expiry, gone at
 * it); Redis's clock cannot be moved, so there PTTL shows the TTL that was set, and expiry itself is
 * shown by polling, with a bound, until Redis has dropped a short-lived key.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createCluster } from 'redis';
import { Cluster, Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { MemorySharedStore, type SharedStore } from '../../src/store/shared-store.js';
import { RedisSharedStore } from '../../src/store/redis-store.js';
import type { RedisClientLike } from '../../src/types.js';
import { TokenStore, type TokenSet } from '../../src/store/token-store.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { SharedLock } from '../../src/store/lock.js';
import { createOidcAuth } from '../../src/index.js';

let server: RedisServer | undefined;
let cluster: RedisCluster | undefined;
beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedisServer(), startRedisCluster()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

/** Independent view of the raw keys, through the client's own typed API (not the store's code path). */
interface RawAccess {
  get(key: string): Promise<string | null>;
  pttl(key: string): Promise<number>;
  keys(pattern: string): Promise<string[]>;
  setPx(key: string, value: string, px: number): Promise<void>;
  /** Shorten a key's TTL: stands for time passing on a server whose clock the test cannot move. */
  pexpire(key: string, px: number): Promise<void>;
  /** The members of a set of expiring members (a sorted set in Redis), raw. */
  setMembers(key: string): Promise<string[]>;
}

/** The memory store's clock: frozen until the test moves it. */
class ManualClock {
  private t = Date.now();
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
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
  /** The store's clock (memory only); undefined on Redis. */
  clock: ManualClock | undefined;
  close(): Promise<void>;
}

interface Factory {
  name: string;
  open(): Promise<Opened>;
}

const uniquePrefix = (tag: string) => `t:${tag}:${randomBytes(4).toString('hex')}:`;

type NodeRedisClient = ReturnType<typeof createClient>;

/** RawAccess through node-redis's typed API (a cluster client has the same methods); `keys` as the topology needs. */
function nodeRedisRaw(c: NodeRedisClient, keys: (pattern: string) => Promise<string[]>): RawAccess {
  return {
    get: (k) => c.get(k),
    pttl: (k) => c.pTTL(k),
    keys,
    setPx: async (k, v, px) => {
      await c.set(k, v, { expiration: { type: 'PX', value: px } });
    },
    pexpire: async (k, px) => {
      await c.pExpire(k, px);
    },
    setMembers: (k) => c.zRange(k, 0, -1),
  };
}

/** RawAccess through ioredis's API (Redis and Cluster alike). */
function ioRedisRaw(c: Redis, keys: (pattern: string) => Promise<string[]>): RawAccess {
  return {
    get: (k) => c.get(k),
    pttl: (k) => c.pttl(k),
    keys,
    setPx: async (k, v, px) => {
      await c.set(k, v, 'PX', px);
    },
    pexpire: async (k, px) => {
      await c.pexpire(k, px);
    },
    setMembers: (k) => c.zrange(k, 0, -1),
  };
}

/** Two Redis stores on two connections (two "processes"), under a fresh prefix. */
function redisOpened(c1: RedisClientLike, c2: RedisClientLike, tag: string, raw: RawAccess, close: () => Promise<unknown>): Opened {
  const prefix = uniquePrefix(tag);
  const store = new RedisSharedStore(c1, prefix);
  const other = new RedisSharedStore(c2, prefix);
  return {
    store,
    other,
    prefix,
    withPrefix: (p) => new RedisSharedStore(c1, p),
    clock: undefined,
    raw,
    async close() {
      // The stores' own subscriber connections first, then the clients.
      await Promise.all([store.close(), other.close()]);
      await close();
    },
  };
}

const factories: Factory[] = [
  {
    name: 'redis via node-redis',
    async open() {
      const url = server!.url;
      const c1 = createClient({ url });
      const c2 = createClient({ url });
      await Promise.all([c1.connect(), c2.connect()]);
      return redisOpened(
        c1,
        c2,
        'nr',
        nodeRedisRaw(c1, (p) => c1.keys(p)),
        () => Promise.all([c1.close(), c2.close()]),
      );
    },
  },
  {
    name: 'redis via ioredis',
    async open() {
      const url = server!.url;
      const c1 = new Redis(url, { lazyConnect: true });
      const c2 = new Redis(url, { lazyConnect: true });
      await Promise.all([c1.connect(), c2.connect()]);
      return redisOpened(
        c1,
        c2,
        'io',
        ioRedisRaw(c1, (p) => c1.keys(p)),
        () => Promise.all([c1.quit(), c2.quit()]),
      );
    },
  },
  {
    // A 3-master Redis Cluster: every command this store sends names one key and is routed by it.
    name: 'redis cluster via node-redis createCluster',
    async open() {
      const rootNodes = cluster!.urls.map((url) => ({ url }));
      const c1 = createCluster({ rootNodes });
      const c2 = createCluster({ rootNodes });
      await Promise.all([c1.connect(), c2.connect()]);
      /** KEYS on every master: one node only holds its own slots. */
      const keysEverywhere = async (pattern: string) => (await Promise.all(c1.masters.map(async (m) => (await c1.nodeClient(m)).keys(pattern)))).flat();
      const raw = nodeRedisRaw(c1 as unknown as NodeRedisClient, keysEverywhere);
      return redisOpened(c1, c2, 'nrc', raw, () => Promise.all([c1.close(), c2.close()]));
    },
  },
  {
    name: 'redis cluster via ioredis Cluster',
    async open() {
      const c1 = new Cluster(cluster!.nodes, { lazyConnect: true });
      const c2 = new Cluster(cluster!.nodes, { lazyConnect: true });
      await Promise.all([c1.connect(), c2.connect()]);
      const keysEverywhere = async (pattern: string) => (await Promise.all(c1.nodes('master').map((n) => n.keys(pattern)))).flat();
      return redisOpened(c1, c2, 'ioc', ioRedisRaw(c1 as unknown as Redis, keysEverywhere), () => Promise.all([c1.quit(), c2.quit()]));
    },
  },
  {
    name: 'memory',
    async open() {
      const clock = new ManualClock();
      const store = new MemorySharedStore(60_000, clock.now);
      return {
        store,
        other: store,
        prefix: '',
        raw: undefined,
        withPrefix: undefined,
        clock,
        async close() {
          store.close();
        },
      };
    },
  },
];

/** Poll until `done` holds; fail after 5 s. Only for waiting on Redis's own clock. */
async function eventually(done: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
    await sleep(10);
  }
}

/**
 * `key` (without prefix) holds an entry whose TTL is `ttlMs`, as `present` observes it.
 * Memory: the clock moved to 1 ms before the expiry leaves it present, to the expiry removes it.
 * Redis: PTTL is at most `ttlMs` and more than half of it (the TTLs used here are seconds long, so
 * no pause between two commands reaches that margin); the key is left in place.
 */
async function expectTtl(o: Opened, key: string, ttlMs: number, present: () => Promise<boolean>): Promise<void> {
  if (o.clock) {
    o.clock.advance(ttlMs - 1);
    expect(await present(), `${key} 1 ms before its TTL`).toBe(true);
    o.clock.advance(1);
    expect(await present(), `${key} at its TTL`).toBe(false);
    return;
  }
  const pttl = await o.raw!.pttl(`${o.prefix}${key}`);
  expect(pttl).toBeLessThanOrEqual(ttlMs);
  expect(pttl).toBeGreaterThan(ttlMs / 2);
}

/** Let an entry given `ttlMs` expire: move the memory clock past it, or wait (bounded) for Redis. */
async function letExpire(o: Opened, ttlMs: number, gone: () => Promise<boolean>, what: string): Promise<void> {
  if (o.clock) o.clock.advance(ttlMs);
  else await eventually(gone, what);
  expect(await gone(), what).toBe(true);
}

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
    await store.set('k-ttl', 'v1', 60_000);
    expect(await store.get('k-ttl')).toBe('v1');
    // Overwrite replaces value and TTL (a shorter one, so a kept old TTL would show).
    await store.set('k-ttl', 'v2', 20_000);
    expect(await store.get('k-ttl')).toBe('v2');
    await expectTtl(o, 'k-ttl', 20_000, async () => (await store.get('k-ttl')) === 'v2');
    // Expiry end to end: a short-lived value is gone once its TTL has passed.
    await store.set('k-ttl-short', 'v', 50);
    await letExpire(o, 50, async () => (await store.get('k-ttl-short')) === undefined, 'k-ttl-short expired');
  });

  it('delete removes a key', async () => {
    await o.store.set('k-del', 'v', 10_000);
    await o.store.delete('k-del');
    expect(await o.store.get('k-del')).toBeUndefined();
    await o.store.delete('k-del'); // idempotent
  });

  it('setIfAbsent: only the first caller wins, and the key is free again after its TTL', async () => {
    const { store } = o;
    expect(await store.setIfAbsent('k-nx', 'first', 20_000)).toBe(true);
    expect(await store.setIfAbsent('k-nx', 'second', 20_000)).toBe(false);
    expect(await store.get('k-nx')).toBe('first');
    await expectTtl(o, 'k-nx', 20_000, async () => (await store.get('k-nx')) === 'first');
    // Free again once the TTL has passed: the next caller wins.
    expect(await store.setIfAbsent('k-nx-short', 'first', 50)).toBe(true);
    await letExpire(o, 50, async () => (await store.get('k-nx-short')) === undefined, 'k-nx-short expired');
    expect(await store.setIfAbsent('k-nx-short', 'third', 20_000)).toBe(true);
    expect(await store.get('k-nx-short')).toBe('third');
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
    await store.set('k-cas', 'v1', 60_000);
    expect(await store.compareAndSet('k-cas', 'not-v1', 'v2', 10_000)).toBe(false);
    expect(await store.get('k-cas')).toBe('v1');
    expect(await store.compareAndSet('k-cas', 'v1', 'v2', 20_000)).toBe(true);
    expect(await store.get('k-cas')).toBe('v2');
    // The stale expectation no longer matches.
    expect(await store.compareAndSet('k-cas', 'v1', 'v3', 10_000)).toBe(false);
    expect(await store.get('k-cas')).toBe('v2');
    // The successful swap set its own TTL (shorter than the first write's 60 s).
    await expectTtl(o, 'k-cas', 20_000, async () => (await store.get('k-cas')) === 'v2');
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

  it('extendIfEquals: resets the TTL only while the value still matches (lease renewal)', async () => {
    const { store } = o;
    await store.set('k-ext', 'owner-a', 1_000);
    expect(await store.extendIfEquals('k-ext', 'owner-b', 30_000)).toBe(false);
    expect(await store.extendIfEquals('k-ext', 'owner-a', 30_000)).toBe(true);
    await expectTtl(o, 'k-ext', 30_000, async () => (await store.get('k-ext')) === 'owner-a');
    expect(await store.extendIfEquals('k-absent', 'owner-a', 30_000)).toBe(false);
    expect(await store.get('k-absent')).toBeUndefined();
  });

  it('addToSet / members / removeFromSet: a set of members that expire one by one', async () => {
    const { store } = o;
    expect(await store.members('k-set')).toEqual([]);
    await store.addToSet('k-set', 'a', 10_000);
    await store.addToSet('k-set', 'b', 10_000);
    await store.addToSet('k-set', 'a', 10_000); // a set: no duplicates
    expect((await store.members('k-set')).sort()).toEqual(['a', 'b']);
    if (o.raw) expect((await o.raw.setMembers(`${o.prefix}k-set`)).sort()).toEqual(['a', 'b']);
    await store.removeFromSet('k-set', 'a');
    expect(await store.members('k-set')).toEqual(['b']);
    await store.removeFromSet('k-set', 'b');
    expect(await store.members('k-set')).toEqual([]);
    if (o.raw) expect(await o.raw.keys(`${o.prefix}k-set`)).toEqual([]);
    await store.removeFromSet('k-set', 'nothing'); // no-op on an absent set

    // Each member keeps its own expiry: adding y does not keep x alive, and the key lives as long
    // as its longest-lived member.
    await store.addToSet('k-set-ttl', 'x', 20_000);
    await store.addToSet('k-set-ttl', 'y', 60_000);
    await expectTtl(o, 'k-set-ttl', 60_000, async () => (await store.members('k-set-ttl')).includes('y'));
    await store.addToSet('k-set-mix', 'long', 60_000);
    await store.addToSet('k-set-mix', 'short', 50);
    await letExpire(o, 50, async () => (await store.members('k-set-mix')).join() === 'long', 'the short-lived member expired, the long-lived one stays');
    // Expiry end to end.
    await store.addToSet('k-set-short', 'x', 50);
    await letExpire(o, 50, async () => (await store.members('k-set-short')).length === 0, 'k-set-short expired');
  });

  it('addToSet: a set that keeps getting members holds only the live ones (1,000 adds, each expiring)', async () => {
    const { store } = o;
    for (let i = 0; i < 1000; i++) await store.addToSet('k-set-churn', `session-${i}`, 50);
    // Every one of them expired; one more add prunes them.
    await letExpire(o, 50, async () => (await store.members('k-set-churn')).length === 0, 'the 1,000 members expired');
    await store.addToSet('k-set-churn', 'session-live', 60_000);
    expect(await store.members('k-set-churn')).toEqual(['session-live']);
    if (o.raw) expect(await o.raw.setMembers(`${o.prefix}k-set-churn`)).toEqual(['session-live']);
  });

  it('subscribe / publish: another connection (instance) is woken; after unsubscribe or close it is not', async () => {
    const heard: string[] = [];
    const stopA = await o.other.subscribe('ch-a', () => heard.push('a'));
    const stopB = await o.other.subscribe('ch-a', () => heard.push('b')); // two waiters, one subscription
    await o.store.publish('ch-a');
    await eventually(async () => heard.length === 2, 'both listeners woken');
    expect(heard.sort()).toEqual(['a', 'b']);
    await stopA();
    await o.store.publish('ch-a');
    await eventually(async () => heard.length === 3, 'the remaining listener woken');
    expect(heard[2]).toBe('b');
    await stopB();
    // Nothing listens any more: a publish reaches nobody (a later marker channel shows the earlier
    // message would have arrived by then on this connection).
    const marker: string[] = [];
    const stopMarker = await o.other.subscribe('ch-marker', () => marker.push('m'));
    await o.store.publish('ch-a');
    await o.store.publish('ch-marker');
    await eventually(async () => marker.length === 1, 'marker delivered');
    await sleep(50);
    expect(heard).toHaveLength(3);
    await stopMarker();
  });

  it('setIfPresent: writes only over an existing key (tombstones only for sets that exist)', async () => {
    const { store } = o;
    expect(await store.setIfPresent('k-xx', 'v', 10_000)).toBe(false);
    expect(await store.get('k-xx')).toBeUndefined();
    await store.set('k-xx', 'old', 1_000);
    expect(await store.setIfPresent('k-xx', 'new', 30_000)).toBe(true);
    await expectTtl(o, 'k-xx', 30_000, async () => (await store.get('k-xx')) === 'new');
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
    if (o.raw) expect(await o.raw.get(`${o.prefix}tokens:{login-1}`)).toBe(JSON.stringify(set));
    await o.store.set('tokens:{login-garbage}', '{not json', 10_000);
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
    const tokens = new TokenStore(o.store, 1_000);
    await tokens.create('login-long-session', tokenSet(), 60_000);
    // The session's 60 s, not the store's 1 s (on Redis PTTL > 30 s; on memory present at 59.999 s).
    await expectTtl(o, 'tokens:{login-long-session}', 60_000, async () => (await tokens.read('login-long-session')) !== undefined);
  });

  it('TokenStore: sets expire with the store TTL', async () => {
    const tokens = new TokenStore(o.store, 20_000);
    await tokens.create('login-ttl', tokenSet());
    expect(await tokens.read('login-ttl')).toBeDefined();
    await expectTtl(o, 'tokens:{login-ttl}', 20_000, async () => (await tokens.read('login-ttl')) !== undefined);
    const short = new TokenStore(o.store, 50);
    await short.create('login-ttl-short', tokenSet());
    await letExpire(o, 50, async () => (await short.read('login-ttl-short')) === undefined, 'login-ttl-short expired');
  });

  // ---- SharedLock on top ------------------------------------------------------------------

  it('SharedLock: 20 concurrent single tryWith calls on one key from two instances -> exactly one acquires', async () => {
    const opts = { leaseMs: 5_000, maxWaitMs: 6_000, pollMs: 10 };
    const locks = [new SharedLock(o.store, opts), new SharedLock(o.other, opts)];
    let inside = 0;
    // The holder keeps the lock until the 19 other attempts have answered, so none of them can
    // come after its release, however the calls are scheduled. The 5 s bound only ends the wait
    // when a second caller also got in (then fewer than 19 answer, and the count below fails).
    let answered = 0;
    let othersAnswered!: () => void;
    const allOthersAnswered = new Promise<void>((resolve) => (othersAnswered = resolve));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        locks[i % 2]!.tryWith('lk-once', async () => {
          inside++;
          let bound: NodeJS.Timeout | undefined;
          await Promise.race([allOthersAnswered, new Promise((r) => (bound = setTimeout(r, 5_000)))]);
          clearTimeout(bound);
          return i;
        }).then((r) => {
          if (!r.acquired && ++answered === 19) othersAnswered();
          return r;
        }),
      ),
    );
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
    expect(inside).toBe(1);
    // Released afterwards.
    expect(await o.store.get('lock:{lk-once}')).toBeUndefined();
  });

  it('SharedLock: mutual exclusion across two instances - 20 callers retrying until acquired never overlap (max concurrency 1)', async () => {
    const opts = { leaseMs: 5_000, maxWaitMs: 6_000, pollMs: 5 };
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
    expect(await o.store.get('lock:{lk-mutex}')).toBeUndefined();
  });

  it('SharedLock: the holder renews its short lease while its work outlasts it; nobody else gets in meanwhile', async () => {
    const opts = { leaseMs: 150, maxWaitMs: 1_000, pollMs: 10 };
    const holder = new SharedLock(o.store, opts);
    const other = new SharedLock(o.other, opts);
    let stop!: () => void;
    const working = new Promise<void>((r) => (stop = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let seenLost = false;
    const run = holder.tryWith('lk-lease', async (lease) => {
      entered();
      await working;
      seenLost = lease.lost;
      return 'done';
    });
    await inside;
    // Four leases long (by Redis's clock, which the renewals keep pushing out), nobody else gets in.
    for (let i = 0; i < 12; i++) {
      expect(await other.tryWith('lk-lease', async () => 'intruder')).toEqual({ acquired: false });
      await sleep(50);
    }
    if (o.raw) expect(await o.raw.pttl(`${o.prefix}lock:{lk-lease}`)).toBeGreaterThan(0);
    stop();
    expect(await run).toEqual({ acquired: true, value: 'done' });
    expect(seenLost).toBe(false);
    expect(await o.store.get('lock:{lk-lease}')).toBeUndefined();
  });

  it("SharedLock: a holder whose lease is taken from it learns lease.lost (and keeps its hands off the new owner's lock)", async () => {
    const holder = new SharedLock(o.store, { leaseMs: 150, maxWaitMs: 1_000, pollMs: 10 });
    let lost = false;
    const run = holder.tryWith('lk-lost', async (lease) => {
      // As if the lease had lapsed during a stall and another instance had taken the lock.
      await o.other.set('lock:{lk-lost}', 'another-owner', 60_000);
      await eventually(async () => lease.lost, 'the renewal to notice');
      lost = lease.lost;
    });
    expect(await run).toEqual({ acquired: true, value: undefined });
    expect(lost).toBe(true);
    expect(await o.store.get('lock:{lk-lost}')).toBe('another-owner');
    await o.store.delete('lock:{lk-lost}');
  });

  it('SharedLock: a dead holder (lock key set directly, never released) blocks only until its TTL, then the lock is free', async () => {
    const lock = new SharedLock(o.other, { leaseMs: 5_000, maxWaitMs: 6_000, pollMs: 10 });
    const ran: string[] = [];
    const attempt = (label: string) => lock.tryWith('lk-dead', async () => ran.push(label));
    // A process that took the lock for 60 s and died.
    if (o.raw) await o.raw.setPx(`${o.prefix}lock:{lk-dead}`, 'dead-process', 60_000);
    else await o.store.set('lock:{lk-dead}', 'dead-process', 60_000);
    expect(await attempt('early')).toEqual({ acquired: false });
    if (o.clock) {
      o.clock.advance(60_000 - 1);
      expect(await attempt('just before expiry')).toEqual({ acquired: false });
      o.clock.advance(1);
      expect(await attempt('after-expiry')).toEqual({ acquired: true, value: 1 });
    } else {
      // As if the minute had passed: Redis drops the key by itself, and the next attempt gets in.
      await o.raw!.pexpire(`${o.prefix}lock:{lk-dead}`, 50);
      await eventually(async () => (await o.raw!.get(`${o.prefix}lock:{lk-dead}`)) === null, 'dead lock expired');
      expect(await attempt('after-expiry')).toEqual({ acquired: true, value: 1 });
    }
    expect(ran).toEqual(['after-expiry']);
    expect(await o.store.get('lock:{lk-dead}')).toBeUndefined();
  });

  it("SharedLock: release is owner-checked - a holder whose lock expired does not delete the next holder's lock", async () => {
    // First's lease lasts 100 ms and is not renewed (a stalled holder); second's long enough to still
    // be held when first finishes.
    const first = new SharedLock(o.store, { leaseMs: 100, renew: false, maxWaitMs: 1_000, pollMs: 10 });
    const second = new SharedLock(o.other, { leaseMs: 5_000, maxWaitMs: 6_000, pollMs: 10 });
    let releaseSecond!: () => void;
    const secondHolding = new Promise<void>((r) => (releaseSecond = r));
    let secondEntered!: () => void;
    const secondIn = new Promise<void>((r) => (secondEntered = r));
    let finishFirst!: () => void;
    const firstWorking = new Promise<void>((r) => (finishFirst = r));
    let firstEntered!: () => void;
    const firstIn = new Promise<void>((r) => (firstEntered = r));

    // First holder outlives its lock TTL (slow work, ended by the test once second holds the lock).
    const firstRun = first.tryWith('lk-owner', async () => {
      firstEntered();
      await firstWorking;
      return 'first done';
    });
    await firstIn;
    await letExpire(o, 100, async () => (await o.store.get('lock:{lk-owner}')) === undefined, "first's lock expired");
    const secondRun = second.tryWith('lk-owner', async () => {
      secondEntered();
      await secondHolding;
      return 'second done';
    });
    await secondIn;
    const secondOwner = await o.store.get('lock:{lk-owner}');
    expect(secondOwner).toBeDefined();

    // First finishes and "releases": must not touch second's lock.
    finishFirst();
    expect(await firstRun).toEqual({ acquired: true, value: 'first done' });
    expect(await o.store.get('lock:{lk-owner}')).toBe(secondOwner);
    expect(await first.tryWith('lk-owner', async () => 'third')).toEqual({ acquired: false });

    releaseSecond();
    expect(await secondRun).toEqual({ acquired: true, value: 'second done' });
    expect(await o.store.get('lock:{lk-owner}')).toBeUndefined();
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
