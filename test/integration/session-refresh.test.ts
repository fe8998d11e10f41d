/**
 * sessionRefresh against the fake OP: the hot path does no I/O, a due access token is refreshed
 * exactly once per login however many requests ask, a rotated refresh token is never lost (not
 * even to a stale express-session write), dead credentials end the session, temporary failures
 * change nothing, refreshed ID tokens are validated per OIDC Core 12.2, exempt URLs are left
 * alone, sessions without a refresh token are renewed silently (prompt=none), and logout revokes
 * the current refresh token.
 *
 * Expiry is forced by moving the clock (Date only; the fake OP runs in this process and shares it).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import { createOidcAuth } from '../../src/index.js';
import type { OidcAuthOptions, StoredTokens } from '../../src/types.js';
import { startFakeOp, type FakeOp, type FakeOpRequestLog } from '../support/fake-op.js';
import { reservePort, sendMe } from '../support/rp-app.js';
import { captureLogger, type CapturedLog } from '../support/logger.js';
import { jwtPayload } from '../support/jwt.js';
import { atFakeOp, expectAnonymous, loginThrough, pathOf, type Agent } from '../support/login.js';
import { startTcpForwarder } from '../support/tcp-forwarder.js';

const WELCOME = '/welcome';
const FAILED = '/login-failed';
const JSON_ACCEPT = 'application/json';
const HTML_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

// ---------------------------------------------------------------------------
// A test RP: rp-app.ts's pattern plus the routes these tests need.
// ---------------------------------------------------------------------------

interface StoredAuth {
  loginId: string;
  accessToken?: string;
  refreshToken?: string;
  idToken?: string;
  accessTokenExpiresAt?: number;
  tokenVersion: number;
  renewAt: number;
}

interface Gate {
  started: Promise<void>;
  release(): void;
}

interface TestRp {
  url: string;
  agent: Agent;
  store: session.MemoryStore;
  /** Calls of the session store's `set` (express-session writing a session back). */
  writes: { count: number };
  logs: CapturedLog[];
  refreshed: StoredTokens[];
  refreshErrors: Array<{ code: string; oauthError: string | undefined; ended: boolean; path: string }>;
  /** The next GET /slow waits on this gate (after its session was loaded) instead of 1.5 s. */
  slowGate(): Gate;
  /** The authenticated part of every session in the store. */
  storedAuths(): Promise<StoredAuth[]>;
  close(): Promise<void>;
}

const rps: TestRp[] = [];

interface RpOptions {
  oidc?: OidcAuthOptions;
  resave?: boolean;
  /** Session cookie maxAge (ms); default none (a browser-session cookie). */
  cookieMaxAgeMs?: number;
}

