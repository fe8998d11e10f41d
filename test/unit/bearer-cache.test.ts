/**
 * src/store/bearer-cache.ts: the bearer token validation cache. Time is Date only (faked), so
 * TTL boundaries are exact; the shared store is the in-process MemorySharedStore on the same
 * clock, presented as Redis where the cache is meant to use it (it ignores a memory store,
 * which would only duplicate its own LRU).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { BearerCache, hashToken, type BearerCacheOptions, type BearerValidation } from '../../src/store/bearer-cache.js';
import { MemorySharedStore, type SharedStore } from '../../src/store/shared-store.js';
import { captureLogger, type CapturedLog } from '../support/logger.js';

const T0_MS = 1_700_000_000_000;
const T0 = T0_MS / 1000;
const API = 'https://api.example.com';
const TTL_SECONDS = 60;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0_MS);
});
afterEach(() => {
  vi.useRealTimers();
});

/** Move the clock to T0 + ms. */
const at = (ms: number) => vi.setSystemTime(T0_MS + ms);

function validation(sub: string, exp: number | undefined = T0 + 3600): BearerValidation {
  return { source: 'jwt', claims: { iss: 'https://op.example.com', sub }, exp };
}

/** A validate() spy resolving to `result`. */
function validator(result: BearerValidation) {
  return vi.fn(async () => result);
}

interface Setup {
  cache: BearerCache;
  logs: CapturedLog[];
}

function newCache(opts: Partial<Omit<BearerCacheOptions, 'logger'>> = {}): Setup {
  const logs: CapturedLog[] = [];
  return { cache: new BearerCache({ maxEntries: 100, ttlSeconds: TTL_SECONDS, shared: undefined, logger: captureLogger(logs), ...opts }), logs };
}

/** The memory store on the test's clock, seen as Redis: the kind the cache shares results through. */
function redisLike(store: SharedStore): SharedStore {
  return {
    kind: 'redis',
    get: (k) => store.get(k),
    set: (k, v, ttl) => store.set(k, v, ttl),
    setIfAbsent: (k, v, ttl) => store.setIfAbsent(k, v, ttl),
    setIfPresent: (k, v, ttl) => store.setIfPresent(k, v, ttl),
    compareAndSet: (k, e, v, ttl) => store.compareAndSet(k, e, v, ttl),
    deleteIfEquals: (k, e) => store.deleteIfEquals(k, e),
    extendIfEquals: (k, e, ttl) => store.extendIfEquals(k, e, ttl),
    delete: (k) => store.delete(k),
    replicate: (k) => store.replicate(k),
    subscribe: (c, fn) => store.subscribe(c, fn),
    publish: (c) => store.publish(c),
    close: () => store.close(),
    addToSet: (k, m, ttl) => store.addToSet(k, m, ttl),
    removeFromSet: (k, m) => store.removeFromSet(k, m),
    members: (k) => store.members(k),
  };
}

const memoryStores: MemorySharedStore[] = [];
afterEach(() => {
  for (const s of memoryStores.splice(0)) s.close();
});
function memoryStore(): MemorySharedStore {
  const store = new MemorySharedStore(60_000, () => Date.now());
  memoryStores.push(store);
  return store;
}

describe('hashToken', () => {
  it('is the SHA-256 of the token in hex: stable, distinct per token, and not the token', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.payload.signature';
    expect(hashToken(token)).toBe(createHash('sha256').update(token).digest('hex'));
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(token)).toBe(hashToken(token));
    expect(hashToken(`${token}x`)).not.toBe(hashToken(token));
    expect(hashToken(token)).not.toContain('payload');
  });
});

