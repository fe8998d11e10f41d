/**
 * The guards (oidc.requireAuth, claimEquals, claimIncludes, claimCheck) with real sessions from the
 * fake OP: who passes, and what everyone else gets. Unauthenticated: 302 to login for pages, 401
 * for JSON/XHR, 401 + WWW-Authenticate: Bearer for a request carrying a bearer token (no bearerAuth
 * in front). Authenticated but not allowed: always 403, never 401 (express-openid-connect answers
 * 401 there, which sends a signed-in user back to login in a loop).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import { createOidcAuth, type OidcAuth } from '../../src/index.js';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { reservePort, type ReservedPort } from '../support/rp-app.js';
import { captureLogger, type CapturedLog } from '../support/logger.js';
import { loginThrough, type Agent } from '../support/login.js';

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const JSON_ACCEPT = 'application/json';

let op: FakeOp;
let reserved: ReservedPort;
let oidc: OidcAuth;
let url: string;
const logs: CapturedLog[] = [];

/** Route -> guard. Every route answers 200 {ok, sub} when the guard lets the request through. */
function guardedRoutes(o: OidcAuth): Record<string, express.RequestHandler> {
  return {
    '/any': o.requireAuth(),
    '/scoped': o.requireAuth({ scopes: ['openid', 'email'] }),
    '/admin': o.requireAuth({ scopes: ['admin'] }),
    '/openid-and-admin': o.requireAuth({ scopes: ['openid', 'admin'] }),
    '/claims-ok': o.requireAuth({ scopes: ['openid'], claims: { email_verified: true, email: 'user1@example.com' } }),
    '/claims-no': o.requireAuth({ claims: { email_verified: true, name: 'x' } }),
    '/verified': o.claimEquals('email_verified', true),
    '/verified-string': o.claimEquals('email_verified', 'true'), // strict equality: no coercion
    '/named-x': o.claimEquals('name', 'x'),
    '/groups-a': o.claimIncludes('groups', 'a'),
    '/groups-ab': o.claimIncludes('groups', 'b', 'a'),
    '/groups-ac': o.claimIncludes('groups', 'a', 'c'),
    '/roles-admin': o.claimIncludes('roles', 'admin'), // a space-separated string claim
    '/roles-adm': o.claimIncludes('roles', 'adm'), // no substring match
    // express-openid-connect's argument order: (req, claims).
    '/check': o.claimCheck((req, claims) => claims.email === 'user1@example.com' && req.query.allow === '1'),
    // Truthy allows and falsy denies, as in express-openid-connect.
    '/check-truthy': o.claimCheck((_req, claims) => claims.email as unknown as boolean),
    '/check-falsy': o.claimCheck(() => '' as unknown as boolean),
    '/check-async': o.claimCheck((async () => false) as never),
    '/check-throws': o.claimCheck(() => {
      throw new Error('predicate failed');
    }),
  };
}

const GUARDED_PATHS = [
  '/any',
  '/scoped',
  '/admin',
  '/openid-and-admin',
  '/claims-ok',
  '/claims-no',
  '/verified',
  '/verified-string',
  '/named-x',
  '/groups-a',
  '/groups-ab',
  '/groups-ac',
  '/roles-admin',
  '/roles-adm',
  '/check',
  '/check-truthy',
  '/check-falsy',
  '/check-async',
  '/check-throws',
];
const FORBIDDEN_FOR_PLAIN_USER = [
  '/admin',
  '/openid-and-admin',
  '/claims-no',
  '/verified-string',
  '/named-x',
  '/groups-a',
  '/groups-ab',
  '/groups-ac',
  '/roles-admin',
  '/roles-adm',
  '/check',
  '/check-falsy',
];

beforeAll(async () => {
  op = await startFakeOp();
  reserved = await reservePort();
  url = reserved.url;
  oidc = createOidcAuth({ issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, baseUrl: url, env: {}, logger: captureLogger(logs) });
  const app = express();
  app.use(session({ secret: 'guards-secret', resave: false, saveUninitialized: false }));
  app.use(oidc.router);
  for (const [path, guard] of Object.entries(guardedRoutes(oidc))) {
    app.get(path, guard, (req, res) => {
      res.json({ ok: true, sub: req.oidc.claims?.sub });
    });
  }
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: 'app_error', message: err.message });
  });
  reserved.server.on('request', app);
});

