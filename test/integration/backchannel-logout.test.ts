/**
 * Back-Channel Logout 1.0 (and Front-Channel Logout 1.0) against the fake OP: which sessions a
 * logout token ends (sid, sub, both: section 2.7), every section 2.6 rejection (400, nothing ends),
 * an unreachable JWKS (503, the OP may retry), the token-set tombstone that stops a resurrected
 * session copy from refreshing its way back, the opt-in front-channel route, and local logout
 * cleaning the session index.
 *
 * The fake OP gives every login (every authorization_code grant) its own `sid`; its `sub` is always
 * `user-1`. Each describe block has its own RP (its own MemoryStore and session index).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session, { type Store } from 'express-session';
import request from 'supertest';
import { SignJWT, decodeProtectedHeader, generateKeyPair } from 'jose';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { startRpApp, type RpApp } from '../support/rp-app.js';
import { captureLogger } from '../support/logger.js';
import { sessionCookie, sessionIdOf } from '../support/cookies.js';
import { b64json, jwtPayload, nowSeconds } from '../support/jwt.js';
import { loginThrough, type Agent } from '../support/login.js';
import { createOidcAuth } from '../../src/index.js';
import type { OidcAuthOptions } from '../../src/types.js';
import { startTcpForwarder } from '../support/tcp-forwarder.js';

const BCL = '/oidc/backchannel-logout';
const FCL = '/oidc/frontchannel-logout';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const JSON_ACCEPT = 'application/json';

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

let op: FakeOp;
const rps: RpApp[] = [];
const ops: FakeOp[] = [];
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  op = await startFakeOp();
});
afterAll(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  await Promise.all(rps.splice(0).map((r) => r.close()));
  await Promise.all(ops.splice(0).map((o) => o.close()));
  await op?.close();
});
afterEach(() => {
  vi.useRealTimers();
});

async function newRp(provider: FakeOp = op, extra: OidcAuthOptions = {}): Promise<RpApp> {
  const rp = await startRpApp({
    oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, ...extra },
  });
  rps.push(rp);
  return rp;
}

/** One fixture RP per describe block, closed after it. */
function rpFixture(extra: OidcAuthOptions = {}): () => RpApp {
  let rp: RpApp | undefined;
  beforeAll(async () => {
    rp = await startRpApp({ oidc: { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, ...extra } });
  });
  afterAll(async () => {
    await rp?.close();
  });
  return () => rp as RpApp;
}

/**
 * A minimal app (no rp-app routes) with `mount` applied before express-session and oidc.router,
 * closed after the file.
 */
