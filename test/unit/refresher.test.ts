/**
 * TokenRefresher (src/session/refresh.ts) on its own: the real token store, lock and single flight
 * on the in-memory shared store, and a stub provider whose token endpoint is a function. The
 * integration tests (session-refresh, multi-instance) cover the same rules through HTTP and Redis.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Request } from 'express';
import { OidcError } from '../../src/errors.js';
import { TokenRefresher, type RefreshSettings } from '../../src/session/refresh.js';
import type { Provider } from '../../src/protocol/provider.js';
import { MemorySharedStore } from '../../src/store/shared-store.js';
import { TokenStore } from '../../src/store/token-store.js';
import { InProcessSingleFlight, SharedLock, pollDelay, type LockOptions } from '../../src/store/lock.js';
import type { SharedStore } from '../../src/store/shared-store.js';
import type { AuthenticatedSession } from '../../src/session/session-data.js';
import type { StoredTokens } from '../../src/types.js';
import { captureLogger, type CapturedLog } from '../support/logger.js';
import { STUB_META, stubProvider as stubTokenProvider, type StubTokenEndpoint } from '../support/stub-provider.js';
import { DpopKeys } from '../../src/session/dpop-keys.js';

const NOW = () => Math.floor(Date.now() / 1000);
/** A provider whose token endpoint is `endpoint`; refreshed responses carry no ID token. */
const stubProvider = (endpoint: StubTokenEndpoint) => stubTokenProvider(endpoint);
const META = STUB_META;

/** A provider that rotates: each grant answers a new access and refresh token. */
function rotatingProvider(delayMs = 0): ReturnType<typeof stubProvider> {
  let n = 0;
  return stubProvider(async () => {
    n++;
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return { access_token: `at-${n}`, refresh_token: `rt-${n}`, token_type: 'Bearer', expires_in: 300 };
  });
}

interface Instance {
  refresher: TokenRefresher;
  tokens: TokenStore;
  logs: CapturedLog[];
  refreshed: StoredTokens[];
}

const stores: MemorySharedStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

/** The refresher's settings as the defaults resolve them, logging into `logs`. */
function refreshSettings(logs: CapturedLog[], onTokensRefreshed?: (t: StoredTokens) => void): RefreshSettings {
  return {
    refreshLeewaySeconds: 30,
    strictRefreshAuthTime: false,
    storeAccessToken: true,
    storeRefreshToken: true,
    storeIdToken: false,
    security: { dpop: false },
    hooks: onTokensRefreshed ? { onTokensRefreshed } : {},
    logger: captureLogger(logs),
  };
}

/** One app instance: its own single flight and refresher, on a shared store (another instance's, to share it). */
function instance(provider: Provider, shared = new MemorySharedStore(), leaseMs = 2000): Instance & { shared: MemorySharedStore } {
  stores.push(shared);
  const logs: CapturedLog[] = [];
  const refreshed: StoredTokens[] = [];
  const tokens = new TokenStore(shared, 60_000);
  const refresher = new TokenRefresher({
    settings: refreshSettings(logs, (t) => void refreshed.push(t)),
    provider,
    tokens,
    lock: new SharedLock(shared, { leaseMs, maxWaitMs: 3000, pollMs: 5 }),
    flights: new InProcessSingleFlight(),
    dpopKeys: new DpopKeys(shared, 'ES256', 60_000),
  });
  return { refresher, tokens, logs, refreshed, shared };
}

/** A session copy whose access token expired a second ago (or expires in `expiresIn` s). */
function session(expiresIn = -1): AuthenticatedSession {
  const now = NOW();
  return {
    loginId: 'login-1',
    iss: META.issuer as string,
    sub: 'user-1',
    claims: { iss: META.issuer as string, sub: 'user-1' },
    user: {},
    authTime: now - 600,
    renewAt: now + 900,
    accessToken: 'at-0',
    accessTokenExpiresAt: now + expiresIn,
    refreshToken: 'rt-0',
    tokensObtainedAt: now - 300,
    tokenVersion: 1,
  };
}