afterAll(async () => {
  await oidc?.close();
  reserved?.server.closeAllConnections();
  await new Promise<void>((resolve) => (reserved ? reserved.server.close(() => resolve()) : resolve()));
  await op?.close();
});

/** A signed-in browser; `idTokenClaims` are added to the ID token the fake OP issues for it. */
async function login(idTokenClaims?: Record<string, unknown>): Promise<Agent> {
  op.reset();
  if (idTokenClaims) op.set({ idTokenClaims });
  try {
    const agent = request.agent(url);
    const done = await loginThrough(agent);
    expect(done.status, JSON.stringify(logs.slice(-3))).toBe(302);
    expect((await agent.get('/any').set('accept', JSON_ACCEPT)).status).toBe(200);
    return agent;
  } finally {
    op.reset();
  }
}

let plain: Agent; // the fake OP's default user: email, email_verified: true, name 'User One'; scope 'openid email'
let grouped: Agent; // the same, with groups ['a', 'b'] and roles 'admin editor' in its ID token

beforeAll(async () => {
  plain = await login();
  grouped = await login({ groups: ['a', 'b'], roles: 'admin editor' });
});

const page = (agent: Agent | ReturnType<typeof request>, path: string) => (agent as Agent).get(path).set('accept', HTML);
const api = (agent: Agent | ReturnType<typeof request>, path: string) => (agent as Agent).get(path).set('accept', JSON_ACCEPT);

function expectAllowed(res: request.Response): void {
  expect(res.status, res.text).toBe(200);
  expect(res.body).toEqual({ ok: true, sub: 'user-1' });
}

function expectForbidden(res: request.Response, path: string): void {
  expect(res.status, `${path}: ${res.text}`).toBe(403);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers.location).toBeUndefined();
}