describe('BearerCache in memory', () => {
  it('a miss validates (a promise); the next lookup is a hit without a promise or a second validation', async () => {
    const { cache } = newCache();
    const validate = validator(validation('user-1'));
    const first = cache.getOrValidate('t1', API, validate);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toEqual(validation('user-1'));
    const second = cache.getOrValidate('t1', API, validate);
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toEqual(validation('user-1'));
    expect(validate).toHaveBeenCalledTimes(1);
    expect(cache.size).toBe(1);
  });

  it('is bounded by maxEntries: the least recently added entry goes first', async () => {
    const { cache } = newCache({ maxEntries: 2 });
    for (const t of ['a', 'b', 'c']) await cache.getOrValidate(t, API, validator(validation(t)));
    expect(cache.size).toBe(2);
    const again = validator(validation('a'));
    await cache.getOrValidate('a', API, again); // evicted: validated again (and now evicts b)
    expect(again).toHaveBeenCalledTimes(1);
    expect(cache.getOrValidate('c', API, validator(validation('c')))).toEqual(validation('c'));
    const b = validator(validation('b'));
    await cache.getOrValidate('b', API, b);
    expect(b).toHaveBeenCalledTimes(1);
  });

  it('a hit makes the entry the most recently used: the other one is evicted instead', async () => {
    const { cache } = newCache({ maxEntries: 2 });
    await cache.getOrValidate('a', API, validator(validation('a')));
    await cache.getOrValidate('b', API, validator(validation('b')));
    expect(cache.getOrValidate('a', API, validator(validation('a')))).toEqual(validation('a')); // hit: a is now newest
    await cache.getOrValidate('c', API, validator(validation('c'))); // evicts b, not a
    const a = validator(validation('a'));
    expect(cache.getOrValidate('a', API, a)).toEqual(validation('a'));
    expect(a).not.toHaveBeenCalled();
    const b = validator(validation('b'));
    await cache.getOrValidate('b', API, b);
    expect(b).toHaveBeenCalledTimes(1);
  });

  it('maxEntries 0: nothing is kept in memory, every lookup validates', async () => {
    const { cache } = newCache({ maxEntries: 0 });
    const validate = validator(validation('user-1'));
    await cache.getOrValidate('t1', API, validate);
    await cache.getOrValidate('t1', API, validate);
    expect(validate).toHaveBeenCalledTimes(2);
    expect(cache.size).toBe(0);
  });

  it.each([
    ['the token expires first: its exp', T0 + 30, 30_000],
    ['the token outlives the cache: the configured TTL', T0 + 3600, TTL_SECONDS * 1000],
    ['no exp (e.g. userinfo): the configured TTL', undefined, TTL_SECONDS * 1000],
  ] as const)('TTL = min(exp, configured): %s', async (_name, exp, ttlMs) => {
    const { cache } = newCache();
    await cache.getOrValidate('t1', API, validator(validation('user-1', exp)));
    at(ttlMs - 1);
    const hit = validator(validation('user-1', exp));
    expect(cache.getOrValidate('t1', API, hit)).toEqual(validation('user-1', exp));
    expect(hit).not.toHaveBeenCalled();
    at(ttlMs);
    const miss = validator(validation('user-1', exp));
    await cache.getOrValidate('t1', API, miss);
    expect(miss).toHaveBeenCalledTimes(1);
  });

  it('a result whose token has already expired, or a configured TTL of 0, is not cached', async () => {
    for (const [opts, exp] of [
      [{}, T0],
      [{ ttlSeconds: 0 }, T0 + 3600],
    ] as const) {
      const { cache } = newCache(opts);
      const validate = validator(validation('user-1', exp));
      expect(await cache.getOrValidate('t1', API, validate)).toEqual(validation('user-1', exp));
      await cache.getOrValidate('t1', API, validate);
      expect(validate).toHaveBeenCalledTimes(2);
      expect(cache.size).toBe(0);
    }
  });

  it('another audience is a miss: validated again, never the result checked for the first audience', async () => {
    const { cache } = newCache();
    await cache.getOrValidate('t1', API, validator(validation('for-api')));
    const other = validator(validation('for-other'));
    expect(await cache.getOrValidate('t1', 'https://other.example.com', other)).toEqual(validation('for-other'));
    expect(other).toHaveBeenCalledTimes(1);
  });

  it('failures are not cached: the error propagates, the next lookup validates again', async () => {
    const { cache } = newCache();
    const refused = new Error('invalid token');
    const failing = vi.fn(async (): Promise<BearerValidation> => {
      throw refused;
    });
    await expect(cache.getOrValidate('t1', API, failing)).rejects.toBe(refused);
    expect(cache.size).toBe(0);
    const ok = validator(validation('user-1'));
    expect(await cache.getOrValidate('t1', API, ok)).toEqual(validation('user-1'));
    expect(ok).toHaveBeenCalledTimes(1);
  });

  it('concurrent lookups of one token share one validation, its result or its failure', async () => {
    const { cache } = newCache();
    let release!: (v: BearerValidation) => void;
    const validate = vi.fn(() => new Promise<BearerValidation>((resolve) => (release = resolve)));
    const lookups = [1, 2, 3].map(() => cache.getOrValidate('t1', API, validate));
    await vi.waitFor(() => expect(validate).toHaveBeenCalledTimes(1));
    release(validation('user-1'));
    expect(await Promise.all(lookups)).toEqual([validation('user-1'), validation('user-1'), validation('user-1')]);
    expect(validate).toHaveBeenCalledTimes(1);

    const refused = new Error('invalid token');
    const failing = vi.fn(async (): Promise<BearerValidation> => {
      await Promise.resolve();
      throw refused;
    });
    const failures = [1, 2].map(() => cache.getOrValidate('t2', API, failing));
    await Promise.all(failures.map((p) => expect(p).rejects.toBe(refused)));
    expect(failing).toHaveBeenCalledTimes(1);
    // The failed flight is over: a later lookup validates anew.
    await cache.getOrValidate('t2', API, validator(validation('user-2')));
    expect(cache.size).toBe(2);
  });

  it('concurrent lookups of one token for two audiences are two validations', async () => {
    const { cache } = newCache();
    const validate = validator(validation('user-1'));
    await Promise.all([cache.getOrValidate('t1', API, validate), cache.getOrValidate('t1', 'https://other.example.com', validate)]);
    expect(validate).toHaveBeenCalledTimes(2);
  });

  it('clear() empties the memory cache', async () => {
    const { cache } = newCache();
    await cache.getOrValidate('t1', API, validator(validation('user-1')));
    cache.clear();
    expect(cache.size).toBe(0);
    const validate = validator(validation('user-1'));
    await cache.getOrValidate('t1', API, validate);
    expect(validate).toHaveBeenCalledTimes(1);
  });
});