async function startRp(op: FakeOp, opts: RpOptions = {}): Promise<TestRp> {
  const reserved = await reservePort();
  const logs: TestRp['logs'] = [];
  const refreshed: StoredTokens[] = [];
  const refreshErrors: TestRp['refreshErrors'] = [];
  const store = new session.MemoryStore();
  const writes = { count: 0 };
  const originalSet = store.set.bind(store);
  store.set = (sid, sess, cb) => {
    writes.count++;
    originalSet(sid, sess, cb);
  };

  const oidc = createOidcAuth({
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    baseUrl: reserved.url,
    loginRedirectUrl: WELCOME,
    loginRedirectUrlFailure: FAILED,
    logger: captureLogger(logs),
    env: {},
    ...opts.oidc,
    hooks: {
      onTokensRefreshed: (tokens) => {
        refreshed.push(tokens);
      },
      onRefreshError: (error, req, { ended }) => {
        refreshErrors.push({ code: error.code, oauthError: error.oauthError, ended, path: req.path });
      },
      ...opts.oidc?.hooks,
    },
  });

  let gate: { started: () => void; released: Promise<void> } | undefined;

  const app = express();
  app.use(
    session({
      secret: 'test-session-secret',
      resave: opts.resave ?? false,
      saveUninitialized: false,
      store,
      ...(opts.cookieMaxAgeMs ? { cookie: { maxAge: opts.cookieMaxAgeMs } } : {}),
    }),
  );
  app.use(oidc.router);
  app.get('/', (_req, res) => {
    res.type('text/plain').send('home');
  });
  app.get('/me', oidc.requireAuth(), sendMe);
  app.post('/submit', oidc.requireAuth(), (req, res) => {
    res.json({ ok: true, sub: req.oidc.claims?.sub });
  });
  app.get('/whoami', (req, res) => {
    res.json({ authenticated: req.oidc?.isAuthenticated() ?? false, user: req.user ?? null });
  });
  app.get('/health', (req, res) => {
    res.json({ ok: true, authenticated: req.oidc?.isAuthenticated() ?? false, accessToken: req.oidc?.accessToken ?? null });
  });
  app.get('/static/x', (req, res) => {
    res.type('text/plain').send(`static ${req.oidc?.isAuthenticated() ? 'authenticated' : 'anonymous'}`);
  });
  // A route that writes to the session: the control for "the hot path writes nothing".
  app.get('/bump', (req, res) => {
    const s = req.session as unknown as { counter?: number };
    s.counter = (s.counter ?? 0) + 1;
    res.json({ counter: s.counter });
  });
  // A slow route that modifies the session at the end, so express-session writes back the copy it
  // loaded when the request started (stale if a refresh happened meanwhile).
  app.get('/slow', (req, res) => {
    const g = gate;
    gate = undefined;
    g?.started();
    const wait = g ? g.released : new Promise<void>((resolve) => setTimeout(resolve, 1500));
    void wait.then(() => {
      const s = req.session as unknown as { counter?: number };
      s.counter = (s.counter ?? 0) + 1;
      res.json({ counter: s.counter, refreshToken: req.oidc.refreshToken });
    });
  });
  app.use((err: Error & { code?: string; statusCode?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.statusCode ?? 500).json({ error: err.code ?? 'error', message: err.message });
  });
  reserved.server.on('request', app);

  const rp: TestRp = {
    url: reserved.url,
    agent: request.agent(reserved.url),
    store,
    writes,
    logs,
    refreshed,
    refreshErrors,
    slowGate() {
      let started!: () => void;
      let release!: () => void;
      const startedP = new Promise<void>((r) => (started = r));
      const released = new Promise<void>((r) => (release = r));
      gate = { started, released };
      return { started: startedP, release };
    },
    storedAuths() {
      return new Promise((resolve, reject) => {
        store.all((err, all) => {
          if (err) return reject(err);
          const sessions = Array.isArray(all) ? all : Object.values(all ?? {});
          resolve(sessions.map((s) => (s as unknown as { oidc?: { auth?: StoredAuth } }).oidc?.auth).filter((a): a is StoredAuth => a !== undefined));
        });
      });
    },
    async close() {
      await oidc.close();
      reserved.server.closeAllConnections();
      await new Promise<void>((resolve) => reserved.server.close(() => resolve()));
    },
  };
  rps.push(rp);
  return rp;
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

async function login(rp: TestRp, agent: Agent = rp.agent): Promise<void> {
  const cb = await loginThrough(agent);
  expect(cb.status, JSON.stringify(rp.logs)).toBe(302);
  expect(cb.headers.location).toBe(WELCOME);
}

interface Me {
  accessToken: string;
  refreshToken: string | undefined;
  idToken: string;
  accessTokenExpiresAt: number;
  claims: { sub: string; auth_time?: number };
}

function meJson(agent: Agent, path = '/me'): Promise<request.Response> {
  return agent
    .get(path)
    .set('accept', JSON_ACCEPT)
    .then((r) => r);
}

async function me(agent: Agent): Promise<Me> {
  const res = await meJson(agent);
  expect(res.status, res.text).toBe(200);
  return res.body as Me;
}

function refreshGrants(op: FakeOp): FakeOpRequestLog[] {
  return op.requests.filter((r) => r.path === '/token' && r.body.grant_type === 'refresh_token');
}

/** Move the (shared) clock to an absolute epoch second. */
function clockAt(epochSeconds: number): void {
  vi.setSystemTime(epochSeconds * 1000);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------

let op: FakeOp;

beforeAll(async () => {
  op = await startFakeOp();
});

afterAll(async () => {
  await op?.close();
});

beforeEach(() => {
  op.reset();
  op.requests.length = 0;
  op.revokedTokens.length = 0;
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
});

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(rps.splice(0).map((r) => r.close()));
});

// ---------------------------------------------------------------------------

describe('hot path', () => {
  it('a valid access token: 20 requests make no provider request and write no session', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    const providerRequests = op.requests.length;
    const writes = rp.writes.count;
    for (let i = 0; i < 20; i++) {
      const m = await me(rp.agent);
      expect(m.accessToken).toBe(first.accessToken);
    }
    expect(op.requests.length).toBe(providerRequests);
    expect(rp.writes.count).toBe(writes);
    expect(rp.refreshed).toEqual([]);

    // Control: the write counter does see a route that modifies the session.
    const bump = await rp.agent.get('/bump');
    expect(bump.body.counter).toBe(1);
    expect(rp.writes.count).toBe(writes + 1);
    expect(op.requests.length).toBe(providerRequests);
  });
});