describe('unauthenticated requests', () => {
  const paths = GUARDED_PATHS;

  it('covers every guarded route', () => {
    expect([...paths].sort()).toEqual(Object.keys(guardedRoutes(oidc)).sort());
  });

  it.each(paths)('%s: a page request is sent to login, coming back to the same URL', async (path) => {
    const res = await page(request(url), `${path}?x=1`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/oidc/authenticate?next=${encodeURIComponent(`${path}?x=1`)}`);
  });

  it.each(paths)('%s: a JSON request gets 401 unauthenticated with the login URL', async (path) => {
    const res = await api(request(url), path);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'unauthenticated', login_url: `/oidc/authenticate?next=${encodeURIComponent(path)}` });
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('an XHR (X-Requested-With, no Accept) gets 401 too', async () => {
    const res = await request(url).get('/scoped').set('x-requested-with', 'XMLHttpRequest');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('unauthenticated');
  });

  it.each(paths)('%s: Authorization: Bearer with no bearerAuth in front gets 401 + WWW-Authenticate Bearer (also when it accepts HTML)', async (path) => {
    for (const accept of [JSON_ACCEPT, HTML]) {
      const res = await request(url).get(path).set('authorization', 'Bearer x').set('accept', accept);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+", error="invalid_token"$/);
      expect(res.body).toEqual({ error: 'invalid_token' });
      expect(res.headers.location).toBeUndefined();
    }
  });
});

describe('scopes (requireAuth({ scopes }))', () => {
  it('the granted scopes (openid email) pass', async () => {
    expectAllowed(await api(plain, '/scoped'));
    expectAllowed(await page(plain, '/scoped'));
    expectAllowed(await api(plain, '/any'));
  });

  it('a missing scope: 403 insufficient_scope naming it, for JSON and for pages', async () => {
    for (const res of [await api(plain, '/admin'), await page(plain, '/admin')]) {
      expectForbidden(res, '/admin');
      expect(res.body).toEqual({ error: 'insufficient_scope', error_description: 'missing scope: admin' });
    }
    const partly = await api(plain, '/openid-and-admin');
    expectForbidden(partly, '/openid-and-admin');
    expect(partly.body.error_description).toBe('missing scope: admin');
  });

  it('a missing scope on a request that also carries a bearer header: 403 with WWW-Authenticate insufficient_scope', async () => {
    const res = await api(plain, '/admin').set('authorization', 'Bearer x');
    expectForbidden(res, '/admin');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope", scope="admin"$/);
  });
});

describe('claims', () => {
  it('requireAuth({ claims }): every listed claim must be equal', async () => {
    expectAllowed(await api(plain, '/claims-ok'));
    const res = await api(plain, '/claims-no');
    expectForbidden(res, '/claims-no');
    expect(res.body).toMatchObject({ error: 'forbidden' });
  });

  it("claimEquals('email_verified', true) passes; claimEquals('name', 'x') is 403 (JSON body for APIs, text for pages); no type coercion", async () => {
    expectAllowed(await api(plain, '/verified'));
    expectAllowed(await page(plain, '/verified'));
    const json = await api(plain, '/named-x');
    expectForbidden(json, '/named-x');
    expect(json.body).toEqual({ error: 'forbidden', error_description: 'Not allowed for this user' });
    const html = await page(plain, '/named-x');
    expectForbidden(html, '/named-x');
    expect(html.headers['content-type']).toMatch(/^text\/plain/);
    expect(html.text).toBe('Forbidden');
    expectForbidden(await api(plain, '/verified-string'), '/verified-string');
  });

  it('claimIncludes on an array claim: every value must be there, in any order', async () => {
    expectAllowed(await api(grouped, '/groups-a'));
    expectAllowed(await api(grouped, '/groups-ab'));
    expectForbidden(await api(grouped, '/groups-ac'), '/groups-ac');
  });

  it('claimIncludes on a space-separated string claim: whole words only', async () => {
    expectAllowed(await api(grouped, '/roles-admin'));
    expectForbidden(await api(grouped, '/roles-adm'), '/roles-adm');
  });

  it('claimIncludes when the claim is absent: 403', async () => {
    expectForbidden(await api(plain, '/groups-a'), '/groups-a');
    expectForbidden(await page(plain, '/roles-admin'), '/roles-admin');
  });

  it('claimCheck: the predicate gets (req, claims) as in express-openid-connect', async () => {
    expectAllowed(await api(plain, '/check?allow=1'));
    expectForbidden(await api(plain, '/check?allow=0'), '/check');
  });

  it('claimCheck: a truthy return allows, a falsy one is 403 (express-openid-connect semantics)', async () => {
    expectAllowed(await api(plain, '/check-truthy'));
    expectForbidden(await api(plain, '/check-falsy'), '/check-falsy');
  });

  it('claimCheck: a throwing predicate, or one returning a Promise (truthy, but not an answer), goes to the error handler', async () => {
    const thrown = await api(plain, '/check-throws');
    expect(thrown.status).toBe(500);
    expect(thrown.body).toEqual({ error: 'app_error', message: 'predicate failed' });
    const async = await api(plain, '/check-async');
    expect(async.status).toBe(500);
    expect(async.body.message).toMatch(/claimCheck predicate returned a Promise/);
  });

  it('claimCheck without a function throws at start-up', () => {
    expect(() => oidc.claimCheck(undefined as never)).toThrow(TypeError);
  });
});

describe('authenticated but not allowed is never 401 (no login loop)', () => {
  const variants: Array<[string, (r: request.Test) => request.Test]> = [
    ['a page', (r) => r.set('accept', HTML)],
    ['a JSON request', (r) => r.set('accept', JSON_ACCEPT)],
    ['an XHR', (r) => r.set('x-requested-with', 'XMLHttpRequest')],
    ['no Accept header', (r) => r],
    ['a request that also carries a bearer header', (r) => r.set('authorization', 'Bearer x').set('accept', JSON_ACCEPT)],
  ];

  it.each(variants)('%s: 403 on every guard the user does not satisfy, and no redirect to login', async (_name, shape) => {
    for (const path of FORBIDDEN_FOR_PLAIN_USER) {
      const res = await shape(plain.get(path));
      expect(res.status, `${path}: ${res.status} ${res.text}`).toBe(403);
      expect(res.headers.location).toBeUndefined();
      expect(res.headers['www-authenticate'] ?? '').not.toMatch(/invalid_token/);
    }
    // And the user is still signed in afterwards.
    expectAllowed(await api(plain, '/any'));
  });
});