async function startBareApp(mount: (app: express.Express) => void): Promise<{ url: string }> {
  const app = express();
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const oidc = createOidcAuth({ issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, baseUrl: url, env: {}, logger: captureLogger([]) });
  mount(app);
  app.use(session({ secret: 'bare-app-secret', resave: false, saveUninitialized: false }));
  app.use(oidc.router);
  closers.push(async () => {
    await oidc.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url };
}

type StoredSession = Record<string, unknown> & { oidc?: { auth?: { loginId: string; sid?: string; sub: string } } };

function storeGet(store: Store, id: string): Promise<StoredSession | undefined> {
  return new Promise((resolve, reject) =>
    store.get(id, (err: unknown, sess?: unknown) => (err ? reject(err) : resolve((sess ?? undefined) as StoredSession | undefined))),
  );
}

function storeSet(store: Store, id: string, sess: StoredSession): Promise<void> {
  return new Promise((resolve, reject) => store.set(id, sess as never, (err?: unknown) => (err ? reject(err) : resolve())));
}

interface Login {
  agent: Agent;
  sessionId: string;
  /** The provider session id (ID token `sid`). */
  sid: string;
  sub: string;
  loginId: string;
}

/** A full login with a fresh browser (agent); the fake OP's authorize step is one redirect. */
async function login(rp: RpApp): Promise<Login> {
  const agent = request.agent(rp.url);
  const done = await loginThrough(agent);
  expect(done.status, JSON.stringify(rp.logs)).toBe(302);
  const cookie = sessionCookie(done);
  expect(cookie).toBeDefined();
  const me = await agent.get('/me').set('accept', JSON_ACCEPT);
  expect(me.status, me.text).toBe(200);
  const sessionId = sessionIdOf(cookie as string);
  const stored = await storeGet(rp.store, sessionId);
  const auth = stored?.oidc?.auth;
  expect(auth?.sid).toBe(me.body.claims.sid);
  expect(typeof auth?.sid).toBe('string');
  return { agent, sessionId, sid: auth?.sid as string, sub: auth?.sub as string, loginId: auth?.loginId as string };
}

async function signedIn(l: Login): Promise<boolean> {
  const who = await l.agent.get('/whoami');
  expect(who.status).toBe(200);
  return who.body.authenticated === true;
}

async function expectAlive(rp: RpApp, ...logins: Login[]): Promise<void> {
  for (const l of logins) {
    expect(await signedIn(l), `session of sid ${l.sid} should still be signed in`).toBe(true);
    expect(await storeGet(rp.store, l.sessionId)).toBeDefined();
  }
}

async function expectEnded(rp: RpApp, ...logins: Login[]): Promise<void> {
  for (const l of logins) {
    // The session record is gone from the store before the browser comes back...
    expect(await storeGet(rp.store, l.sessionId)).toBeUndefined();
    // ...and the browser's next request is unauthenticated.
    expect(await signedIn(l), `session of sid ${l.sid} should have ended`).toBe(false);
    expect((await l.agent.get('/me').set('accept', JSON_ACCEPT)).status).toBe(401);
  }
}

function postLogoutToken(rp: RpApp, token: string): Promise<request.Response> {
  return request(rp.url)
    .post(BCL)
    .type('form')
    .send({ logout_token: token })
    .then((r) => r);
}

/** `ended` of the last 'back-channel logout' info log (how many sessions the request ended). */
function lastEnded(rp: RpApp): unknown {
  return rp.logs.filter((l) => l.message === 'back-channel logout').at(-1)?.meta?.ended;
}

function lastRefusalCode(rp: RpApp): unknown {
  return rp.logs.filter((l) => l.message === 'back-channel logout refused').at(-1)?.meta?.code;
}

function expectNoStore(res: request.Response): void {
  expect(res.headers['cache-control']).toBe('no-store');
}

function expectInvalidRequest(res: request.Response): void {
  expect(res.status, res.text).toBe(400);
  expect(res.body).toMatchObject({ error: 'invalid_request' });
  expectNoStore(res);
}

// ---------------------------------------------------------------------------
// which sessions end (sections 2.7, 2.8)
// ---------------------------------------------------------------------------

describe('back-channel logout: which sessions end', () => {
  const rp = rpFixture();

  it("a logout token with the first login's sid: 200 no-store, that browser is signed out, the other browser (same user, other provider session) stays", async () => {
    const a = await login(rp());
    const b = await login(rp());
    expect(a.sub).toBe(b.sub);
    expect(a.sid).not.toBe(b.sid);

    const res = await postLogoutToken(rp(), await op.makeLogoutToken({ sid: a.sid }));
    expect(res.status, res.text).toBe(200);
    expectNoStore(res);
    expect(res.text).toBe('');
    expect(lastEnded(rp())).toBe(1);

    await expectEnded(rp(), a);
    await expectAlive(rp(), b);
  });

  it('with only sub: every session of that user ends', async () => {
    const a = await login(rp());
    const b = await login(rp());
    const res = await postLogoutToken(rp(), await op.makeLogoutToken({ sub: a.sub }));
    expect(res.status, res.text).toBe(200);
    expectNoStore(res);
    await expectEnded(rp(), a, b);
  });

  it('with sid AND sub: only the sessions of that sid end (not every session of the sub)', async () => {
    const a = await login(rp());
    const b = await login(rp());
    const res = await postLogoutToken(rp(), await op.makeLogoutToken({ sid: a.sid, sub: a.sub }));
    expect(res.status, res.text).toBe(200);
    expect(lastEnded(rp())).toBe(1);
    await expectEnded(rp(), a);
    await expectAlive(rp(), b);
  });

  it('a sub of another user, or an unknown sid: 200 and nothing ends', async () => {
    const a = await login(rp());
    for (const claims of [{ sub: 'someone-else' }, { sid: 'no-such-provider-session' }]) {
      const res = await postLogoutToken(rp(), await op.makeLogoutToken(claims));
      expect(res.status, res.text).toBe(200);
      expect(lastEnded(rp())).toBe(0);
    }
    await expectAlive(rp(), a);
  });

  it('accepts typ logout+jwt, application/logout+jwt, JWT and no typ; aud as an array containing the client id', async () => {
    const a = await login(rp());
    const variants: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{}, { typ: 'logout+jwt' }],
      [{}, { typ: 'application/logout+jwt' }],
      [{}, { typ: 'JWT' }],
      [{}, { typ: undefined }],
      [{ aud: ['another-client', op.clientId] }, {}],
    ];
    for (const [claims, header] of variants) {
      const res = await postLogoutToken(rp(), await op.makeLogoutToken({ sid: 'unknown-sid', ...claims }, header));
      expect(res.status, `${JSON.stringify(header)} ${JSON.stringify(claims)}: ${res.text}`).toBe(200);
    }
    await expectAlive(rp(), a);
  });

  it('backchannelLogout: false: the route is not served (falls through to the app: 404) and nothing ends', async () => {
    const off = await newRp(op, { backchannelLogout: false });
    const a = await login(off);
    const res = await postLogoutToken(off, await op.makeLogoutToken({ sid: a.sid }));
    expect(res.status).toBe(404);
    await expectAlive(off, a);
  });

  it('an app that mounted express.urlencoded() itself: the parsed form body works too', async () => {
    const app = await startBareApp((a) => a.use(express.urlencoded({ extended: false })));
    const ok = await request(app.url)
      .post(BCL)
      .type('form')
      .send({ logout_token: await op.makeLogoutToken({ sid: 'x' }) });
    expect(ok.status, ok.text).toBe(200);
    const missing = await request(app.url).post(BCL).type('form').send({ other: 'x' });
    expectInvalidRequest(missing);
  });

  // Regression: body-parser 1.x (Express 4) sets req.body = {} on every request; with express.json()
  // mounted app-wide the form body was never read and every logout token was refused.
  it('an app with express.json() mounted app-wide: a form-encoded logout token is still accepted', async () => {
    const app = await startBareApp((a) => a.use(express.json()));
    const res = await request(app.url)
      .post(BCL)
      .type('form')
      .send({ logout_token: await op.makeLogoutToken({ sid: 'x' }) });
    expect(res.status, res.text).toBe(200);
  });

  // Regression: any parsed object body was taken as the form, so with express.json() mounted a JSON
  // body was accepted although section 2.5 requires application/x-www-form-urlencoded.
  it('an app with express.json() mounted app-wide: a JSON body is still refused (400)', async () => {
    const app = await startBareApp((a) => a.use(express.json()));
    const res = await request(app.url)
      .post(BCL)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ logout_token: await op.makeLogoutToken({ sid: 'x' }) }));
    expectInvalidRequest(res);
  });
});