describe('refresh', () => {
  it('an expired access token is refreshed once; the same request sees the new tokens', async () => {
    const rp = await startRp(op, { oidc: { storeIdToken: true } });
    await login(rp);
    const before = await me(rp.agent);
    expect(typeof before.refreshToken).toBe('string');

    clockAt(before.accessTokenExpiresAt + 5);
    const after = await me(rp.agent);

    const grants = refreshGrants(op);
    expect(grants).toHaveLength(1);
    const grant = grants[0]!;
    expect(grant.body.refresh_token).toBe(before.refreshToken);
    // client_secret_basic, credentials form-encoded (RFC 6749 2.3.1)
    const basic = String(grant.headers.authorization);
    expect(basic).toMatch(/^Basic /);
    expect(Buffer.from(basic.slice(6), 'base64').toString('utf8')).toBe(`${encodeURIComponent(op.clientId)}:${encodeURIComponent(op.clientSecret)}`);
    expect(grant.body.client_secret).toBeUndefined();

    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).toEqual(expect.any(String));
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.accessTokenExpiresAt).toBeGreaterThan(before.accessTokenExpiresAt);
    expect(after.claims.sub).toBe(before.claims.sub);

    // The new access token is the provider's live one.
    const userinfo = await fetch(`${op.issuer}/userinfo`, { headers: { authorization: `Bearer ${after.accessToken}` } });
    expect(userinfo.status).toBe(200);

    expect(rp.refreshed).toHaveLength(1);
    expect(rp.refreshed[0]).toEqual({
      accessToken: after.accessToken,
      accessTokenExpiresAt: after.accessTokenExpiresAt,
      refreshToken: after.refreshToken,
      idToken: after.idToken,
    });
    expect(rp.refreshErrors).toEqual([]);

    // Fresh again: the next request is the hot path.
    const again = await me(rp.agent);
    expect(again.accessToken).toBe(after.accessToken);
    expect(refreshGrants(op)).toHaveLength(1);
  });

  it('leeway: 10 s tokens are not refreshed at 3 s of age, but are at 6 s (leeway min(30, 10/2) = 5)', async () => {
    op.set({ accessTokenTtl: 10 });
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt - 7); // 3 s of age
    expect((await me(rp.agent)).accessToken).toBe(first.accessToken);
    expect(refreshGrants(op)).toHaveLength(0);

    clockAt(first.accessTokenExpiresAt - 4); // 6 s of age, 4 s before expiry
    const refreshed = await me(rp.agent);
    expect(refreshGrants(op)).toHaveLength(1);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
  });

  it('leeway: 3600 s tokens with the default 30 s leeway are not refreshed 40 s before expiry, but are 30 s before', async () => {
    op.set({ accessTokenTtl: 3600 });
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt - 40);
    expect((await me(rp.agent)).accessToken).toBe(first.accessToken);
    expect(refreshGrants(op)).toHaveLength(0);

    clockAt(first.accessTokenExpiresAt - 30);
    const refreshed = await me(rp.agent);
    expect(refreshGrants(op)).toHaveLength(1);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
  });

  it('storm: 40 concurrent requests with an expired token make one grant and all see the same new token; twice', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    const wave1 = await Promise.all(Array.from({ length: 40 }, () => meJson(rp.agent)));
    expect(wave1.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(refreshGrants(op)).toHaveLength(1);
    const tokens1 = new Set(wave1.map((r) => r.body.accessToken as string));
    expect(tokens1.size).toBe(1);
    const [at1] = [...tokens1];
    expect(at1).not.toBe(first.accessToken);
    const rt1 = wave1[0]!.body.refreshToken as string;
    expect(new Set(wave1.map((r) => r.body.refreshToken as string))).toEqual(new Set([rt1]));
    expect(rp.refreshed).toHaveLength(1);

    // Expire again: the rotated refresh token was kept, so a second storm also makes exactly one good grant.
    clockAt((wave1[0]!.body.accessTokenExpiresAt as number) + 1);
    const wave2 = await Promise.all(Array.from({ length: 40 }, () => meJson(rp.agent)));
    expect(wave2.map((r) => r.status)).toEqual(Array(40).fill(200));
    const grants = refreshGrants(op);
    expect(grants).toHaveLength(2);
    expect(grants[1]!.body.refresh_token).toBe(rt1);
    expect(new Set(wave2.map((r) => r.body.accessToken as string)).size).toBe(1);
    expect(wave2[0]!.body.accessToken).not.toBe(at1);
    expect(rp.refreshed).toHaveLength(2);
    expect(rp.refreshErrors).toEqual([]);
  });
});

describe('no lost rotation across a stale session write', () => {
  it.each([{ resave: false }, { resave: true }])('resave: $resave', async ({ resave }) => {
    const rp = await startRp(op, { resave });
    await login(rp);
    const initial = await me(rp.agent);
    const rt1 = initial.refreshToken as string;

    // 1. A slow request loads the session (holding RT1) and keeps it.
    const gate = rp.slowGate();
    const slow = rp.agent.get('/slow').then((r) => r);
    await gate.started;

    // 2. Meanwhile the tokens expire and another request refreshes: RT1 -> RT2.
    clockAt(initial.accessTokenExpiresAt + 1);
    const refreshed = await me(rp.agent);
    const rt2 = refreshed.refreshToken as string;
    expect(rt2).not.toBe(rt1);
    expect(refreshGrants(op)).toHaveLength(1);

    // 3. The slow request finishes and writes back its stale copy of the session (RT1).
    gate.release();
    const slowRes = await slow;
    expect(slowRes.status).toBe(200);
    expect(slowRes.body).toEqual({ counter: 1, refreshToken: rt1 });
    const [stale] = await rp.storedAuths();
    expect(stale?.refreshToken).toBe(rt1); // precondition: the stale write really happened

    // 4. Expire again: the refresh presents RT2 (the provider would revoke the family for RT1).
    clockAt(refreshed.accessTokenExpiresAt + 1);
    const res = await meJson(rp.agent);
    expect(res.status, res.text).toBe(200);
    const grants = refreshGrants(op);
    expect(grants).toHaveLength(2);
    expect(grants[1]!.body.refresh_token).toBe(rt2);
    expect(res.body.refreshToken).not.toBe(rt2);
    expect(res.body.accessToken).not.toBe(refreshed.accessToken);
    expect(rp.refreshErrors).toEqual([]);

    // And the login is healthy afterwards.
    clockAt((res.body.accessTokenExpiresAt as number) + 1);
    const third = await meJson(rp.agent);
    expect(third.status).toBe(200);
    expect(refreshGrants(op)).toHaveLength(3);
    expect(refreshGrants(op)[2]!.body.refresh_token).toBe(res.body.refreshToken);
  });

  it('a stale session copy is healed from the token store on the next request, without a grant', async () => {
    const rp = await startRp(op);
    await login(rp);
    const initial = await me(rp.agent);

    const gate = rp.slowGate();
    const slow = rp.agent.get('/slow').then((r) => r);
    await gate.started;
    clockAt(initial.accessTokenExpiresAt + 1);
    const refreshed = await me(rp.agent);
    gate.release();
    expect((await slow).status).toBe(200);
    expect((await rp.storedAuths())[0]?.refreshToken).toBe(initial.refreshToken);

    const healed = await me(rp.agent);
    expect(refreshGrants(op)).toHaveLength(1);
    expect(healed.accessToken).toBe(refreshed.accessToken);
    expect(healed.refreshToken).toBe(refreshed.refreshToken);
    expect(healed.accessTokenExpiresAt).toBe(refreshed.accessTokenExpiresAt);
    const [stored] = await rp.storedAuths();
    expect(stored?.refreshToken).toBe(refreshed.refreshToken);
    expect(stored?.tokenVersion).toBe(2);
  });
});