/** The refresher reads only the session cookie's lifetime (the token set lives at least as long). */
const noop = (cb: (err?: unknown) => void) => cb();
const req = { session: { cookie: { originalMaxAge: null }, regenerate: noop, save: noop, destroy: noop } } as unknown as Request;

describe('TokenRefresher', () => {
  it('a set that is not due: no grant, the current set', async () => {
    const provider = rotatingProvider();
    const a = instance(provider);
    const outcome = await a.refresher.refresh(session(3600), req);
    expect(outcome.kind).toBe('current');
    expect(provider.grants).toHaveLength(0);
  });

  it('due: one grant with the stored refresh token; the rotated set is stored with the next version', async () => {
    const provider = rotatingProvider();
    const a = instance(provider);
    const outcome = await a.refresher.refresh(session(), req);
    expect(outcome).toMatchObject({ kind: 'refreshed', set: { version: 2, accessToken: 'at-1', refreshToken: 'rt-1' } });
    expect(provider.grants).toEqual([{ grant_type: 'refresh_token', refresh_token: 'rt-0' }]);
    expect((await a.tokens.read('login-1'))?.set).toMatchObject({ version: 2, refreshToken: 'rt-1' });
    expect(a.refreshed).toEqual([expect.objectContaining({ accessToken: 'at-1', refreshToken: 'rt-1' })]);
    expect(a.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('20 concurrent requests of one login in one process: one grant, all get the new set', async () => {
    const provider = rotatingProvider(20);
    const a = instance(provider);
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => a.refresher.refresh(session(), req)));
    expect(provider.grants).toHaveLength(1);
    expect(new Set(outcomes.map((o) => (o.kind === 'refreshed' || o.kind === 'current' ? o.set.refreshToken : o.kind)))).toEqual(new Set(['rt-1']));
    expect(a.refreshed).toHaveLength(1);
  });

  it('two instances on one shared store: one grant; the other re-reads the stored set under the lock', async () => {
    const provider = rotatingProvider(20);
    const a = instance(provider);
    const b = instance(provider, a.shared);
    const [x, y] = await Promise.all([a.refresher.refresh(session(), req), b.refresher.refresh(session(), req)]);
    expect(provider.grants).toHaveLength(1);
    const kinds = [x.kind, y.kind].sort();
    expect(kinds).toEqual(['current', 'refreshed']);
    for (const o of [x, y]) expect(o.kind === 'refreshed' || o.kind === 'current' ? o.set.refreshToken : undefined).toBe('rt-1');
    // A later stale session copy (still holding rt-0) continues with the stored set, no second grant.
    const later = await b.refresher.refresh(session(), req);
    expect(later.kind).toBe('current');
    expect(provider.grants).toHaveLength(1);
  });

  it('invalid_grant: the login ends for every instance (tombstone), and no later grant is made', async () => {
    const provider = stubProvider(async () => {
      throw new OidcError('OIDC_OP_ERROR', 'token answered 400 invalid_grant', { oauthError: 'invalid_grant', status: 400 });
    });
    const a = instance(provider);
    const outcome = await a.refresher.refresh(session(), req);
    expect(outcome).toMatchObject({ kind: 'ended', error: { oauthError: 'invalid_grant' } });
    expect((await a.tokens.read('login-1'))?.set.ended).toBe(true);
    const again = await instance(provider, a.shared).refresher.refresh(session(), req);
    expect(again.kind).toBe('ended');
    expect(provider.grants).toHaveLength(1);
  });

  it.each([
    ['a network error', new OidcError('OIDC_HTTP_NETWORK', 'connection refused')],
    ['a timeout', new OidcError('OIDC_HTTP_TIMEOUT', 'no answer')],
    ['a 503', new OidcError('OIDC_HTTP_STATUS', 'HTTP 503', { status: 503 })],
    ['temporarily_unavailable', new OidcError('OIDC_OP_ERROR', 'busy', { oauthError: 'temporarily_unavailable', status: 400 })],
  ])('%s: failed (503), nothing stored, and the next attempt presents the same refresh token', async (_name, error) => {
    let fail = true;
    const provider = stubProvider(async () => {
      if (fail) throw error;
      return { access_token: 'at-1', refresh_token: 'rt-1', token_type: 'Bearer', expires_in: 300 };
    });
    const a = instance(provider);
    const outcome = await a.refresher.refresh(session(), req);
    expect(outcome).toMatchObject({ kind: 'failed', error: { statusCode: 503 } });
    expect(await a.tokens.read('login-1')).toBeUndefined();
    fail = false;
    expect((await a.refresher.refresh(session(), req)).kind).toBe('refreshed');
    expect(provider.grants.map((g) => g.refresh_token)).toEqual(['rt-0', 'rt-0']);
  });

  it("a stored set older than the session copy (a failover lost a write): the session copy's refresh token is presented, and the store catches up", async () => {
    const provider = rotatingProvider();
    const a = instance(provider);
    // The store went back to version 1 (rt-stale); the session copy says version 2 (rt-0).
    await a.tokens.create('login-1', { version: 1, obtainedAt: NOW() - 600, accessTokenExpiresAt: NOW() - 1, refreshToken: 'rt-stale' });
    const outcome = await a.refresher.refresh({ ...session(), tokenVersion: 2 }, req);
    expect(outcome).toMatchObject({ kind: 'refreshed', set: { version: 3, refreshToken: 'rt-1' } });
    expect(provider.grants.map((g) => g.refresh_token)).toEqual(['rt-0']);
    expect((await a.tokens.read('login-1'))?.set).toMatchObject({ version: 3, refreshToken: 'rt-1' });
  });

  it('a newer session copy without a refresh token (OIDC_STORE_REFRESH_TOKEN off) does not stand in for the store', async () => {
    const provider = rotatingProvider();
    const a = instance(provider);
    await a.tokens.create('login-1', { version: 1, obtainedAt: NOW() - 600, accessTokenExpiresAt: NOW() - 1, refreshToken: 'rt-stored' });
    const outcome = await a.refresher.refresh({ ...session(), tokenVersion: 2, refreshToken: undefined }, req);
    expect(outcome.kind).toBe('refreshed');
    expect(provider.grants.map((g) => g.refresh_token)).toEqual(['rt-stored']);
  });

  it('a provider that does not rotate: the old refresh token is kept (RFC 6749 6)', async () => {
    const provider = stubProvider(async () => ({ access_token: 'at-1', token_type: 'Bearer', expires_in: 300 }));
    const a = instance(provider);
    const outcome = await a.refresher.refresh(session(), req);
    expect(outcome).toMatchObject({ kind: 'refreshed', set: { accessToken: 'at-1', refreshToken: 'rt-0' } });
  });

  it('a holder that lost its lease before the grant does not present the refresh token (temporary failure)', async () => {
    const provider = rotatingProvider();
    const shared = new MemorySharedStore();
    // Discovery is slow this once; meanwhile the lease is taken over (as after a stall past it).
    const slow = {
      ...provider,
      discovery: {
        peek: provider.discovery.peek,
        get: async () => {
          await shared.set('lock:{login-1}', 'another-instance', 60_000);
          await new Promise((r) => setTimeout(r, 150));
          return META;
        },
      },
    };
    const a = instance(slow, shared, 60);
    const outcome = await a.refresher.refresh(session(), req);
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'OIDC_REFRESH_FAILED', statusCode: 503 } });
    expect(provider.grants).toHaveLength(0);
    expect(await a.tokens.read('login-1')).toBeUndefined();
  });

  it('a waiter gives up with a temporary failure when the lock holder never finishes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const provider = rotatingProvider();
      const a = instance(provider);
      // A holder that died: the lock key is there and nobody releases it.
      await a.shared.setIfAbsent('lock:{login-1}', 'dead-holder', 60_000);
      const pending = a.refresher.refresh(session(), req);
      // Past maxWaitMs (3 s) by the clock the refresher reads.
      vi.setSystemTime(Date.now() + 4000);
      const outcome = await pending;
      expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'OIDC_REFRESH_FAILED', statusCode: 503 } });
      expect(provider.grants).toHaveLength(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('waiting for another instance: backed-off, jittered polls', () => {
  it('pollDelay doubles from pollMs up to maxPollMs, jittered over the upper half', () => {
    const opts = { pollMs: 25, maxPollMs: 250 };
    expect([0, 1, 2, 3, 4, 5].map((n) => pollDelay(opts, n, () => 1))).toEqual([25, 50, 100, 200, 250, 250]);
    expect([0, 1, 2, 3, 4, 5].map((n) => pollDelay(opts, n, () => 0))).toEqual([13, 25, 50, 100, 125, 125]);
    expect(pollDelay({ pollMs: 25 }, 7, () => 1)).toBe(25); // no maxPollMs: a fixed interval
  });

  /** A view of `shared` that counts the operations (each one Redis command or script) sent through it. */
  function counted(shared: MemorySharedStore): { store: SharedStore; count: () => number } {
    let n = 0;
    const store = new Proxy(shared, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function' || prop === 'close') return v;
        return (...args: unknown[]) => {
          n++;
          return v.apply(target, args);
        };
      },
    }) as SharedStore;
    return { store, count: () => n };
  }

  /** Store commands of the refreshing instance and of one waiting instance, while the refresh takes `holdMs`. */
  async function commands(lockOpts: LockOptions, holdMs: number): Promise<{ holder: number; waiter: number }> {
    const shared = new MemorySharedStore();
    stores.push(shared);
    const [h, w] = [counted(shared), counted(shared)];
    const provider = rotatingProvider(holdMs);
    const settings = refreshSettings([]);
    const make = (store: SharedStore) =>
      new TokenRefresher({
        settings,
        provider,
        tokens: new TokenStore(store, 60_000),
        lock: new SharedLock(store, lockOpts),
        flights: new InProcessSingleFlight(),
        dpopKeys: new DpopKeys(store, 'ES256', 60_000),
      });
    const held = make(h.store).refresh(session(), req);
    await new Promise((r) => setTimeout(r, 20)); // the holder has the lock
    const waited = await make(w.store).refresh(session(), req);
    await held;
    expect(waited.kind).toBe('current');
    expect(provider.grants).toHaveLength(1);
    return { holder: h.count(), waiter: w.count() };
  }

  it('a waiter wakes when the holder writes the set (pub/sub), not at its next poll', async () => {
    const shared = new MemorySharedStore();
    stores.push(shared);
    const provider = rotatingProvider(700);
    const make = () =>
      new TokenRefresher({
        settings: refreshSettings([]),
        provider,
        tokens: new TokenStore(shared, 60_000),
        lock: new SharedLock(shared, { leaseMs: 2000, maxWaitMs: 5000, pollMs: 25, maxPollMs: 250 }),
        flights: new InProcessSingleFlight(),
        dpopKeys: new DpopKeys(shared, 'ES256', 60_000),
      });
    const [holder, waiter] = [make(), make()];
    let holderDone = 0;
    const held = holder.refresh(session(), req).then((o) => {
      holderDone = Date.now();
      return o;
    });
    await new Promise((r) => setTimeout(r, 20));
    const waited = await waiter.refresh(session(), req);
    const waiterDone = Date.now();
    await held;
    expect(waited.kind).toBe('current');
    // Polls alone (25, 50, 100, 200, 250 ms...) would first look again about 875 ms in, well after
    // the 700 ms refresh; the message wakes the waiter as the set is written.
    expect(waiterDone - holderDone).toBeLessThan(60);
    expect(provider.grants).toHaveLength(1);
  });

  it('a waiter on a 1 s refresh sends a handful of commands, not one pair every 25 ms', async () => {
    const fixed = await commands({ leaseMs: 2000, maxWaitMs: 5000, pollMs: 25 }, 1000);
    const now = await commands({ leaseMs: 2000, maxWaitMs: 5000, pollMs: 25, maxPollMs: 250 }, 1000);
    console.log(
      `[refresher] store commands on a 1 s refresh: the refreshing instance ${now.holder}; one waiting instance ${fixed.waiter} with fixed 25 ms polls, ${now.waiter} with backed-off polls and a wake-up message`,
    );
    expect(fixed.waiter).toBeGreaterThan(60);
    expect(now.waiter).toBeLessThan(30);
    // Read, lock, re-read, one lease renewal every 667 ms, write, announce, release.
    expect(now.holder).toBeLessThan(12);
  });
});
