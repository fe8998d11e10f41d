/**
 * `profile: 'fapi2'` against oidc-provider in its FAPI 2.0 profile (examples/dev-provider.ts
 * `profile: 'fapi2'`: PAR required, DPoP required with server nonces, private_key_jwt, PS256 ID
 * tokens, rotating refresh tokens), end to end over HTTP:
 * - login: the browser carries only client_id and request_uri; the code exchange is DPoP-bound
 *   and authenticated by a PS256 assertion for the issuer;
 * - req.oidc.fetch reaches userinfo with a DPoP proof (nonce challenge answered);
 * - the DPoP-bound access token presented as a plain Bearer token is refused by the provider;
 * - a refresh storm over two app processes on one Redis makes exactly one grant, and the other
 *   process can use the new token (the DPoP key travels in the store);
 * - logout revokes the refresh token, authenticated by private_key_jwt.
 * Then each client authentication method on its own (client_secret_jwt, private_key_jwt, none)
 * against the provider's ordinary profile: login and a refresh.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import request from 'supertest';
import type { DevProvider, DevProviderMiddleware } from '../../examples/dev-provider.js';
import { publicJwkFor } from '../../src/keys/client-assertion-key.js';
import { CookieJar, completeProviderLogin } from '../support/provider-login.js';
import { startDevProviderWithRp } from '../support/oidc-provider.js';
import { loginThrough, meWithCookie, pathOf } from '../support/login.js';
import type { RpApp } from '../support/rp-app.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startRpProcess, type RpProcess } from '../support/rp-process.js';
import type { OidcAuthOptions } from '../../src/types.js';

// The Express major this vitest project runs (express4 is aliased to `express`): the child runs the same.
const EXPRESS_MODULE = typeof (express as unknown as { query?: unknown }).query === 'function' ? 'express4' : 'express';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const pem = (type: 'rsa' | 'ec') =>
  (type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })).privateKey.export({
    format: 'pem',
    type: 'pkcs8',
  }) as string;

interface Counters {
  grants: string[];
}

function count(op: DevProvider): Counters {
  const c: Counters = { grants: [] };
  op.provider.on('grant.success', ((ctx: { oidc: { params: { grant_type?: string } } }) => {
    c.grants.push(String(ctx.oidc.params.grant_type));
  }) as (...args: never[]) => void);
  return c;
}

/** Each request the provider answered: its route, status, and how the client authenticated. */
interface Answered {
  route: string | undefined;
  status: number;
  authMethod: string | undefined;
  assertion: boolean;
}
const answered: Answered[] = [];
const recorder: DevProviderMiddleware = async (ctx, next) => {
  await next();
  answered.push({
    route: ctx.oidc?.route,
    status: ctx.status,
    authMethod: ctx.oidc?.client?.clientAuthMethod,
    assertion: typeof ctx.oidc?.body?.client_assertion === 'string',
  });
};

const login = (url: string) => completeProviderLogin(url, { login: 'alice', jar: new CookieJar() });