describe('token sets live as long as their sessions', () => {
  it('rotation survives an idle period longer than tokenStoreTtlSeconds when the session cookie lasts longer (after a stale write)', async () => {
    const rp = await startRp(op, { oidc: { tokenStoreTtlSeconds: 60 }, cookieMaxAgeMs: 3600_000 });
    await login(rp);
    const initial = await me(rp.agent);
    const gate = rp.slowGate();
    const slow = rp.agent.get('/slow').then((r) => r);
    await gate.started;
    clockAt(initial.accessTokenExpiresAt + 1);
    const refreshed = await me(rp.agent);
    gate.release();
    expect((await slow).status).toBe(200);
    expect((await rp.storedAuths())[0]?.refreshToken).toBe(initial.refreshToken); // the stale write happened

    // Idle for longer than tokenStoreTtlSeconds, less than the session's cookie lifetime.
    clockAt(refreshed.accessTokenExpiresAt + 120);
    const res = await meJson(rp.agent);
    expect(res.status, res.text).toBe(200);
    expect(refreshGrants(op)[1]!.body.refresh_token).toBe(refreshed.refreshToken);
  });
});

describe('dead credentials end the session', () => {
  it('invalid_grant on a page request: 302 to login with next; the session is gone', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ tokenStatus: 400, tokenErrorBody: { error: 'invalid_grant', error_description: 'revoked' } });
    const res = await rp.agent.get('/me?x=1&y=%2F').set('accept', HTML_ACCEPT);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me?x=1&y=%2F')}`);
    expect(refreshGrants(op)).toHaveLength(1);

    op.reset();
    await expectAnonymous(rp.agent);
    expect(await rp.storedAuths()).toEqual([]);
    // No further grant: the tombstone/destroyed session is not revived when the provider recovers.
    const after = await meJson(rp.agent);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('unauthenticated');
    expect(refreshGrants(op)).toHaveLength(1);

    expect(rp.refreshErrors).toEqual([{ code: 'OIDC_OP_ERROR', oauthError: 'invalid_grant', ended: true, path: '/me' }]);
  });

  it('invalid_grant on a JSON request: 401 session_ended with the oidc-login-url header', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ tokenStatus: 400, tokenErrorBody: { error: 'invalid_grant' } });
    const res = await meJson(rp.agent, '/me?page=2');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('session_ended');
    expect(res.headers['oidc-login-url']).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me?page=2')}`);
    expect(res.body.login_url).toBe(res.headers['oidc-login-url']);

    op.reset();
    await expectAnonymous(rp.agent);
    expect(rp.refreshErrors).toEqual([{ code: 'OIDC_OP_ERROR', oauthError: 'invalid_grant', ended: true, path: '/me' }]);
  });

  it('invalid_grant during a storm: one grant, every request told the session ended', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ tokenStatus: 400, tokenErrorBody: { error: 'invalid_grant' } });
    const wave = await Promise.all(Array.from({ length: 20 }, () => meJson(rp.agent)));
    for (const r of wave) {
      expect(r.status).toBe(401);
      expect(['session_ended', 'unauthenticated']).toContain(r.body.error);
    }
    expect(wave.some((r) => r.body.error === 'session_ended')).toBe(true);
    expect(refreshGrants(op)).toHaveLength(1);
    op.reset();
    await expectAnonymous(rp.agent);
    expect(refreshGrants(op)).toHaveLength(1);
  });

  it('a revoked family (the old refresh token replayed at the provider) ends the session the same way', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    const second = await me(rp.agent);
    expect(second.refreshToken).not.toBe(first.refreshToken);

    // Someone replays the rotated-away refresh token: the provider revokes the whole family.
    const replay = await fetch(`${op.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${op.clientId}:${op.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refreshToken as string }),
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');

    clockAt(second.accessTokenExpiresAt + 1);
    const res = await rp.agent.get('/me').set('accept', HTML_ACCEPT);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me')}`);
    // The RP presented its current token; the provider refused it because the family is dead.
    const grants = refreshGrants(op);
    expect(grants.at(-1)!.body.refresh_token).toBe(second.refreshToken);
    await expectAnonymous(rp.agent);
    expect(rp.refreshErrors).toEqual([{ code: 'OIDC_OP_ERROR', oauthError: 'invalid_grant', ended: true, path: '/me' }]);
  });
});

