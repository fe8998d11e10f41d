/**
 * README "Several instances (Redis)": each documented set-up (express-session + connect-redis 9 +
 * this library, with node-redis or with ioredis) is run from the README's own text
 * (test/support/readme-snippet.ts) against a real redis-server and the fake OP, through a complete
 * login and an authenticated request; and the set-up the README warns against (connect-redis 9
 * given an ioredis client) fails the way the README says.
 *
 * The snippets read their settings from the environment (REDIS_URL, SESSION_SECRET and the
 * library's OIDC_* variables), which this file stubs; each set-up gets its own redis-server, so
 * the keys found there are that set-up's alone.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import * as connectRedis from 'connect-redis';
import * as nodeRedis from 'redis';
import * as ioredis from 'ioredis';
import * as library from '../../src/index.js';
import type { OidcAuth } from '../../src/index.js';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { reservePort, type ReservedPort } from '../support/rp-app.js';
import { readmeSnippet, runSnippet } from '../support/readme-snippet.js';
import { atFakeOp, pathOf, startLogin, type Agent } from '../support/login.js';
import { sessionCookie, sessionIdOf } from '../support/cookies.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

let op: FakeOp;
beforeAll(async () => {
  op = await startFakeOp({ sub: 'readme-user' });
});
afterAll(async () => {
  await op?.close();
});

/** Closed after each test, last opened first. */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.unstubAllEnvs();
});

interface App {
  redisServer: RedisServer;
  reserved: ReservedPort;
  app: express.Express;
  agent: Agent;
}

/**
 * A listening port, an empty express app, and the environment the snippets read; a new
 * redis-server unless one is given (a second instance of the same app).
 */
async function prepare(shared?: RedisServer): Promise<App> {
  const redisServer = shared ?? (await startRedisServer());
  if (!shared) cleanups.push(() => redisServer.stop());
  const reserved = await reservePort();
  cleanups.push(async () => {
    reserved.server.closeAllConnections();
    await new Promise<void>((resolve) => reserved.server.close(() => resolve()));
  });
  vi.stubEnv('REDIS_URL', redisServer.url);
  vi.stubEnv('SESSION_SECRET', 'readme-session-secret');
  vi.stubEnv('OIDC_OP_ISSUER', op.issuer);
  vi.stubEnv('OIDC_RP_CLIENT_ID', op.clientId);
  vi.stubEnv('OIDC_RP_CLIENT_SECRET', op.clientSecret);
  vi.stubEnv('OIDC_RP_BASE_URL', reserved.url);
  const app = express();
  reserved.server.on('request', app);
  return { redisServer, reserved, app, agent: request.agent(reserved.url) };
}

/** After the snippet: a protected route, and errors as JSON so a failure says why. */
function finishApp(app: express.Express, oidc: OidcAuth | undefined): void {
  if (oidc) {
    app.get('/me', oidc.requireAuth(), (req, res) => {
      res.json({ sub: req.oidc.claims?.sub, accessToken: req.oidc.accessToken });
    });
  }
  app.use((err: Error & { code?: string; statusCode?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.statusCode ?? 500).json({ error: err.code ?? 'error', message: err.message });
  });
}

/** The browser at the fake OP: one hop, back to the RP's callback. */
async function login(agent: Agent): Promise<request.Response> {
  const start = await startLogin(agent);
  const callback = new URL(await atFakeOp(start.headers.location as string));
  expect(callback.searchParams.get('code')).toBeTruthy();
  return agent.get(pathOf(callback));
}

/** Keys on the set-up's redis-server, read with a client of the test's own. */
async function keysOn(server: RedisServer, pattern: string): Promise<string[]> {
  const admin = nodeRedis.createClient({ url: server.url });
  await admin.connect();
  try {
    return (await admin.keys(pattern)).sort();
  } finally {
    await admin.close();
  }
}

const snippetModules = {
  'express-session': { default: session },
  'connect-redis': connectRedis,
  redis: nodeRedis,
  ioredis,
  'express-oidc-rp': library,
};

/** Close whatever Redis clients the snippet opened (node-redis: close(); ioredis: quit()). */
function closeClients(bindings: Record<string, unknown>): void {
  for (const value of Object.values(bindings)) {
    if (value instanceof ioredis.Redis) cleanups.push(() => value.quit());
    else if (typeof value === 'object' && value !== null && 'isOpen' in value && 'close' in value && typeof value.close === 'function') {
      const close = value.close.bind(value) as () => Promise<void>;
      cleanups.push(close);
    }
  }
}