// ---------------------------------------------------------------------------
// rejections (section 2.6): 400 invalid_request, nothing ends
// ---------------------------------------------------------------------------

describe('back-channel logout: every rejection is 400 invalid_request and ends nothing', () => {
  const rp = rpFixture();
  let victim: Login;
  let realKid: string;

  beforeAll(async () => {
    victim = await login(rp());
    realKid = decodeProtectedHeader(await op.makeLogoutToken({ sid: 'x' })).kid as string;
  });

  /** Each case targets the victim's sid (and sub), so accepting it would end the victim's session. */
  const tokenCases: Array<[string, () => Promise<string>]> = [
    ['not a JWT', async () => 'not-a-jwt'],
    ['five parts (an encrypted token)', async () => 'a.b.c.d.e'],
    ['a malformed header', async () => `!!!.${b64json({ sid: victim.sid })}.sig`],
    ['wrong iss', () => op.makeLogoutToken({ sid: victim.sid, iss: 'http://127.0.0.1:1/other-op' })],
    ['wrong aud', () => op.makeLogoutToken({ sid: victim.sid, aud: 'another-client' })],
    ['aud array without the client id', () => op.makeLogoutToken({ sid: victim.sid, aud: ['a', 'b'] })],
    ['no aud', () => op.makeLogoutToken({ sid: victim.sid, aud: undefined })],
    ['no iat', () => op.makeLogoutToken({ sid: victim.sid, iat: undefined })],
    ['iat in the future beyond the clock tolerance (60 s)', () => op.makeLogoutToken({ sid: victim.sid, iat: nowSeconds() + 600, exp: nowSeconds() + 720 })],
    ['exp in the past', () => op.makeLogoutToken({ sid: victim.sid, iat: nowSeconds() - 900, exp: nowSeconds() - 600 })],
    ['no events claim', () => op.makeLogoutToken({ sid: victim.sid, events: undefined })],
    ['events without the back-channel logout member', () => op.makeLogoutToken({ sid: victim.sid, events: { 'http://schemas.openid.net/event/other': {} } })],
    ['events member is a string, not an object', () => op.makeLogoutToken({ sid: victim.sid, events: { [EVENT]: 'yes' } })],
    ['events member is an array', () => op.makeLogoutToken({ sid: victim.sid, events: { [EVENT]: [] } })],
    ['events as an array (pre-final draft shape)', () => op.makeLogoutToken({ sid: victim.sid, events: [EVENT] })],
    ['a nonce (an ID token must never pass as a logout token)', () => op.makeLogoutToken({ sid: victim.sid, nonce: 'n-0S6_WzA2Mj' })],
    [
      'an actual ID token of the same provider',
      () => op.signIdToken({ iss: op.issuer, aud: op.clientId, sub: victim.sub, sid: victim.sid, iat: nowSeconds(), exp: nowSeconds() + 300, nonce: 'n' }),
    ],
    ['neither sub nor sid', () => op.makeLogoutToken({})],
    ['an empty sid', () => op.makeLogoutToken({ sid: '', sub: victim.sub })],
    ['a non-string sub', () => op.makeLogoutToken({ sub: 42, sid: victim.sid })],
    ['no jti', () => op.makeLogoutToken({ sid: victim.sid, jti: undefined })],
    ['typ at+jwt (an access token)', () => op.makeLogoutToken({ sid: victim.sid }, { typ: 'at+jwt' })],
    ['typ secevent+jwt', () => op.makeLogoutToken({ sid: victim.sid }, { typ: 'secevent+jwt' })],
    [
      'signature tampered (payload swapped under a valid signature)',
      async () => {
        const signed = (await op.makeLogoutToken({ sid: 'harmless' })).split('.');
        const other = (await op.makeLogoutToken({ sid: victim.sid })).split('.');
        return `${signed[0]}.${other[1]}.${signed[2]}`;
      },
    ],
    [
      'signature bytes flipped',
      async () => {
        const [h, p, s] = (await op.makeLogoutToken({ sid: victim.sid })).split('.') as [string, string, string];
        const sig = Buffer.from(s, 'base64url');
        sig[0] = (sig[0] as number) ^ 0xff;
        return `${h}.${p}.${sig.toString('base64url')}`;
      },
    ],
    [
      "signed with a foreign key that borrows the provider's kid",
      async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return new SignJWT({ sid: victim.sid, sub: victim.sub, jti: `j-${Math.random()}`, events: { [EVENT]: {} } })
          .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: realKid })
          .setIssuer(op.issuer)
          .setAudience(op.clientId)
          .setIssuedAt()
          .setExpirationTime('2m')
          .sign(privateKey);
      },
    ],
    [
      'alg none (an unsecured JWT built by hand)',
      async () => {
        const iat = nowSeconds();
        const payload = {
          iss: op.issuer,
          aud: op.clientId,
          iat,
          exp: iat + 120,
          jti: `j-${Math.random()}`,
          sid: victim.sid,
          sub: victim.sub,
          events: { [EVENT]: {} },
        };
        return `${b64json({ alg: 'none', typ: 'logout+jwt' })}.${b64json(payload)}.`;
      },
    ],
    [
      'HS256 with the client secret (the provider advertises RS256 only)',
      async () => {
        return new SignJWT({ sid: victim.sid, sub: victim.sub, jti: `j-${Math.random()}`, events: { [EVENT]: {} } })
          .setProtectedHeader({ alg: 'HS256', typ: 'logout+jwt' })
          .setIssuer(op.issuer)
          .setAudience(op.clientId)
          .setIssuedAt()
          .setExpirationTime('2m')
          .sign(new TextEncoder().encode(op.clientSecret));
      },
    ],
  ];

  it.each(tokenCases)('%s', async (_name, make) => {
    const res = await postLogoutToken(rp(), await make());
    expectInvalidRequest(res);
    expect(lastRefusalCode(rp())).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    await expectAlive(rp(), victim);
  });

  it('missing logout_token (other form fields, an empty form, an empty logout_token, no body at all)', async () => {
    const responses = [
      await request(rp().url)
        .post(BCL)
        .type('form')
        .send({ token: await op.makeLogoutToken({ sid: victim.sid }) }),
      await request(rp().url).post(BCL).type('form').send(''),
      await request(rp().url).post(BCL).type('form').send({ logout_token: '' }),
      await request(rp().url).post(BCL),
    ];
    for (const res of responses) expectInvalidRequest(res);
    await expectAlive(rp(), victim);
  });

  it('a JSON body carrying a valid logout token: 400 (the request must be form-encoded)', async () => {
    const token = await op.makeLogoutToken({ sid: victim.sid });
    const res = await request(rp().url)
      .post(BCL)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ logout_token: token }));
    expectInvalidRequest(res);
    await expectAlive(rp(), victim);
  });

  it('a replayed jti: the same token twice is 200 then 400 (OIDC_LOGOUT_TOKEN_REPLAYED); a new token reusing the jti too', async () => {
    const throwaway = await login(rp());
    const token = await op.makeLogoutToken({ sid: throwaway.sid });
    const first = await postLogoutToken(rp(), token);
    expect(first.status, first.text).toBe(200);
    await expectEnded(rp(), throwaway);

    const again = await postLogoutToken(rp(), token);
    expectInvalidRequest(again);
    expect(lastRefusalCode(rp())).toBe('OIDC_LOGOUT_TOKEN_REPLAYED');

    // A differently shaped token with the same jti (aimed at the victim) is a replay as well.
    const jti = jwtPayload(token).jti as string;
    const reuse = await postLogoutToken(rp(), await op.makeLogoutToken({ sid: victim.sid, jti }));
    expectInvalidRequest(reuse);
    expect(lastRefusalCode(rp())).toBe('OIDC_LOGOUT_TOKEN_REPLAYED');
    await expectAlive(rp(), victim);
  });

  it('GET on the back-channel route is not a logout', async () => {
    const token = await op.makeLogoutToken({ sid: victim.sid });
    const res = await request(rp().url).get(`${BCL}?logout_token=${encodeURIComponent(token)}`);
    expect(res.status).not.toBe(200);
    await expectAlive(rp(), victim);
  });
});