// Security review finding: a request with a session cookie and any `Authorization: Bearer <junk>`
// used to skip sessionRefresh, and requireAuth() then accepted the session as it stood (expired
// access token, dead refresh token, re-authentication due): a stolen cookie plus a junk header
// stayed logged in for the session's whole life.
describe('a Bearer header never makes a session more trusted', () => {
  const withJunkBearer = (agent: Agent, path = '/me') => agent.get(path).set('accept', JSON_ACCEPT).set('authorization', 'Bearer junk-token');

  it('refresh token revoked at the provider: 401 session_ended with or without the header, the session ends', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);
    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ tokenStatus: 400, tokenErrorBody: { error: 'invalid_grant' } });
    const res = await withJunkBearer(rp.agent);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('session_ended');
    expect(refreshGrants(op)).toHaveLength(1);
    op.reset();
    await expectAnonymous(rp.agent);
    const again = await withJunkBearer(rp.agent);
    expect(again.status).toBe(401);
  });

  it('an expired access token is refreshed as without the header (one grant), then the session is served', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);
    clockAt(first.accessTokenExpiresAt + 1);
    const res = await withJunkBearer(rp.agent);
    expect(res.status, res.text).toBe(200);
    expect(res.body.accessToken).not.toBe(first.accessToken);
    expect(refreshGrants(op)).toHaveLength(1);
  });

  it('re-authentication due (no refresh token): 401 reauthentication_required with or without the header', async () => {
    op.set({ issueRefreshToken: false });
    const rp = await startRp(op, { oidc: { renewIdTokenExpirySeconds: 60 } });
    await login(rp);
    const [auth] = await rp.storedAuths();
    clockAt(auth!.renewAt + 1);
    const res = await withJunkBearer(rp.agent);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('reauthentication_required');
    const plain = await meJson(rp.agent);
    expect(plain.status).toBe(401);
    expect(plain.body.error).toBe('reauthentication_required');
  });
});

describe('temporary failures change nothing', () => {
  const cases = [
    { name: 'HTTP 500 with an HTML body', set: { tokenStatus: 500, tokenRawBody: '<html><body>Internal Server Error</body></html>' } },
    { name: 'HTTP 500 server_error', set: { tokenStatus: 500, tokenErrorBody: { error: 'server_error' } } },
    { name: 'HTTP 503 temporarily_unavailable', set: { tokenStatus: 503, tokenErrorBody: { error: 'temporarily_unavailable' } } },
    { name: 'HTTP 429 slow_down', set: { tokenStatus: 429, tokenErrorBody: { error: 'slow_down' } } },
    // The provider stalls past OIDC_TIMEOUT and then fails anyway (it never processes the grant).
    {
      name: 'a timeout (timeout 0.5 s, provider stalls 1.5 s)',
      set: { tokenDelayMs: 1500, tokenStatus: 503, tokenErrorBody: { error: 'temporarily_unavailable' } },
      timeout: 0.5,
      settleMs: 2000,
    },
  ];

  it.each(cases)('$name: 503 + Retry-After, tokens kept, the next request refreshes with the same refresh token', async (c) => {
    const rp = await startRp(op, { oidc: c.timeout ? { timeout: c.timeout } : {} });
    await login(rp);
    const first = await me(rp.agent);
    const [storedBefore] = await rp.storedAuths();

    clockAt(first.accessTokenExpiresAt + 1);
    op.set(c.set);
    const json = await meJson(rp.agent);
    expect(json.status).toBe(503);
    expect(json.headers['retry-after']).toBeDefined();
    expect(json.body.error).toBe('temporarily_unavailable');

    const page = await rp.agent.get('/me').set('accept', HTML_ACCEPT);
    expect(page.status).toBe(503);
    expect(page.headers['retry-after']).toBeDefined();
    expect(page.headers['content-type']).toMatch(/^text\/plain/);
    expect(page.text.length).toBeGreaterThan(0);

    const failed = refreshGrants(op);
    expect(failed).toHaveLength(2);
    expect(failed.every((g) => g.body.refresh_token === first.refreshToken)).toBe(true);
    // The session still holds exactly what it held before.
    expect(await rp.storedAuths()).toEqual([storedBefore]);
    expect(rp.refreshErrors).toEqual([expect.objectContaining({ ended: false, path: '/me' }), expect.objectContaining({ ended: false, path: '/me' })]);
    expect(rp.refreshed).toEqual([]);

    // Stalled requests still pending at the provider would read the reset behaviour: let them finish first.
    if (c.settleMs) await sleep(c.settleMs);
    op.reset();
    const recovered = await me(rp.agent);
    const grants = refreshGrants(op);
    expect(grants).toHaveLength(3);
    expect(grants[2]!.body.refresh_token).toBe(first.refreshToken);
    expect(recovered.accessToken).not.toBe(first.accessToken);
    expect(recovered.refreshToken).not.toBe(first.refreshToken);
    expect(rp.refreshed).toHaveLength(1);
  });

  it('connection refused: 503, tokens kept, refresh works once the provider is reachable again', async () => {
    const forwarder = await startTcpForwarder(op.issuer);
    try {
      const rp = await startRp(op, { oidc: { tokenEndpoint: `${forwarder.url}/token`, timeout: 2 } });
      await login(rp);
      const first = await me(rp.agent);
      const [storedBefore] = await rp.storedAuths();
      const grantsBefore = refreshGrants(op).length;

      await forwarder.stop();
      clockAt(first.accessTokenExpiresAt + 1);
      const json = await meJson(rp.agent);
      expect(json.status).toBe(503);
      expect(json.body.error).toBe('temporarily_unavailable');
      expect(json.headers['retry-after']).toBeDefined();
      const page = await rp.agent.get('/me').set('accept', HTML_ACCEPT);
      expect(page.status).toBe(503);
      expect(page.headers['content-type']).toMatch(/^text\/plain/);
      expect(refreshGrants(op)).toHaveLength(grantsBefore); // nothing reached the provider
      expect(await rp.storedAuths()).toEqual([storedBefore]);
      expect(rp.refreshErrors).toEqual([
        expect.objectContaining({ code: 'OIDC_HTTP_NETWORK', ended: false }),
        expect.objectContaining({ code: 'OIDC_HTTP_NETWORK', ended: false }),
      ]);

      await forwarder.start();
      const recovered = await me(rp.agent);
      const grants = refreshGrants(op);
      expect(grants).toHaveLength(grantsBefore + 1);
      expect(grants.at(-1)!.body.refresh_token).toBe(first.refreshToken);
      expect(recovered.accessToken).not.toBe(first.accessToken);
    } finally {
      await forwarder.stop();
    }
  });

  it('a timeout after which the provider DID rotate cannot be recovered: the next refresh ends the session cleanly', async () => {
    // The inherent limit of rotation without a reuse grace period: the RP never saw the new
    // refresh token. It must still fail closed (login redirect), not loop or corrupt the session.
    const rp = await startRp(op, { oidc: { timeout: 0.5 } });
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ tokenDelayMs: 1500 });
    const slow = await meJson(rp.agent);
    expect(slow.status).toBe(503);
    expect(rp.refreshErrors).toEqual([expect.objectContaining({ code: 'OIDC_HTTP_TIMEOUT', ended: false })]);
    // Wait (real time) until the provider has processed the abandoned grant (1.5 s after it arrived).
    await sleep(2000);

    op.reset();
    const res = await rp.agent.get('/me').set('accept', HTML_ACCEPT);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me')}`);
    expect(refreshGrants(op).map((g) => g.body.refresh_token)).toEqual([first.refreshToken, first.refreshToken]);
    expect(rp.refreshErrors.at(-1)).toEqual(expect.objectContaining({ oauthError: 'invalid_grant', ended: true }));
    // ...because the provider had rotated it (its reuse detection), not for any other reason.
    expect(rp.logs.some((l) => l.message.startsWith('session ended') && /already used/.test(String(l.meta?.reason)))).toBe(true);
    await expectAnonymous(rp.agent);
  });
});

