/**
 * Token sets under a Redis failover: a primary with one replica (two real redis-server processes on
 * loopback). A rotated token set is written with WAIT, so when the write returns a replica has it;
 * after the primary dies and the replica is promoted, the next refresh presents the newest refresh
 * token, never one the provider already rotated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Request } from 'express';
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { RedisSharedStore } from '../../src/store/redis-store.js';
import { TokenStore } from '../../src/store/token-store.js';
import { InProcessSingleFlight, SharedLock } from '../../src/store/lock.js';
import { TokenRefresher } from '../../src/session/refresh.js';
import { DpopKeys } from '../../src/session/dpop-keys.js';
import { stubProvider } from '../support/stub-provider.js';
import type { AuthenticatedSession } from '../../src/session/session-data.js';
import { captureLogger } from '../support/logger.js';

let primary: RedisServer;
let replica: RedisServer;

async function info(url: string, section: string): Promise<string> {
  const c = createClient({ url });
  await c.connect();
  try {
    return await c.info(section);
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  primary = await startRedisServer();
  replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  const deadline = Date.now() + 10_000;
  while (!/master_link_status:up/.test(await info(replica.url, 'replication'))) {
    if (Date.now() > deadline) throw new Error('the replica did not link to the primary');
    await new Promise((r) => setTimeout(r, 50));
  }
}, 30_000);
afterAll(async () => {
  await Promise.all([primary?.stop(), replica?.stop()]);
});

const waits = async (url: string) => Number(/cmdstat_wait:calls=(\d+)/.exec(await info(url, 'commandstats'))?.[1] ?? 0);

describe.each(['node-redis', 'ioredis'] as const)('a primary with a replica, library on %s', (kind) => {
  it('a rotated token set is on the replica when the write returns (WAIT); a lock or cache write is not waited for', async () => {
    const nodeRedis = kind === 'node-redis' ? createClient({ url: primary.url }) : undefined;
    const ioredis = kind === 'ioredis' ? new Redis(primary.url) : undefined;
    await nodeRedis?.connect();
    const client = (nodeRedis ?? ioredis) as ReturnType<typeof createClient> | Redis;
    const replicaView = createClient({ url: replica.url });
    await replicaView.connect();
    try {
      const store = new RedisSharedStore(client, `fo:${kind}:`);
      const tokens = new TokenStore(store, 60_000);
      const before = await waits(primary.url);
      await tokens.create('login-1', { version: 1, obtainedAt: 0, refreshToken: 'rt-0' });
      const first = await tokens.read('login-1');
      expect(await tokens.replace('login-1', first, { version: 2, obtainedAt: 1, refreshToken: 'rt-1' })).toBe(true);
      // Read from the replica right after the write returned: it has the rotation.
      expect(JSON.parse((await replicaView.get(`fo:${kind}:tokens:{login-1}`)) as string)).toMatchObject({ version: 2, refreshToken: 'rt-1' });
      expect((await waits(primary.url)) - before).toBe(2);
      await store.setIfAbsent('lock:{login-1}', 'owner', 2000);
      expect((await waits(primary.url)) - before).toBe(2);
    } finally {
      await replicaView.close();
      await Promise.all([nodeRedis?.close(), ioredis?.quit()]);
    }
  });
});

describe('promotion of the replica after the primary dies', () => {
  it('the next refresh, on the promoted replica, presents the newest refresh token (no replay)', async () => {
    const onPrimary = createClient({ url: primary.url });
    await onPrimary.connect();
    const store = new RedisSharedStore(onPrimary, 'promo:');
    const tokens = new TokenStore(store, 60_000);
    const now = Math.floor(Date.now() / 1000);
    await tokens.create('login-2', { version: 1, obtainedAt: now - 600, accessTokenExpiresAt: now - 300, refreshToken: 'rt-0' });
    const v1 = await tokens.read('login-2');
    // The refresh that rotated rt-0 -> rt-1 stored its set on the primary, which then dies.
    await tokens.replace('login-2', v1, { version: 2, obtainedAt: now - 60, accessTokenExpiresAt: now - 1, refreshToken: 'rt-1' });
    await onPrimary.close();
    await primary.stop();
    const onReplica = createClient({ url: replica.url });
    await onReplica.connect();
    await onReplica.sendCommand(['REPLICAOF', 'NO', 'ONE']);

    const presented: string[] = [];
    const provider = stubProvider(async (form) => {
      presented.push(form.refresh_token ?? '');
      return { access_token: 'at-2', refresh_token: 'rt-2', token_type: 'Bearer', expires_in: 300 };
    });
    const promoted = new RedisSharedStore(onReplica, 'promo:');
    const refresher = new TokenRefresher({
      settings: {
        refreshLeewaySeconds: 30,
        strictRefreshAuthTime: false,
        storeAccessToken: true,
        storeRefreshToken: true,
        storeIdToken: false,
        security: { dpop: false },
        hooks: {},
        logger: captureLogger([]),
      },
      provider,
      tokens: new TokenStore(promoted, 60_000),
      lock: new SharedLock(promoted, { leaseMs: 2000, maxWaitMs: 3000, pollMs: 10 }),
      flights: new InProcessSingleFlight(),
      dpopKeys: new DpopKeys(promoted, 'ES256', 60_000),
    });
    // A session copy from before the rotation (its request never saved the newer copy).
    const auth = {
      loginId: 'login-2',
      iss: 'https://op.example',
      sub: 'u',
      claims: { iss: 'https://op.example', sub: 'u' },
      user: {},
      authTime: now - 600,
      renewAt: now + 900,
      accessTokenExpiresAt: now - 300,
      refreshToken: 'rt-0',
      tokensObtainedAt: now - 600,
      tokenVersion: 1,
    } as AuthenticatedSession;
    const noop = (cb: (err?: unknown) => void) => cb();
    const req = { session: { cookie: {}, regenerate: noop, save: noop, destroy: noop } } as unknown as Request;
    const outcome = await refresher.refresh(auth, req);
    await onReplica.close();
    expect(outcome.kind).toBe('refreshed');
    expect(presented).toEqual(['rt-1']);
  });
});

describe('a Redis that refuses INFO or WAIT (some hosted offerings)', () => {
  it('the write still succeeds: replication is best effort', async () => {
    const calls: string[][] = [];
    const refusing = {
      sendCommand: async (args: string[]) => {
        calls.push(args);
        if (args[0] === 'INFO' || args[0] === 'WAIT') throw new Error(`ERR unknown command '${args[0]}'`);
        if (args[0] === 'SET') return 'OK';
        return null;
      },
    };
    const tokens = new TokenStore(new RedisSharedStore(refusing, 'x:'), 60_000);
    await expect(tokens.create('login-3', { version: 1, obtainedAt: 0, refreshToken: 'rt' })).resolves.toBeUndefined();
    expect(calls.map((c) => c[0])).toEqual(['SET', 'INFO']);
  });
});