describe('BearerCache with a shared store', () => {
  it('a result validated by one instance is a hit for another: stored under bearer:<sha256>, with its audience, without the token', async () => {
    const TOKEN = 'secret-access-token-1';
    const store = memoryStore();
    const shared = redisLike(store);
    const a = newCache({ shared }).cache;
    const b = newCache({ shared }).cache;
    await a.getOrValidate(TOKEN, API, validator(validation('user-1')));

    const raw = await store.get(`bearer:${hashToken(TOKEN)}`);
    expect(JSON.parse(raw as string)).toEqual({ aud: API, result: validation('user-1') });
    expect(raw).not.toContain(TOKEN);

    const onB = validator(validation('user-1'));
    expect(await b.getOrValidate(TOKEN, API, onB)).toEqual(validation('user-1'));
    expect(onB).not.toHaveBeenCalled();
    // Now in B's memory too: the next lookup there needs no store read.
    expect(b.getOrValidate(TOKEN, API, onB)).not.toBeInstanceOf(Promise);
  });

  it('the shared entry lives min(exp, configured TTL), and a copy taken later expires with it', async () => {
    const store = memoryStore();
    const shared = redisLike(store);
    const a = newCache({ shared }).cache;
    await a.getOrValidate('t1', API, validator(validation('user-1', T0 + 30)));
    at(20_000);
    const b = newCache({ shared }).cache;
    const onB = validator(validation('user-1', T0 + 30));
    await b.getOrValidate('t1', API, onB); // from the store, 10 s left
    expect(onB).not.toHaveBeenCalled();
    at(29_999);
    expect(b.getOrValidate('t1', API, onB)).toEqual(validation('user-1', T0 + 30));
    at(30_000);
    expect(await store.get(`bearer:${hashToken('t1')}`)).toBeUndefined();
    await b.getOrValidate('t1', API, onB);
    expect(onB).toHaveBeenCalledTimes(1);
  });

  it('a shared entry for another audience is a miss', async () => {
    const shared = redisLike(memoryStore());
    await newCache({ shared }).cache.getOrValidate('t1', API, validator(validation('for-api')));
    const other = validator(validation('for-other'));
    expect(await newCache({ shared }).cache.getOrValidate('t1', 'https://other.example.com', other)).toEqual(validation('for-other'));
    expect(other).toHaveBeenCalledTimes(1);
  });

  it('a failure is not written to the shared store', async () => {
    const store = memoryStore();
    const { cache } = newCache({ shared: redisLike(store) });
    await expect(cache.getOrValidate('t1', API, async () => Promise.reject(new Error('invalid token')))).rejects.toThrow('invalid token');
    expect(await store.get(`bearer:${hashToken('t1')}`)).toBeUndefined();
  });

  it('an unreadable shared store means validating again (logged), not failing', async () => {
    const shared = redisLike(memoryStore());
    shared.get = async () => Promise.reject(new Error('connection lost'));
    const { cache, logs } = newCache({ shared });
    const validate = validator(validation('user-1'));
    expect(await cache.getOrValidate('t1', API, validate)).toEqual(validation('user-1'));
    expect(validate).toHaveBeenCalledTimes(1);
    expect(logs).toContainEqual({
      level: 'warn',
      message: 'bearer cache: shared store read failed; validating the token again',
      meta: { reason: 'connection lost' },
    });
  });

  it('an unwritable shared store still returns the result and keeps it in memory (logged)', async () => {
    const shared = redisLike(memoryStore());
    shared.set = async () => Promise.reject(new Error('read only replica'));
    const { cache, logs } = newCache({ shared });
    expect(await cache.getOrValidate('t1', API, validator(validation('user-1')))).toEqual(validation('user-1'));
    expect(cache.getOrValidate('t1', API, validator(validation('user-1')))).not.toBeInstanceOf(Promise);
    expect(logs).toContainEqual({ level: 'warn', message: 'bearer cache: shared store write failed', meta: { reason: 'read only replica' } });
  });

  it('an in-process (memory) shared store is not used: it would only duplicate the LRU', async () => {
    const store = memoryStore();
    await newCache({ shared: store }).cache.getOrValidate('t1', API, validator(validation('user-1')));
    expect(await store.get(`bearer:${hashToken('t1')}`)).toBeUndefined();
    const onB = validator(validation('user-1'));
    await newCache({ shared: store }).cache.getOrValidate('t1', API, onB);
    expect(onB).toHaveBeenCalledTimes(1);
  });
});
