/**
 * Findings of the security review, against the fake OP over real HTTP (and a real redis-server to
 * look at what the library leaves in the shared store):
 * - logout CSRF: a cross-site POST to the logout route is refused and ends nothing;
 * - an anonymous logout stores no session;
 * - a new login in a signed-in session ends the previous login (token set, index entries) and
 *   revokes its tokens when they belong to another provider session.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import session from 'express-session';
import { createClient } from 'redis';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { startRpApp, type RpApp } from '../support/rp-app.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import type { OidcAuthOptions } from '../../src/types.js';
import { loginThrough, type Agent } from '../support/login.js';

let op: FakeOp;
let redisServer: RedisServer;
let redis: ReturnType<typeof createClient>;
const rps: RpApp[] = [];

beforeAll(async () => {
  op = await startFakeOp();
  redisServer = await startRedisServer();
  redis = createClient({ url: redisServer.url });
  await redis.connect();
});
afterEach(async () => {
  op.reset();
  await Promise.all(rps.splice(0).map((r) => r.close()));
});
afterAll(async () => {
  await redis.quit();
  await redisServer.stop();
  await op.close();
});

async function newRp(extra: OidcAuthOptions = {}, store?: session.Store): Promise<RpApp> {
  const rp = await startRpApp({
    oidc: { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, loginRedirectUrl: '/welcome', logoutRedirectUrl: '/bye', ...extra },
    ...(store ? { store } : {}),
  });
  rps.push(rp);
  return rp;
}

async function login(
  rp: RpApp,
  agent: Agent = request.agent(rp.url),
): Promise<{ agent: Agent; me: { accessToken: string; refreshToken: string; claims: { sub: string; sid?: string } } }> {
  const done = await loginThrough(agent);
  expect(done.status).toBe(302);
  expect(done.headers.location, JSON.stringify(rp.logs)).toBe('/welcome');
  const me = await agent.get('/me').set('accept', 'application/json');
  expect(me.status).toBe(200);
  return { agent, me: me.body };
}

const signedIn = async (agent: Agent) => (await agent.get('/me').set('accept', 'application/json')).status === 200;

function storedSessions(store: session.Store): Promise<number> {
  return new Promise((resolve, reject) => (store as session.MemoryStore).length((err, n) => (err ? reject(err) : resolve(n ?? 0))));
}

describe('logout CSRF', () => {
  const crossSite: Array<[string, Record<string, string>]> = [
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['Origin: null (sandboxed frame)', { origin: 'null' }],
    ['a foreign Referer without Origin', { referer: 'https://evil.example/page' }],
    ['a same-site subdomain Origin', { origin: 'http://sub.127.0.0.1.nip.example' }],
  ];
  it.each(crossSite)('%s: 403, nothing revoked, the session and the provider session untouched', async (_name, headers) => {
    const rp = await newRp();
    const { agent } = await login(rp);
    const revoked = op.revokedTokens.length;
    const res = await agent.post('/oidc/logout').set(headers);
    expect(res.status).toBe(403);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
    expect(op.revokedTokens.length).toBe(revoked);
    expect(await signedIn(agent)).toBe(true);
    expect(rp.logs.some((l) => l.level === 'warn' && l.message === 'cross-site logout refused')).toBe(true);
  });

  it('a JSON client gets a JSON 403', async () => {
    const rp = await newRp();
    const { agent } = await login(rp);
    const res = await agent.post('/oidc/logout').set({ origin: 'https://evil.example', accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('cross_site_request');
  });

  it.each([
    ['same-origin Fetch Metadata and Origin', (url: string) => ({ 'sec-fetch-site': 'same-origin', origin: new URL(url).origin })],
    ['a same-origin Referer', (url: string) => ({ referer: `${url}/profile` })],
    ['no browser headers at all (curl, a server)', () => ({})],
  ])('%s: logged out (303)', async (_name, headers) => {
    const rp = await newRp();
    const { agent } = await login(rp);
    const res = await agent.post('/oidc/logout').set(headers(rp.url));
    expect(res.status).toBe(303);
    expect(await signedIn(agent)).toBe(false);
  });

  it('allowLogoutGetMethod: a cross-site GET (an <img> on another site) is refused too', async () => {
    const rp = await newRp({ allowLogoutGetMethod: true });
    const { agent } = await login(rp);
    expect((await agent.get('/oidc/logout').set('sec-fetch-site', 'cross-site')).status).toBe(403);
    expect(await signedIn(agent)).toBe(true);
  });
});

describe('anonymous logout', () => {
  it('200 anonymous POSTs store no session', async () => {
    const store = new session.MemoryStore();
    const rp = await newRp({}, store);
    for (let i = 0; i < 200; i++) {
      const res = await request(rp.url).post('/oidc/logout');
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/bye');
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(await storedSessions(store)).toBe(0);
  });
});

describe('a new login in a signed-in session', () => {
  const members = (sub: string) => redis.zRange(`oidc:index:sub:${op.issuer}|${sub}`, 0, -1);
  const tokenSet = async (loginId: string) => JSON.parse((await redis.get(`oidc:tokens:{${loginId}}`)) ?? 'null') as { ended?: boolean } | null;
  const loginIdOf = (member: string) => member.split(' ')[1] as string;

  it('another provider session: the previous login is ended (tombstone, index entries) and its tokens revoked', async () => {
    await redis.flushAll();
    const rp = await newRp({ redis });
    const first = await login(rp);
    const [firstMember] = await members('user-1');
    expect(firstMember).toBeDefined();

    const second = await login(rp, first.agent);
    expect(second.me.claims.sid).not.toBe(first.me.claims.sid);
    expect(op.revokedTokens).toEqual(expect.arrayContaining([first.me.refreshToken, first.me.accessToken]));
    expect(op.revokedTokens).not.toContain(second.me.refreshToken);
    const now = await members('user-1');
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(firstMember);
    expect(await redis.zRange(`oidc:index:sid:${op.issuer}|${first.me.claims.sid}`, 0, -1)).toEqual([]);
    expect((await tokenSet(loginIdOf(firstMember as string)))?.ended).toBe(true);
    expect(await signedIn(first.agent)).toBe(true);
  });

  it('the same provider session (same sid): ended here, but not revoked (the provider would end the new login with it)', async () => {
    await redis.flushAll();
    op.set({ idTokenClaims: { sid: 'one-provider-session' } });
    const rp = await newRp({ redis });
    const first = await login(rp);
    const [firstMember] = await members('user-1');
    const second = await login(rp, first.agent);
    expect(op.revokedTokens).not.toContain(first.me.refreshToken);
    expect(await members('user-1')).toHaveLength(1);
    expect(await redis.zRange(`oidc:index:sid:${op.issuer}|one-provider-session`, 0, -1)).toHaveLength(1);
    expect((await tokenSet(loginIdOf(firstMember as string)))?.ended).toBe(true);
    expect(second.me.refreshToken).not.toBe(first.me.refreshToken);
    expect(await signedIn(first.agent)).toBe(true);
  });

  it('a back-channel logout removes the index entries of the sessions it ends (by sid, and by sub when named)', async () => {
    await redis.flushAll();
    const rp = await newRp({ redis });
    const { me } = await login(rp);
    const sid = me.claims.sid as string;
    expect(await members('user-1')).toHaveLength(1);
    const token = await op.makeLogoutToken({ sid, sub: 'user-1' });
    expect((await request(rp.url).post('/oidc/backchannel-logout').type('form').send({ logout_token: token })).status).toBe(200);
    expect(await members('user-1')).toEqual([]);
    expect(await redis.zRange(`oidc:index:sid:${op.issuer}|${sid}`, 0, -1)).toEqual([]);
  });

  it("a front-channel logout without iss and sid (the cookie's own session) removes that session's index entries", async () => {
    await redis.flushAll();
    const rp = await newRp({ redis, frontchannelLogout: true });
    const { agent, me } = await login(rp);
    expect(await members('user-1')).toHaveLength(1);
    expect((await agent.get('/oidc/frontchannel-logout')).status).toBe(200);
    expect(await members('user-1')).toEqual([]);
    expect(await redis.zRange(`oidc:index:sid:${op.issuer}|${me.claims.sid}`, 0, -1)).toEqual([]);
    expect(await signedIn(agent)).toBe(false);
  });

  it('revokeTokensOnLogout: false revokes nothing on a re-login either', async () => {
    const rp = await newRp({ revokeTokensOnLogout: false });
    const first = await login(rp);
    await login(rp, first.agent);
    expect(op.revokedTokens).not.toContain(first.me.refreshToken);
  });
});