// ---------------------------------------------------------------------------
// provider keys unreachable: 503 so the OP retries
// ---------------------------------------------------------------------------

describe('back-channel logout: provider keys unreachable', () => {
  it('a provider that was discovered and then went away: 503 temporarily_unavailable, no-store', async () => {
    const op2 = await startFakeOp();
    ops.push(op2);
    const rp2 = await newRp(op2);
    // Starting a login discovers the provider (no JWKS fetch yet).
    expect((await request(rp2.url).get('/oidc/authenticate')).status).toBe(302);
    expect(op2.count('/.well-known/openid-configuration')).toBe(1);
    expect(op2.count('/jwks')).toBe(0);
    const token = await op2.makeLogoutToken({ sub: 'user-1' });
    await op2.close();

    const res = await postLogoutToken(rp2, token);
    expect(res.status, res.text).toBe(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable' });
    expectNoStore(res);
  });

  it("the 503 does not burn the jti: the provider's retry of the same token succeeds once the keys are back", async () => {
    const op3 = await startFakeOp();
    ops.push(op3);
    const fwd = await startTcpForwarder(op3.issuer);
    try {
      op3.set({ discoveryExtra: { jwks_uri: `${fwd.url}/jwks` } });
      const rp3 = await newRp(op3);
      expect((await request(rp3.url).get('/oidc/authenticate')).status).toBe(302);
      const token = await op3.makeLogoutToken({ sub: 'user-1' });
      await fwd.stop();
      const down = await postLogoutToken(rp3, token);
      expect(down.status, down.text).toBe(503);
      await fwd.start();
      const retry = await postLogoutToken(rp3, token);
      expect(retry.status, retry.text).toBe(200);
      expect(op3.count('/jwks')).toBe(1);
    } finally {
      await fwd.stop();
    }
  });
});

describe('back-channel logout: symmetric algorithms and stale tokens', () => {
  it('HS256 with the client secret is refused although the provider advertises HS256 next to RS256', async () => {
    const op5 = await startFakeOp();
    ops.push(op5);
    op5.set({ discoveryExtra: { id_token_signing_alg_values_supported: ['HS256', 'RS256'] } });
    const rp5 = await newRp(op5);
    const l = await login(rp5);
    const forged = await new SignJWT({ sid: l.sid, sub: l.sub, jti: `j-${Math.random()}`, events: { [EVENT]: {} } })
      .setProtectedHeader({ alg: 'HS256', typ: 'logout+jwt' })
      .setIssuer(op5.issuer)
      .setAudience(op5.clientId)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(new TextEncoder().encode(op5.clientSecret));
    expectInvalidRequest(await postLogoutToken(rp5, forged));
    expect(lastRefusalCode(rp5)).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    await expectAlive(rp5, l);
  });

  it('a token issued 24 h ago with a later exp is refused (OIDC_LOGOUT_TOKEN_MAX_AGE_SECONDS), as is one past a shorter configured age', async () => {
    const op6 = await startFakeOp();
    ops.push(op6);
    const rp6 = await newRp(op6);
    const l = await login(rp6);
    const now = nowSeconds();
    const stale = await op6.makeLogoutToken({ sid: l.sid, iat: now - 24 * 3600, exp: now + 24 * 3600 });
    expectInvalidRequest(await postLogoutToken(rp6, stale));
    expect(lastRefusalCode(rp6)).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    await expectAlive(rp6, l);

    const short = await newRp(op6, { logoutTokenMaxAgeSeconds: 10, clockToleranceSeconds: 0 });
    const l2 = await login(short);
    expectInvalidRequest(await postLogoutToken(short, await op6.makeLogoutToken({ sid: l2.sid, iat: now - 30, exp: now + 600 })));
    await expectAlive(short, l2);
    expect((await postLogoutToken(short, await op6.makeLogoutToken({ sid: l2.sid }))).status).toBe(200);
    await expectEnded(short, l2);
  });
});

describe('back-channel logout: the JWKS endpoint answers an error', () => {
  // Regression: a JWKS answering non-200 (here 500 with a JSON error body) made jose throw a
  // generic error that the logout-token path mapped to 400 invalid_request, so the provider never
  // retried and the session never ended. ID and access tokens already answered 503 for it.
  for (const status of [500, 404]) {
    it(`JWKS ${status}: 503, the session stays until the provider's retry with the same token ends it`, async () => {
      const op4 = await startFakeOp();
      ops.push(op4);
      const rp4 = await newRp(op4);
      const l = await login(rp4);
      // A new kid forces a JWKS fetch for the logout token (the login's keys are cached).
      await op4.rotateKeys();
      const token = await op4.makeLogoutToken({ sid: l.sid });
      op4.set({ jwksStatus: status });
      const down = await postLogoutToken(rp4, token);
      expect(down.status, down.text).toBe(503);
      expect(down.body).toEqual({ error: 'temporarily_unavailable' });
      expectNoStore(down);
      await expectAlive(rp4, l);
      // The failed fetch starts no 30 s unknown-kid cooldown (that would turn the retry into a
      // 400); only a 1 s back-off during which the same 503 is answered without a fetch.
      const jwksFetches = op4.count('/jwks');
      expect((await postLogoutToken(rp4, token)).status).toBe(503);
      expect(op4.count('/jwks')).toBe(jwksFetches);
      op4.set({ jwksStatus: undefined });
      await new Promise((r) => setTimeout(r, 1100));
      const retry = await postLogoutToken(rp4, token);
      expect(retry.status, retry.text).toBe(200);
      await expectEnded(rp4, l);
    });
  }
});

describe('back-channel logout: a failure while ending the sessions', () => {
  // Regression: the jti used to stay recorded when ending the sessions failed, so the provider's
  // retry was refused as a replay and the session stayed signed in. Now: 503 and the jti released.
  it("the session store's destroy fails once: the provider's retry of the same token ends the session", async () => {
    const store = new session.MemoryStore();
    let failNext = false;
    const destroy = store.destroy.bind(store);
    store.destroy = (id: string, cb?: (err?: unknown) => void) => {
      if (failNext) {
        failNext = false;
        cb?.(new Error('session store unavailable'));
        return;
      }
      destroy(id, cb);
    };
    const rp = await startRpApp({ store, oidc: { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret } });
    rps.push(rp);
    const l = await login(rp);
    const token = await op.makeLogoutToken({ sid: l.sid });

    failNext = true;
    const first = await postLogoutToken(rp, token);
    expect(first.status).toBeGreaterThanOrEqual(500);
    const retry = await postLogoutToken(rp, token);
    expect(retry.status, retry.text).toBe(200); // today: 400 "logout token replayed (jti seen before)"
    await expectEnded(rp, l);
  });
});

describe('back-channel logout: replay window of a token without exp', () => {
  const rp = rpFixture();

  // Regression: a token without exp used to be acceptable forever while its jti was remembered
  // for minutes; now its iat must be within LOGOUT_TOKEN_MAX_AGE_SECONDS and the jti is kept that long.
  it('a sub logout token without exp, replayed an hour later, does not end the sessions of a later login', async () => {
    const first = await login(rp());
    const token = await op.makeLogoutToken({ sub: first.sub, exp: undefined });
    expect((await postLogoutToken(rp(), token)).status).toBe(200);
    await expectEnded(rp(), first);

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    const later = await login(rp());
    const replay = await postLogoutToken(rp(), token);
    expect(replay.status, replay.text).toBe(400); // today: 200, and `later` is logged out
    await expectAlive(rp(), later);
  });
});

// ---------------------------------------------------------------------------
// tombstone: a resurrected session copy cannot refresh its way back
// ---------------------------------------------------------------------------

describe('back-channel logout: an ended session cannot refresh its way back', () => {
  const rp = rpFixture();

  it('the session record written back after the logout (a request in flight) ends at its next refresh, without a refresh grant', async () => {
    const l = await login(rp());
    const copy = await storeGet(rp().store, l.sessionId);
    expect(copy?.oidc?.auth?.loginId).toBe(l.loginId);

    const res = await postLogoutToken(rp(), await op.makeLogoutToken({ sid: l.sid }));
    expect(res.status, res.text).toBe(200);
    expect(await storeGet(rp().store, l.sessionId)).toBeUndefined();

    // A request that loaded the session before the logout ends now and writes its copy back.
    await storeSet(rp().store, l.sessionId, copy as StoredSession);
    const grantsBefore = op.grants('refresh_token');

    // The access token (300 s at the fake OP) is now due: sessionRefresh consults the token set.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 600_000);
    const me = await l.agent.get('/me').set('accept', JSON_ACCEPT);
    expect(me.status, me.text).toBe(401);
    expect(me.body).toMatchObject({ error: 'session_ended' });
    expect(op.grants('refresh_token')).toBe(grantsBefore); // the tombstone, not the provider, said no
    expect(await storeGet(rp().store, l.sessionId)).toBeUndefined();
    expect(await signedIn(l)).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// front-channel logout (opt-in)
// ---------------------------------------------------------------------------

describe('front-channel logout', () => {
  const rp = rpFixture({ frontchannelLogout: true });

  it("GET ?iss=&sid= from a cookieless client (a third-party iframe): 200 text/html no-store, that sid's sessions end, others stay", async () => {
    const a = await login(rp());
    const b = await login(rp());
    const res = await request(rp().url).get(FCL).query({ iss: op.issuer, sid: a.sid });
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expectNoStore(res);
    await expectEnded(rp(), a);
    await expectAlive(rp(), b);
  });

  it('a wrong iss, or an iss without sid, or a sid without iss: 400 and nothing ends', async () => {
    const a = await login(rp());
    for (const query of [{ iss: 'http://127.0.0.1:1', sid: a.sid }, { iss: op.issuer }, { sid: a.sid }, { iss: op.issuer, sid: '' }]) {
      const res = await request(rp().url).get(FCL).query(query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expectNoStore(res);
    }
    // Even with the session's own cookie: a mismatching iss ignores the request entirely.
    const own = await a.agent.get(FCL).query({ iss: 'http://127.0.0.1:1', sid: a.sid });
    expect(own.status).toBe(400);
    await expectAlive(rp(), a);
  });

  it("without iss/sid, the iframe's own cookie (when the browser sends it) ends its own session", async () => {
    const a = await login(rp());
    const b = await login(rp());
    const res = await a.agent.get(FCL);
    expect(res.status).toBe(200);
    await expectEnded(rp(), a);
    await expectAlive(rp(), b);
  });

  it('feature off (the default): the route is not served, the request falls through to the app (404) and nothing ends', async () => {
    const off = await newRp(op);
    const a = await login(off);
    const res = await a.agent.get(FCL).query({ iss: op.issuer, sid: a.sid });
    expect(res.status).toBe(404);
    await expectAlive(off, a);
  });
});

// ---------------------------------------------------------------------------
// local logout cleans the index
// ---------------------------------------------------------------------------

describe('local logout and the session index', () => {
  const rp = rpFixture();

  it('after POST /oidc/logout, a back-channel logout for that sid answers 200 and ends nothing; a sub logout ends only the remaining session', async () => {
    const a = await login(rp());
    const b = await login(rp());
    const out = await a.agent.post('/oidc/logout');
    expect(out.status).toBe(303);
    expect(await signedIn(a)).toBe(false);

    const bySid = await postLogoutToken(rp(), await op.makeLogoutToken({ sid: a.sid }));
    expect(bySid.status, bySid.text).toBe(200);
    expect(lastEnded(rp())).toBe(0);
    await expectAlive(rp(), b);

    const bySub = await postLogoutToken(rp(), await op.makeLogoutToken({ sub: a.sub }));
    expect(bySub.status, bySub.text).toBe(200);
    expect(lastEnded(rp())).toBe(1); // b only: a's entry left the sub index at logout
    await expectEnded(rp(), b);
  });
});
