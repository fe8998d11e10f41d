/**
 * Back-channel logout across instances: two app processes (test/support/rp-server.ts, A and B) on
 * one redis-server, then on a 3-master Redis Cluster, sessions in connect-redis, the session index, token sets and replay ids in the
 * library's Redis store. The user logs in through A; the provider's logout token reaches B only;
 * the session ends on both.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import request from 'supertest';
import { createClient, createCluster } from 'redis';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { startRpProcess, type RpProcess } from '../support/rp-process.js';
import { sessionIdOf } from '../support/cookies.js';
import { loginWithCookies, meWithCookie } from '../support/login.js';

/**
 * The children run the Express this file resolves. vitest.config.ts runs this file in the express5
 * project only (the scenario does not depend on the Express major); under the express4 alias the
 * children would follow suit.
 */
const EXPRESS_MODULE = typeof (express as unknown as { query?: unknown }).query === 'function' ? 'express4' : 'express';
const BCL = '/oidc/backchannel-logout';

let redisServer: RedisServer | undefined;
let redisCluster: RedisCluster | undefined;
/** The test's own client on the topology of the current block (the typed commands used here exist on both). */
let redis: ReturnType<typeof createClient> | undefined;
let op: FakeOp | undefined;
let a: RpProcess | undefined;
let b: RpProcess | undefined;

async function startTopology(topology: 'standalone' | 'cluster'): Promise<void> {
  if (topology === 'cluster') {
    redisCluster = await startRedisCluster();
    const cluster = createCluster({ rootNodes: redisCluster.urls.map((url) => ({ url })) });
    await cluster.connect();
    redis = cluster as unknown as ReturnType<typeof createClient>;
  } else {
    redisServer = await startRedisServer();
    redis = createClient({ url: redisServer.url });
    await redis.connect();
  }
  op = await startFakeOp();
  const common = {
    ISSUER: op.issuer,
    CLIENT_ID: op.clientId,
    CLIENT_SECRET: op.clientSecret,
    ...(topology === 'cluster' ? { REDIS_CLUSTER: redisCluster!.urls.join(',') } : { REDIS_URL: redisServer!.url }),
    EXPRESS_MODULE,
  } as const;
  // B gets A's URL as baseUrl, so both build the same redirect_uri. Different client libraries,
  // so the index written through one is read through the other.
  [a, b] = await Promise.all([
    startRpProcess({ ...common, PORT: '0', CLIENT_KIND: 'ioredis' }),
    startRpProcess({ ...common, PORT: '0', CLIENT_KIND: 'node-redis' }),
  ]);
}

async function stopTopology(): Promise<void> {
  await Promise.allSettled([a?.stop(), b?.stop()]);
  await op?.close();
  await redis?.close().catch(() => undefined);
  await Promise.all([redisServer?.stop(), redisCluster?.stop()]);
  redisServer = undefined;
  redisCluster = undefined;
}

interface Login {
  cookie: string;
  sessionId: string;
  sid: string;
  sub: string;
  loginId: string;
}

/** Log in through A (the provider step is one redirect hop at the fake OP). */
async function loginThroughA(): Promise<Login> {
  const cookie = await loginWithCookies(a!.url);
  const sessionId = sessionIdOf(cookie);
  const sess = JSON.parse((await redis!.get(`sess:${sessionId}`)) as string) as { oidc: { auth: { loginId: string; sid: string; sub: string } } };
  const { loginId, sid, sub } = sess.oidc.auth;
  return { cookie, sessionId, sid, sub, loginId };
}

async function expectSignedOutOn(p: RpProcess, l: Login): Promise<void> {
  const res = await meWithCookie(p, l.cookie);
  expect([401, 302], `${p.url}: ${res.status} ${res.text}`).toContain(res.status);
  if (res.status === 401) expect(res.body.error).toMatch(/^(unauthenticated|session_ended)$/);
}

describe.each(['standalone', 'cluster'] as const)('back-channel logout on two instances sharing a %s Redis', (topology) => {
  beforeAll(() => startTopology(topology), 60_000);
  afterAll(() => stopTopology(), 30_000);
  afterEach(() => {
    op?.reset();
  });

  it('logged in through A, the logout token POSTed to B only: 200, then /me is 401 on A and on B', async () => {
    const l = await loginThroughA();
    const other = await loginThroughA(); // same user, another provider session: must survive
    expect(other.sid).not.toBe(l.sid);
    for (const p of [a!, b!]) for (const x of [l, other]) expect((await meWithCookie(p, x.cookie)).status).toBe(200);
    // The index is in Redis, under the library's prefix.
    expect(await redis!.zRange(`oidc:index:sid:${op!.issuer}|${l.sid}`, 0, -1)).toEqual([`${l.sessionId} ${l.loginId}`]);

    const res = await request(b!.url)
      .post(BCL)
      .type('form')
      .send({ logout_token: await op!.makeLogoutToken({ sid: l.sid }) });
    expect(res.status, res.text).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');

    // B destroyed the session in the shared session store and tombstoned the shared token set.
    expect(await redis!.exists(`sess:${l.sessionId}`)).toBe(0);
    expect(JSON.parse((await redis!.get(`oidc:tokens:{${l.loginId}}`)) as string)).toMatchObject({ ended: true });
    await expectSignedOutOn(a!, l);
    await expectSignedOutOn(b!, l);
    for (const p of [a!, b!]) expect((await meWithCookie(p, other.cookie)).status).toBe(200);
  });

  it('a sub logout sent to A ends every session of the user, also those B served; the replay sent to B is refused (shared replay ids)', async () => {
    const l1 = await loginThroughA();
    const l2 = await loginThroughA();
    expect((await meWithCookie(b!, l2.cookie)).status).toBe(200);
    const token = await op!.makeLogoutToken({ sub: l1.sub });

    const res = await request(a!.url).post(BCL).type('form').send({ logout_token: token });
    expect(res.status, res.text).toBe(200);
    for (const p of [a!, b!]) for (const x of [l1, l2]) await expectSignedOutOn(p, x);

    const replay = await request(b!.url).post(BCL).type('form').send({ logout_token: token });
    expect(replay.status).toBe(400);
    expect(replay.body).toMatchObject({ error: 'invalid_request' });
  });
});