describe.each([
  { snippet: 'redis-node-redis', sessionClient: 'redis', libraryClient: 'redis' },
  { snippet: 'redis-ioredis', sessionClient: 'sessionRedis', libraryClient: 'ioredis' },
])('README set-up "$snippet"', ({ snippet, sessionClient, libraryClient }) => {
  it('runs as written: login through the fake OP, then an authenticated request, with session and token set in Redis', async () => {
    const a = await prepare();
    const bindings = await runSnippet(readmeSnippet(snippet), snippetModules, { app: a.app });
    closeClients(bindings);
    const oidc = bindings.oidc as OidcAuth;
    cleanups.push(() => oidc.close());
    finishApp(a.app, oidc);

    // The clients are the kinds the README names for each role: node-redis for connect-redis;
    // node-redis or ioredis for the library.
    const isNodeRedis = (c: unknown) => typeof c === 'object' && c !== null && 'isOpen' in c && !(c instanceof ioredis.Redis);
    expect(isNodeRedis(bindings[sessionClient])).toBe(true);
    if (libraryClient === 'ioredis') expect(bindings[libraryClient]).toBeInstanceOf(ioredis.Redis);
    else expect(isNodeRedis(bindings[libraryClient])).toBe(true);

    const cb = await login(a.agent);
    expect(cb.status, cb.text).toBe(302);
    expect(cb.headers.location).toBe('/');
    const me = await a.agent.get('/me').set('accept', 'application/json');
    expect(me.status, me.text).toBe(200);
    expect(me.body.sub).toBe('readme-user');
    expect(me.body.accessToken).toEqual(expect.any(String));

    // The session is in Redis under connect-redis's prefix, the token set under the library's.
    const pair = sessionCookie(cb);
    expect(pair, 'the callback sets the session cookie').toBeDefined();
    const sid = sessionIdOf(pair!);
    expect(await keysOn(a.redisServer, 'sess:*')).toEqual([`sess:${sid}`]);
    expect(await keysOn(a.redisServer, 'oidc:tokens:*')).toHaveLength(1);

    // A second app on the same Redis sees the same login (what "several instances" promises).
    const b = await prepare(a.redisServer);
    const second = await runSnippet(readmeSnippet(snippet), snippetModules, { app: b.app });
    closeClients(second);
    const oidcB = second.oidc as OidcAuth;
    cleanups.push(() => oidcB.close());
    finishApp(b.app, oidcB);
    const meOnB = await request(b.reserved.url).get('/me').set('accept', 'application/json').set('cookie', pair!);
    expect(meOnB.status, meOnB.text).toBe(200);
    expect(meOnB.body.sub).toBe('readme-user');
  });
});

describe('connect-redis 9 given an ioredis client (the README says not to)', () => {
  it('saves no session: connect-redis set() is rejected with ERR syntax error, and the login answers 500 with it', async () => {
    const a = await prepare();
    const io = new ioredis.Redis(a.redisServer.url);
    cleanups.push(() => io.quit());
    // The mechanism, on connect-redis's own code path: its set() passes node-redis's
    // `{ expiration }` option, which ioredis sends as one more SET argument ("[object Object]").
    const store = new connectRedis.RedisStore({ client: io });
    const cookie = new session.Cookie();
    await expect(store.set('direct', { cookie })).rejects.toThrow('ERR syntax error');

    // What an app sees: the login route cannot save the session and answers 500.
    a.app.use(session({ store, secret: 'readme-session-secret', resave: false, saveUninitialized: false }));
    const oidc = library.createOidcAuth({ redis: io });
    cleanups.push(() => oidc.close());
    a.app.use(oidc.router);
    finishApp(a.app, oidc);
    const start = await a.agent.get('/oidc/authenticate');
    expect(start.status).toBe(500);
    expect(start.body.message).toContain('ERR syntax error');
    expect(await keysOn(a.redisServer, 'sess:*')).toEqual([]);

    // The README names this failure by the message an app would see.
    const section = readme.slice(readme.indexOf('## Several instances (Redis)'), readme.indexOf('## Options'));
    expect(section).toContain('Do not give connect-redis 9 an ioredis client');
    expect(section).toContain('`ERR syntax error`');
  });
});