describe('refreshed ID token (OIDC Core 12.2)', () => {
  it('another sub ends the session', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ idTokenClaims: { sub: 'other' } });
    const res = await meJson(rp.agent);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('session_ended');
    expect(refreshGrants(op)).toHaveLength(1);
    expect(rp.refreshErrors).toEqual([expect.objectContaining({ code: 'OIDC_ID_TOKEN_INVALID', ended: true })]);
    expect(rp.refreshed).toEqual([]);
    op.reset();
    await expectAnonymous(rp.agent);
  });

  // Azure AD B2C, AWS Cognito (with rotation), django-oidc-provider and Rauthy re-stamp auth_time
  // with the refresh time. Regression: every refresh with them used to end the session.
  it("a re-stamped auth_time is tolerated: the session continues with the login's auth_time, one warning per provider", async () => {
    const rp = await startRp(op, { oidc: { storeIdToken: true } });
    await login(rp);
    const first = await me(rp.agent);
    const originalAuthTime = first.claims.auth_time as number;
    expect(typeof originalAuthTime).toBe('number');

    for (const [i, shift] of [
      [1, 3600],
      [2, 7200],
    ] as const) {
      const before = await me(rp.agent);
      clockAt((before.accessTokenExpiresAt as number) + 1);
      op.set({ idTokenClaims: { auth_time: originalAuthTime + shift } });
      const after = await me(rp.agent);
      expect(refreshGrants(op)).toHaveLength(i);
      expect(after.accessToken).not.toBe(before.accessToken);
      // The provider's new ID token (with its re-stamped auth_time) is kept for id_token_hint...
      expect(jwtPayload(after.idToken as string).auth_time).toBe(originalAuthTime + shift);
      // ...but the session's authentication time stays the original one.
      expect(after.claims.auth_time).toBe(originalAuthTime);
    }
    expect(rp.refreshErrors).toEqual([]);
    const warnings = rp.logs.filter((l) => l.level === 'warn' && /auth_time/.test(l.message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/re-stamps "auth_time".*OIDC_STRICT_REFRESH_AUTH_TIME/);
    expect(warnings[0]?.meta).toEqual({ iss: op.issuer, deviation: 'changed' });
    op.reset();
  });

  it('a refreshed ID token without auth_time is tolerated too', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);
    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ idTokenClaims: { auth_time: undefined } });
    const after = await me(rp.agent);
    expect(after.accessToken).not.toBe(first.accessToken);
    expect(after.claims.auth_time).toBe(first.claims.auth_time);
    expect(rp.logs.filter((l) => l.level === 'warn' && /drops "auth_time"/.test(l.message))).toHaveLength(1);
    op.reset();
  });

  it('strictRefreshAuthTime: a re-stamped auth_time ends the session', async () => {
    const rp = await startRp(op, { oidc: { strictRefreshAuthTime: true } });
    await login(rp);
    const first = await me(rp.agent);
    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ idTokenClaims: { auth_time: (first.claims.auth_time as number) + 60 } });
    const res = await meJson(rp.agent);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('session_ended');
    expect(rp.refreshErrors).toEqual([expect.objectContaining({ code: 'OIDC_ID_TOKEN_INVALID', ended: true })]);
    op.reset();
    await expectAnonymous(rp.agent);
  });

  it('a re-stamped auth_time does not excuse another sub: the session ends', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);
    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ idTokenClaims: { sub: 'other', auth_time: (first.claims.auth_time as number) + 60 } });
    expect((await meJson(rp.agent)).status).toBe(401);
    expect(rp.refreshErrors).toEqual([expect.objectContaining({ code: 'OIDC_ID_TOKEN_INVALID', ended: true })]);
    op.reset();
    await expectAnonymous(rp.agent);
  });

  it('a signature by a foreign key ends the session', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ idTokenSignWithForeignKey: true });
    const res = await rp.agent.get('/me').set('accept', HTML_ACCEPT);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me')}`);
    expect(rp.refreshErrors).toEqual([expect.objectContaining({ code: 'OIDC_ID_TOKEN_SIGNATURE', ended: true })]);
    op.reset();
    await expectAnonymous(rp.agent);
  });

  it('a valid new ID token replaces req.oidc.idToken', async () => {
    const rp = await startRp(op, { oidc: { storeIdToken: true } });
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 10);
    const after = await me(rp.agent);
    expect(after.idToken).not.toBe(first.idToken);
    const p0 = jwtPayload(first.idToken);
    const p1 = jwtPayload(after.idToken);
    expect(p1.sub).toBe(p0.sub);
    expect(p1.iss).toBe(p0.iss);
    expect(p1.auth_time).toBe(p0.auth_time);
    expect(p1.iat as number).toBeGreaterThan(p0.iat as number);
    expect(rp.refreshed[0]?.idToken).toBe(after.idToken);
  });

  it('no ID token in the refresh response keeps the previous one', async () => {
    const rp = await startRp(op, { oidc: { storeIdToken: true } });
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    op.set({ tokenBodyOverride: { id_token: undefined } });
    const after = await me(rp.agent);
    expect(refreshGrants(op)).toHaveLength(1);
    expect(after.accessToken).not.toBe(first.accessToken);
    expect(after.idToken).toBe(first.idToken);
    expect(rp.refreshed[0]?.idToken).toBe(first.idToken);
  });

  it('a provider without rotation: the old refresh token is kept and works for the next refresh', async () => {
    op.set({ refreshTokenRotation: false });
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    clockAt(first.accessTokenExpiresAt + 1);
    const second = await me(rp.agent);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).toBe(first.refreshToken);

    clockAt(second.accessTokenExpiresAt + 1);
    const third = await me(rp.agent);
    expect(third.accessToken).not.toBe(second.accessToken);
    expect(third.refreshToken).toBe(first.refreshToken);
    expect(refreshGrants(op).map((g) => g.body.refresh_token)).toEqual([first.refreshToken, first.refreshToken]);
    expect(rp.refreshErrors).toEqual([]);
  });
});