describe("profile: 'fapi2' against oidc-provider's FAPI 2.0 profile", () => {
  const key = pem('rsa');
  const CLIENT_ID = 'rp-fapi2';
  let op: DevProvider;
  let rp: RpApp;
  let counters: Counters;
  let redis: RedisServer;
  const processes: RpProcess[] = [];

  beforeAll(async () => {
    const jwk = await publicJwkFor(key, 'PS256');
    ({ op, rp } = await startDevProviderWithRp({
      client: { client_id: CLIENT_ID } as { client_id: string; client_secret: string },
      clientMetadata: () => ({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }),
      // 6 s access tokens: the storm below waits for one to be due.
      provider: { profile: 'fapi2', accessTokenTtl: 6, rotateRefreshToken: true, middleware: [recorder] },
      oidc: { clientSecret: undefined, profile: 'fapi2', clientAssertionSigningKey: key } as OidcAuthOptions,
    }));
    counters = count(op);
    redis = await startRedisServer();
  }, 60_000);

  afterAll(async () => {
    for (const p of processes) await p.stop();
    await rp?.close();
    await op?.close();
    await redis?.stop();
  });

  it('logs in: PAR (the browser carries client_id and request_uri only), private_key_jwt, DPoP-bound tokens, PS256 ID token (the only FAPI algorithm the provider signs with)', async () => {
    const agent = request.agent(rp.url);
    const start = await agent.get('/oidc/authenticate');
    expect(start.status, JSON.stringify(rp.logs.slice(-3))).toBe(302);
    const authorize = new URL(start.headers.location as string);
    expect([...authorize.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(authorize.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const cb = await agent.get(pathOf(await login(authorize.toString())));
    expect(cb.status, JSON.stringify(rp.logs.slice(-3))).toBe(302);
    expect(cb.headers.location).toBe('/');
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(me.status).toBe(200);
    expect(me.body.claims.sub).toBe('alice');
    expect(counters.grants).toContain('authorization_code');
    // Bound to a DPoP key (RFC 9449 6: the provider keeps its thumbprint), asserted by private_key_jwt.
    const token = (await op.provider.AccessToken.find(me.body.accessToken)) as { jkt?: string } | undefined;
    expect(token?.jkt).toEqual(expect.any(String));
    expect(
      answered.filter((a) => a.route === 'token' || a.route === 'pushed_authorization_request').every((a) => a.authMethod === 'private_key_jwt' && a.assertion),
    ).toBe(true);
  });

  it('req.oidc.fetch calls userinfo with a DPoP proof; the same token as a plain Bearer token is refused by the provider', async () => {
    const agent = request.agent(rp.url);
    await loginThrough(agent, login);
    const call = await agent.get('/call').query({ url: `${op.issuer}/me` });
    expect(call.status, call.text).toBe(200);
    expect(call.body.status).toBe(200);
    expect(JSON.parse(call.body.body).sub).toBe('alice');

    const me = await agent.get('/me').set('accept', 'application/json');
    const asBearer = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${me.body.accessToken}` } });
    expect(asBearer.status).toBe(401);
    const asDpopWithoutProof = await fetch(`${op.issuer}/me`, { headers: { authorization: `DPoP ${me.body.accessToken}` } });
    expect([400, 401]).toContain(asDpopWithoutProof.status);
  });

  it('a refresh storm over two processes on one Redis: exactly one grant; the other process uses the new token', async () => {
    const common = {
      ISSUER: op.issuer,
      CLIENT_ID,
      REDIS_URL: redis.url,
      EXPRESS_MODULE,
      OIDC_EXTRA_OPTIONS: JSON.stringify({ profile: 'fapi2', clientAssertionSigningKey: key }),
    } as const;
    // The provider knows one redirect URI per client: B uses A's, as behind one load balancer.
    const a = await startRpProcess({ ...common, PORT: '0', BASE_URL: rp.url });
    processes.push(a);
    const b = await startRpProcess({ ...common, PORT: '0', BASE_URL: rp.url });
    processes.push(b);
    // Log in through the in-process app's URL (the registered redirect URI), then replay the
    // callback at A: both processes share the session through Redis.
    const start = await request(a.url).get('/oidc/authenticate');
    expect(start.status, a.stderr()).toBe(302);
    const callback = new URL(await login(start.headers.location as string));
    const done = await request(a.url)
      .get(pathOf(callback))
      .set('cookie', String(start.headers['set-cookie']).split(';')[0] as string);
    expect(done.status, a.stderr()).toBe(302);
    const cookie = String(done.headers['set-cookie']).split(';')[0] as string;
    const first = await meWithCookie(a, cookie);
    expect(first.status, first.text).toBe(200);

    // Wait until the 6 s token is due (leeway: half its lifetime at most), then storm.
    await sleep(Math.max(0, (first.body.accessTokenExpiresAt - 3) * 1000 - Date.now()) + 200);
    const before = counters.grants.filter((g) => g === 'refresh_token').length;
    const storm = await Promise.all(Array.from({ length: 20 }, (_, i) => meWithCookie(i % 2 ? b : a, cookie)));
    expect(storm.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(counters.grants.filter((g) => g === 'refresh_token').length - before).toBe(1);
    const tokens = new Set(storm.map((r) => r.body.accessToken));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).not.toBe(first.body.accessToken);

    // B signs a proof with the login's key (from the store) for the token A or B refreshed.
    const call = await request(b.url)
      .get('/call')
      .query({ url: `${op.issuer}/me` })
      .set('cookie', cookie);
    expect(call.status, b.stderr()).toBe(200);
    expect(call.body.status, JSON.stringify(call.body)).toBe(200);
  }, 60_000);

  it('logout revokes the refresh token at the provider, authenticated by private_key_jwt', async () => {
    const agent = request.agent(rp.url);
    await loginThrough(agent, login);
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(await op.provider.RefreshToken.find(me.body.refreshToken)).toBeDefined();
    answered.length = 0;
    const out = await agent.post('/oidc/logout');
    expect(out.status).toBe(303);
    const revocations = answered.filter((a) => a.route === 'revocation');
    expect(revocations.length, JSON.stringify(rp.logs.slice(-5))).toBeGreaterThanOrEqual(1);
    expect(revocations).toEqual(revocations.map(() => ({ route: 'revocation', status: 200, authMethod: 'private_key_jwt', assertion: true })));
    expect(await op.provider.RefreshToken.find(me.body.refreshToken)).toBeUndefined();
  });
});

describe('each client authentication method against oidc-provider', () => {
  const cases: Array<{ method: 'client_secret_jwt' | 'private_key_jwt' | 'none'; secret?: string; key?: string; alg?: string }> = [
    { method: 'client_secret_jwt', secret: 'rp-csjwt-secret-0123456789abcdef0123456789abcdef' },
    { method: 'private_key_jwt', key: pem('ec'), alg: 'ES256' },
    { method: 'none' },
  ];
  for (const c of cases) {
    it(`${c.method}: login and a refresh grant`, async () => {
      const jwk = c.key ? await publicJwkFor(c.key, c.alg as string) : undefined;
      const { op, rp } = await startDevProviderWithRp({
        client: { client_id: `rp-${c.method}`, client_secret: c.secret } as { client_id: string; client_secret: string },
        clientMetadata: () => ({ token_endpoint_auth_method: c.method, ...(jwk && { jwks: { keys: [jwk] } }) }),
        provider: { accessTokenTtl: 4 },
        oidc: { clientSecret: c.secret, clientAuthMethod: c.method, clientAssertionSigningKey: c.key } as OidcAuthOptions,
      });
      try {
        const counters = count(op);
        const agent = request.agent(rp.url);
        const cb = await loginThrough(agent, login);
        expect(cb.status, JSON.stringify(rp.logs.slice(-3))).toBe(302);
        const me = await agent.get('/me').set('accept', 'application/json');
        expect(me.status).toBe(200);
        await sleep(Math.max(0, (me.body.accessTokenExpiresAt - 2) * 1000 - Date.now()) + 200);
        const again = await agent.get('/me').set('accept', 'application/json');
        expect(again.status).toBe(200);
        expect(again.body.accessToken).not.toBe(me.body.accessToken);
        expect(counters.grants).toEqual(['authorization_code', 'refresh_token']);
      } finally {
        await rp.close();
        await op.close();
      }
    }, 30_000);
  }
});