describe('exempt URLs', () => {
  it('exempt paths and the library routes never trigger a refresh', async () => {
    const rp = await startRp(op, { oidc: { exemptUrls: ['/health', /^\/static\//, 'logout'] } });
    await login(rp);
    const first = await me(rp.agent);
    clockAt(first.accessTokenExpiresAt + 1);

    const health = await rp.agent.get('/health').set('accept', JSON_ACCEPT);
    expect(health.status).toBe(200);
    // Passed through with the context attached (and its old token), not refreshed.
    expect(health.body).toEqual({ ok: true, authenticated: true, accessToken: first.accessToken });
    const stat = await rp.agent.get('/static/x').set('accept', HTML_ACCEPT);
    expect(stat.status).toBe(200);
    expect(stat.text).toBe('static authenticated');

    // The library's own routes.
    const loginRoute = await rp.agent.get('/oidc/authenticate?next=/me');
    expect(loginRoute.status).toBe(302);
    expect(loginRoute.headers.location).toMatch(new RegExp(`^${op.issuer}/authorize\\?`));
    const replayedCallback = await rp.agent.get('/oidc/callback?state=unknown&code=x');
    expect(replayedCallback.status).toBe(302);
    const logoutGet = await rp.agent.get('/oidc/logout');
    expect(logoutGet.status).toBe(405);
    expect(refreshGrants(op)).toHaveLength(0);

    // Control: the token really is due.
    const refreshed = await me(rp.agent);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
    expect(refreshGrants(op)).toHaveLength(1);

    clockAt(refreshed.accessTokenExpiresAt + 1);
    const logout = await rp.agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    expect(refreshGrants(op)).toHaveLength(1);
  });
});

describe('sessions without a refresh token (mozilla-django-oidc SessionRefresh)', () => {
  /** Log in without a refresh token; returns the RP and the session's renewAt (login time + 60 s). */
  async function loginWithoutRefreshToken(): Promise<{ rp: TestRp; renewAt: number }> {
    op.set({ issueRefreshToken: false });
    const rp = await startRp(op, { oidc: { renewIdTokenExpirySeconds: 60 } });
    const before = Math.floor(Date.now() / 1000);
    await login(rp);
    const m = await me(rp.agent);
    expect(m.refreshToken).toBeUndefined();
    const [auth] = await rp.storedAuths();
    expect(auth!.renewAt - before).toBeGreaterThanOrEqual(60);
    expect(auth!.renewAt - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(60);
    return { rp, renewAt: auth!.renewAt };
  }

  it('before renewIdTokenExpirySeconds nothing happens', async () => {
    const { rp, renewAt } = await loginWithoutRefreshToken();
    const requests = op.requests.length;
    clockAt(renewAt - 10);
    const page = await rp.agent.get('/me').set('accept', HTML_ACCEPT);
    expect(page.status).toBe(200);
    expect(op.requests.length).toBe(requests);
  });

  it('after it, a GET page request goes to the provider with prompt=none and comes back to the same URL', async () => {
    const { rp, renewAt } = await loginWithoutRefreshToken();
    const loginState = op.lastAuthorizeParams()?.state;
    const [before] = await rp.storedAuths();

    clockAt(renewAt + 1);
    const res = await rp.agent.get('/me?x=1').set('accept', HTML_ACCEPT);
    expect(res.status).toBe(302);
    const authorize = new URL(res.headers.location as string);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${op.issuer}/authorize`);
    expect(authorize.searchParams.get('prompt')).toBe('none');
    expect(authorize.searchParams.get('state')).toEqual(expect.any(String));
    expect(authorize.searchParams.get('state')).not.toBe(loginState);

    const cb = await rp.agent.get(pathOf(await atFakeOp(authorize.href)));
    expect(cb.status, JSON.stringify(rp.logs)).toBe(302);
    expect(cb.headers.location).toBe('/me?x=1');

    const back = await rp.agent.get('/me?x=1').set('accept', HTML_ACCEPT);
    expect(back.status).toBe(200);
    expect(back.body.claims.sub).toBe('user-1');
    const [after] = await rp.storedAuths();
    expect(after!.renewAt).toBeGreaterThanOrEqual(renewAt + 1 + 60);
    expect(after!.loginId).not.toBe(before!.loginId);
    expect(op.grants('authorization_code')).toBe(2);
    expect(op.grants('refresh_token')).toBe(0);
  });

  it('after it, a JSON request gets 401 reauthentication_required with the login URL', async () => {
    const { rp, renewAt } = await loginWithoutRefreshToken();
    clockAt(renewAt + 1);
    const res = await meJson(rp.agent, '/me?x=1');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('reauthentication_required');
    expect(res.headers['oidc-login-url']).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me?x=1')}`);
  });

  it('after it, a POST passes through (a form post cannot survive the redirect round trip)', async () => {
    const { rp, renewAt } = await loginWithoutRefreshToken();
    const authorizeCount = op.count('/authorize');
    clockAt(renewAt + 1);
    const res = await rp.agent.post('/submit').set('accept', HTML_ACCEPT);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, sub: 'user-1' });
    expect(op.count('/authorize')).toBe(authorizeCount);
  });

  it('the provider answering login_required ends the session and goes to LOGIN_REDIRECT_URL_FAILURE', async () => {
    const { rp, renewAt } = await loginWithoutRefreshToken();
    clockAt(renewAt + 1);
    op.set({ authorizeError: { error: 'login_required' } });
    const res = await rp.agent.get('/me').set('accept', HTML_ACCEPT);
    expect(res.status).toBe(302);
    const providerAnswer = await atFakeOp(res.headers.location as string);
    expect(new URL(providerAnswer).searchParams.get('error')).toBe('login_required');
    const cb = await rp.agent.get(pathOf(providerAnswer));
    expect(cb.status).toBe(302);
    expect(cb.headers.location).toBe(FAILED);
    await expectAnonymous(rp.agent);
    expect(await rp.storedAuths()).toEqual([]);
  });
});

describe('logout after a refresh', () => {
  it('revokes the current (rotated) refresh token, not the one from login', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);
    clockAt(first.accessTokenExpiresAt + 1);
    const second = await me(rp.agent);
    expect(second.refreshToken).not.toBe(first.refreshToken);

    const logout = await rp.agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    expect(op.revokedTokens).toContain(second.refreshToken);
    expect(op.revokedTokens).toContain(second.accessToken);
    expect(op.revokedTokens).not.toContain(first.refreshToken);
    expect(op.revokedTokens).not.toContain(first.accessToken);
    await expectAnonymous(rp.agent);
  });

  it('is not undone by a request of the session still in flight that writes its copy back', async () => {
    const rp = await startRp(op);
    await login(rp);
    await me(rp.agent);
    const gate = rp.slowGate();
    const slow = rp.agent.get('/slow').then((r) => r);
    await gate.started;
    const logout = await rp.agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    gate.release();
    expect((await slow).status).toBe(200); // it wrote the logged-in copy back under the old id
    await expectAnonymous(rp.agent);
  });

  it('also when the session copy is stale (it still holds the login refresh token)', async () => {
    const rp = await startRp(op);
    await login(rp);
    const first = await me(rp.agent);

    const gate = rp.slowGate();
    const slow = rp.agent.get('/slow').then((r) => r);
    await gate.started;
    clockAt(first.accessTokenExpiresAt + 1);
    const second = await me(rp.agent);
    gate.release();
    expect((await slow).status).toBe(200);
    expect((await rp.storedAuths())[0]?.refreshToken).toBe(first.refreshToken);

    const logout = await rp.agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    expect(op.revokedTokens).toContain(second.refreshToken);
    expect(op.revokedTokens).not.toContain(first.refreshToken);
  });
});
