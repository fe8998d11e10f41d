/**
 * Login and logout against the fake OP: the authorization request, client authentication at the
 * token endpoint, session fixation defence, several tabs, `next` redirect safety, logout with
 * revocation and RP-initiated logout, requireAuth, and configurations without discovery.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import session from 'express-session';
import { startFakeOp, type FakeOp, type FakeOpOptions } from '../support/fake-op.js';
import { startRpApp, type RpApp } from '../support/rp-app.js';
import type { LogoutUrlContext, OidcAuthOptions } from '../../src/types.js';
import { fakeOpFixture, type FakeOpFixture } from '../support/fake-op-fixture.js';
import { sessionCookie, sessionIdOf } from '../support/cookies.js';
import { jwtPayload } from '../support/jwt.js';
import { atFakeOp, expectLoggedOut, loginThrough, pathOf, startLogin, type Agent } from '../support/login.js';

const WELCOME = '/welcome';
const FAILED = '/login-failed';
const BYE = '/bye';

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const extraRps: RpApp[] = [];
const extraOps: FakeOp[] = [];
afterEach(async () => {
  await Promise.all(extraRps.splice(0).map((r) => r.close()));
  await Promise.all(extraOps.splice(0).map((o) => o.close()));
});

function baseOptions(op: FakeOp): OidcAuthOptions {
  return {
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    loginRedirectUrl: WELCOME,
    loginRedirectUrlFailure: FAILED,
    logoutRedirectUrl: BYE,
  };
}

async function newRp(op: FakeOp, extra: OidcAuthOptions = {}): Promise<RpApp> {
  const rp = await startRpApp({ oidc: { ...baseOptions(op), ...extra } });
  extraRps.push(rp);
  return rp;
}

async function newOp(opts: FakeOpOptions = {}): Promise<FakeOp> {
  const op = await startFakeOp(opts);
  extraOps.push(op);
  return op;
}

async function loginOk(rp: RpApp, agent: Agent = request.agent(rp.url)): Promise<{ agent: Agent; me: request.Response }> {
  const res = await loginThrough(agent);
  expect(res.status).toBe(302);
  expect(res.headers.location, JSON.stringify(rp.logs)).toBe(WELCOME);
  const me = await agent.get('/me').set('accept', 'application/json');
  expect(me.status).toBe(200);
  return { agent, me };
}

function sharedFixture(opOptions: FakeOpOptions = {}, rpOptions: (op: FakeOp) => OidcAuthOptions = () => ({})): FakeOpFixture {
  return fakeOpFixture((op) => ({ ...baseOptions(op), ...rpOptions(op) }), opOptions);
}

// ---------------------------------------------------------------------------
// authorization request
// ---------------------------------------------------------------------------

describe('authorization request', () => {
  const f = sharedFixture();

  it('carries response_type, client_id, redirect_uri, scope, state, nonce and an S256 PKCE challenge', async () => {
    const rp = f.rp();
    const op = f.op();
    const agent = request.agent(rp.url);
    const start = await startLogin(agent);
    expect(start.headers['cache-control']).toBe('no-store');
    const url = new URL(start.headers.location as string);
    expect(url.origin + url.pathname).toBe(`${op.issuer}/authorize`);
    const q = url.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe(op.clientId);
    expect(q.get('redirect_uri')).toBe(`${rp.url}/oidc/callback`);
    expect(q.get('scope')).toBe('openid email');
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')).not.toBe(q.get('state'));
    const challenge = q.get('code_challenge');
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('code_challenge_method')).toBe('S256');

    // Completing the flow: the verifier sent to /token is the preimage of the challenge.
    const res = await agent.get(pathOf(await atFakeOp(url.toString())));
    expect(res.headers.location).toBe(WELCOME);
    expect(op.lastAuthorizeParams()?.state).toBe(q.get('state'));
    const token = op.requests.filter((r) => r.path === '/token').at(-1);
    const verifier = token?.body.code_verifier ?? '';
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(challenge);
    expect(token?.body.redirect_uri).toBe(`${rp.url}/oidc/callback`);
    expect(token?.body.grant_type).toBe('authorization_code');
  });

  it('each login gets fresh state, nonce and challenge', async () => {
    const agent = request.agent(f.rp().url);
    const a = new URL((await startLogin(agent)).headers.location as string).searchParams;
    const b = new URL((await startLogin(agent)).headers.location as string).searchParams;
    for (const p of ['state', 'nonce', 'code_challenge']) expect(a.get(p)).not.toBe(b.get(p));
  });

  it('authRequestExtraParams (audience=api) appear in the request', async () => {
    const rp = await newRp(f.op(), { authRequestExtraParams: { audience: 'api' } });
    const agent = request.agent(rp.url);
    const start = await startLogin(agent);
    const q = new URL(start.headers.location as string).searchParams;
    expect(q.get('audience')).toBe('api');
    expect(q.get('response_type')).toBe('code');
    expect((await agent.get(pathOf(await atFakeOp(start.headers.location as string)))).headers.location).toBe(WELCOME);
  });

  it('usePkce: false sends no code_challenge nor code_verifier, and login still works', async () => {
    const op = f.op();
    const rp = await newRp(op, { usePkce: false });
    const agent = request.agent(rp.url);
    const start = await startLogin(agent);
    const q = new URL(start.headers.location as string).searchParams;
    expect(q.has('code_challenge')).toBe(false);
    expect(q.has('code_challenge_method')).toBe(false);
    expect(q.get('nonce')).toBeTruthy();
    const res = await agent.get(pathOf(await atFakeOp(start.headers.location as string)));
    expect(res.headers.location, JSON.stringify(rp.logs)).toBe(WELCOME);
    expect(op.requests.filter((r) => r.path === '/token').at(-1)?.body.code_verifier).toBeUndefined();
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(200);
  });

  it('useNonce: false sends no nonce, and login still works', async () => {
    const rp = await newRp(f.op(), { useNonce: false });
    const agent = request.agent(rp.url);
    const start = await startLogin(agent);
    const q = new URL(start.headers.location as string).searchParams;
    expect(q.has('nonce')).toBe(false);
    expect(q.get('code_challenge')).toBeTruthy();
    const res = await agent.get(pathOf(await atFakeOp(start.headers.location as string)));
    expect(res.headers.location, JSON.stringify(rp.logs)).toBe(WELCOME);
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(me.status).toBe(200);
    expect(me.body.claims.nonce).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// client authentication at the token endpoint (RFC 6749 2.3.1)
// ---------------------------------------------------------------------------

describe('client authentication', () => {
  // ':' and '%' must be form-urlencoded before base64 (and '+', ' ' and '&' for good measure).
  const SECRET = 'p:ss%w0rd+ &=/-secret-long-enough-for-anything';
  const f = sharedFixture({ clientSecret: SECRET });

  it('client_secret_basic by default, with the RFC 6749 2.3.1 encoding', async () => {
    const op = f.op();
    expect(op.clientSecret).toBe(SECRET);
    await loginOk(f.rp());
    const token = op.requests.filter((r) => r.path === '/token').at(-1);
    const auth = String(token?.headers.authorization ?? '');
    expect(auth).toMatch(/^Basic /);
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    expect(decoded).toBe(`${enc(op.clientId)}:${enc(SECRET)}`);
    expect(decoded).toContain('p%3Ass%25w0rd%2B+%26%3D%2F');
    expect(token?.body.client_secret).toBeUndefined();
  });

  it('client_secret_post with tokenUseBasicAuth: false', async () => {
    const op = f.op();
    const rp = await newRp(op, { tokenUseBasicAuth: false });
    await loginOk(rp);
    const token = op.requests.filter((r) => r.path === '/token').at(-1);
    expect(token?.headers.authorization).toBeUndefined();
    expect(token?.body.client_id).toBe(op.clientId);
    expect(token?.body.client_secret).toBe(SECRET);
  });

  it('a wrong secret is refused by the provider and the login fails', async () => {
    const op = f.op();
    const rp = await newRp(op, { clientSecret: 'p:ss%w0rd' });
    const res = await loginThrough(request.agent(rp.url));
    expect(res.headers.location).toBe(FAILED);
    expect(rp.logs.find((l) => l.message === 'login failed')?.meta?.code).toBe('OIDC_OP_ERROR');
  });
});

// ---------------------------------------------------------------------------
// session handling at login
// ---------------------------------------------------------------------------

describe('session at login', () => {
  const f = sharedFixture();

  it('the session id changes at login (fixation defence) and the old id is dead', async () => {
    const rp = f.rp();
    const agent = request.agent(rp.url);
    const start = await startLogin(agent);
    const before = sessionCookie(start);
    expect(before).toBeDefined();
    const cb = await agent.get(pathOf(await atFakeOp(start.headers.location as string)));
    expect(cb.headers.location).toBe(WELCOME);
    const after = sessionCookie(cb);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);

    const oldId = sessionIdOf(before as string);
    const stored = await new Promise<unknown>((resolve) => rp.store.get(oldId, (_err, s) => resolve(s)));
    expect(stored ?? null).toBeNull();
    // A browser holding the pre-login cookie (the attacker who planted it) is not signed in.
    const planted = await request(rp.url)
      .get('/whoami')
      .set('cookie', before as string);
    expect(planted.body.authenticated).toBe(false);
    expect(
      (
        await request(rp.url)
          .get('/whoami')
          .set('cookie', after as string)
      ).body.authenticated,
    ).toBe(true);
  });

  it('the default user is not stored: req.user is made from the claims; a user from the hooks is stored as serializeUser leaves it', async () => {
    const op = await newOp();
    const readSession = (store: session.MemoryStore) =>
      Object.values((store as unknown as { sessions: Record<string, string> }).sessions).map(
        (s) => JSON.parse(s) as { oidc?: { auth?: Record<string, unknown> } },
      );

    // No user hooks: the session keeps the claims only; req.user is the same object as before.
    const plain = new session.MemoryStore();
    const rp = await startRpApp({ oidc: baseOptions(op), store: plain });
    extraRps.push(rp);
    const { me } = await loginOk(rp);
    expect(me.body.user).toEqual({ sub: 'user-1', iss: op.issuer, email: 'user1@example.com', email_verified: true, name: 'User One' });
    const [stored] = readSession(plain).filter((s) => s.oidc?.auth);
    expect(stored?.oidc?.auth).toBeDefined();
    expect(Object.keys(stored?.oidc?.auth ?? {})).not.toContain('user');

    // createUser + serializeUser/deserializeUser: the serialized value is what the session keeps.
    const hooked = new session.MemoryStore();
    const deserialized: unknown[] = [];
    const rp2 = await startRpApp({
      oidc: {
        ...baseOptions(op),
        hooks: {
          createUser: (claims) => ({ id: `app-${claims.sub}` }),
          serializeUser: (user) => (user as { id: string }).id,
          deserializeUser: (id) => {
            deserialized.push(id);
            return { id: id as string };
          },
        },
      },
      store: hooked,
    });
    extraRps.push(rp2);
    const second = await loginOk(rp2);
    expect(second.me.body.user).toEqual({ id: 'app-user-1' });
    expect(deserialized).toContain('app-user-1');
    const [kept] = readSession(hooked).filter((s) => s.oidc?.auth);
    expect(kept?.oidc?.auth?.user).toBe('app-user-1');
  });

  it('serializeUser returning nothing fails the login (it would read back as the default user) and leaves no session', async () => {
    const op = await newOp();
    const store = new session.MemoryStore();
    const rp = await startRpApp({ oidc: { ...baseOptions(op), hooks: { serializeUser: () => undefined } }, store });
    extraRps.push(rp);
    const agent = request.agent(rp.url);
    const res = await loginThrough(agent);
    expect(res.headers.location).toBe(FAILED);
    expect(
      rp.logs.some((l) => JSON.stringify(l).includes('OIDC_USER_NOT_FOUND')),
      JSON.stringify(rp.logs),
    ).toBe(true);
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(401);
    const signedIn = Object.values((store as unknown as { sessions: Record<string, string> }).sessions).filter((s) => s.includes('"auth"'));
    expect(signedIn).toEqual([]);
  });

  it('the signed-in session is written to the store once, complete, before the redirect reaches the browser', async () => {
    // express-session writes back, as the response ends, a session it does not know was saved: the
    // one regenerate() made. The callback saves it itself (the browser may follow the redirect
    // before an end-of-response save lands), so a second write would be the same data again.
    const store = new session.MemoryStore();
    const writes: string[] = [];
    const set = store.set.bind(store);
    store.set = (sid, sess, cb) => {
      writes.push(sid);
      set(sid, sess, cb);
    };
    const rp = await startRpApp({ oidc: baseOptions(f.op()), store });
    extraRps.push(rp);
    const agent = request.agent(rp.url);
    const start = await startLogin(agent);
    const cb = await agent.get(pathOf(await atFakeOp(start.headers.location as string)));
    expect(cb.headers.location, JSON.stringify(rp.logs)).toBe(WELCOME);
    const before = sessionIdOf(sessionCookie(start) as string);
    const after = sessionIdOf(sessionCookie(cb) as string);
    // The login route's session (its pending login), then the signed-in one: once each.
    expect(writes).toEqual([before, after]);
    const stored = await new Promise<{ oidc?: { auth?: { sub: string } } } | null | undefined>((resolve) =>
      store.get(after, (_err, s) => resolve(s as { oidc?: { auth?: { sub: string } } } | null | undefined)),
    );
    expect(stored?.oidc?.auth?.sub).toBe('user-1');
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(200);
    // Logout's fresh session (its marker) is written once as well.
    writes.length = 0;
    const out = await agent.post('/oidc/logout');
    expect(out.status).toBe(303);
    expect(writes).toEqual([sessionIdOf(sessionCookie(out) as string)]);
    await expectLoggedOut(agent);
  });

  it('two tabs: the second login completes first, then the first; both succeed', async () => {
    const rp = f.rp();
    const grants = f.op().grants('authorization_code');
    const agent = request.agent(rp.url);
    const tab1 = await startLogin(agent, `/oidc/authenticate?next=${encodeURIComponent('/tab-one')}`);
    const tab2 = await startLogin(agent, `/oidc/authenticate?next=${encodeURIComponent('/tab-two')}`);
    const cb1 = pathOf(await atFakeOp(tab1.headers.location as string));
    const cb2 = pathOf(await atFakeOp(tab2.headers.location as string));
    expect(new URL(cb1, rp.url).searchParams.get('state')).not.toBe(new URL(cb2, rp.url).searchParams.get('state'));

    const second = await agent.get(cb2);
    expect(second.headers.location, JSON.stringify(rp.logs)).toBe('/tab-two');
    const first = await agent.get(cb1);
    expect(first.headers.location, JSON.stringify(rp.logs)).toBe('/tab-one');
    expect(rp.logs.filter((l) => l.message === 'login failed')).toEqual([]);
    expect(f.op().grants('authorization_code')).toBe(grants + 2);
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(200);
  });

  it('maxStates: 2 drops the oldest of three logins in flight (state mismatch); the newest succeeds', async () => {
    const rp = await newRp(f.op(), { maxStates: 2 });
    const agent = request.agent(rp.url);
    const starts = [];
    for (let i = 0; i < 3; i++) starts.push(await startLogin(agent));
    const callbacks = [];
    for (const s of starts) callbacks.push(pathOf(await atFakeOp(s.headers.location as string)));

    const oldest = await agent.get(callbacks[0] as string);
    expect(oldest.headers.location).toBe(FAILED);
    expect(rp.logs.filter((l) => l.message === 'login failed').map((l) => l.meta?.code)).toEqual(['OIDC_STATE_MISMATCH']);
    await expectLoggedOut(agent);

    const newest = await agent.get(callbacks[2] as string);
    expect(newest.headers.location).toBe(WELCOME);
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------
// `next` redirect targets
// ---------------------------------------------------------------------------

describe('next', () => {
  const f = sharedFixture();

  async function finalRedirect(rp: RpApp, next: string): Promise<string> {
    const res = await loginThrough(request.agent(rp.url), atFakeOp, `/oidc/authenticate?next=${encodeURIComponent(next)}`);
    expect(res.status).toBe(302);
    return res.headers.location as string;
  }

  it('a local path with a query comes back after login', async () => {
    expect(await finalRedirect(f.rp(), '/me?x=1')).toBe('/me?x=1');
    expect(warnings(f.rp())).toEqual([]);
  });

  it('an absolute URL on our own origin comes back as a local path', async () => {
    const rp = f.rp();
    expect(await finalRedirect(rp, `${rp.url}/me?y=2#frag`)).toBe('/me?y=2#frag');
  });

  const unsafe = [
    '//evil.com',
    '///evil.com',
    '/\\evil.com',
    '%2F%2Fevil.com',
    // A path on our origin by URL syntax, but it decodes to "///evil.com": dropped, not "fixed up".
    '/%2F%2Fevil.com',
    '/%252F%252Fevil.com',
    'https://evil.com',
    'https://evil.com/me',
    'javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    '/\tevil.com',
    '/\t/evil.com',
    'http://127.0.0.1:1/x',
    'https://allowed.example/x', // not allowed without redirectAllowedHosts
  ];

  it.each(unsafe)('ignores next=%j (back to loginRedirectUrl, never off-origin)', async (next) => {
    const rp = f.rp();
    const target = await finalRedirect(rp, next);
    expect(target).toBe(WELCOME);
    const resolved = new URL(target, rp.url);
    expect(resolved.origin).toBe(rp.url);
    expect(warnings(rp)).toEqual(['ignoring unsafe "next" redirect target']);
  });

  it('https://allowed.example/x is followed only with redirectAllowedHosts: [allowed.example]', async () => {
    const rp = await newRp(f.op(), { redirectAllowedHosts: ['allowed.example'] });
    expect(await finalRedirect(rp, 'https://allowed.example/x')).toBe('https://allowed.example/x');
    expect(await finalRedirect(rp, 'https://allowed.example.evil.com/x')).toBe(WELCOME);
    expect(await finalRedirect(rp, 'https://user:pw@allowed.example/x')).toBe(WELCOME);
    expect(await finalRedirect(rp, '//allowed.example/x')).toBe(WELCOME);
  });

  function warnings(rp: RpApp): string[] {
    return rp.logs.filter((l) => l.level === 'warn').map((l) => l.message);
  }
});

// ---------------------------------------------------------------------------
// logout
// ---------------------------------------------------------------------------

/** sub, aud and iss of an ID token (signature checked elsewhere; here: is it the login's token). */
function idTokenSubject(jwt: string | null | undefined): { sub: unknown; aud: unknown; iss: unknown } | undefined {
  if (!jwt) return undefined;
  const payload = jwtPayload(jwt);
  return { sub: payload.sub, aud: payload.aud, iss: payload.iss };
}

describe('logout', () => {
  const f = sharedFixture();

  it('GET /oidc/logout answers 405 by default and leaves the session alone', async () => {
    const { agent } = await loginOk(f.rp());
    const res = await agent.get('/oidc/logout');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(200);
  });

  it('POST /oidc/logout: 303 to end_session with id_token_hint, client_id, post_logout_redirect_uri; tokens revoked; session gone', async () => {
    const op = f.op();
    const rp = f.rp();
    const { agent, me } = await loginOk(rp);
    const { idToken, accessToken, refreshToken } = me.body as { idToken?: string; accessToken: string; refreshToken: string };
    expect(accessToken && refreshToken).toBeTruthy();
    // OIDC_STORE_ID_TOKEN is off by default: not in the session, yet logout still has it (server side).
    expect(idToken).toBeUndefined();

    const revokesBefore = op.requests.length;
    const res = await agent.post('/oidc/logout');
    expect(res.status).toBe(303);
    expect(res.headers['cache-control']).toBe('no-store');
    const target = new URL(res.headers.location as string);
    expect(target.origin + target.pathname).toBe(`${op.issuer}/end-session`);
    expect(idTokenSubject(target.searchParams.get('id_token_hint'))).toEqual({ sub: 'user-1', aud: op.clientId, iss: op.issuer });
    expect(target.searchParams.get('client_id')).toBe(op.clientId);
    expect(target.searchParams.get('post_logout_redirect_uri')).toBe(`${rp.url}${BYE}`);
    expect(op.revokedTokens).toEqual(expect.arrayContaining([refreshToken, accessToken]));
    const revokes = op.requests.slice(revokesBefore).filter((r) => r.path === '/revoke');
    expect(revokes.map((r) => r.body.token_type_hint).sort()).toEqual(['access_token', 'refresh_token']);
    await expectLoggedOut(agent);
    // The provider's end-session endpoint sends the browser back to LOGOUT_REDIRECT_URL.
    const back = await fetch(target, { redirect: 'manual' });
    expect(back.headers.get('location')).toBe(`${rp.url}${BYE}`);
  });

  it('allowLogoutGetMethod: true lets GET log out (302)', async () => {
    const op = f.op();
    const rp = await newRp(op, { allowLogoutGetMethod: true });
    const { agent } = await loginOk(rp);
    const res = await agent.get('/oidc/logout');
    expect(res.status).toBe(302);
    expect(new URL(res.headers.location as string).pathname).toBe('/end-session');
    await expectLoggedOut(agent);
  });

  it('a failing revocation endpoint (500) still logs out promptly and logs a warning', async () => {
    const op = f.op();
    const rp = f.rp();
    const { agent } = await loginOk(rp);
    op.set({ revocationStatus: 500 });
    const calls = op.count('/revoke');
    const t0 = Date.now();
    const res = await agent.post('/oidc/logout');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(res.status).toBe(303);
    expect(new URL(res.headers.location as string).pathname).toBe('/end-session');
    expect(op.count('/revoke')).toBe(calls + 2);
    expect(rp.logs.filter((l) => l.level === 'warn' && l.message.includes('revocation failed')).length).toBe(2);
    await expectLoggedOut(agent);
  });

  it('a hanging revocation endpoint (5 s, timeout 0.5 s) still logs out promptly and logs a warning', async () => {
    const op = f.op();
    const rp = await newRp(op, { timeout: 0.5 });
    const { agent } = await loginOk(rp);
    op.set({ revocationDelayMs: 5000 });
    const t0 = Date.now();
    const res = await agent.post('/oidc/logout');
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(3000);
    expect(res.status).toBe(303);
    expect(new URL(res.headers.location as string).pathname).toBe('/end-session');
    const warns = rp.logs.filter((l) => l.level === 'warn' && l.message.includes('revocation failed'));
    expect(warns.length).toBe(2);
    await expectLoggedOut(agent);
  });

  it('revocation at logout: the refresh token first, then the access token, one after the other (RFC 7009 2.1)', async () => {
    const op = f.op();
    const rp = await newRp(op, {});
    const { agent } = await loginOk(rp);
    const me = await agent.get('/me').set('accept', 'application/json');
    const before = op.revokedTokens.length;
    await agent.post('/oidc/logout');
    expect(op.revokedTokens.slice(before)).toEqual([me.body.refreshToken, me.body.accessToken]);
  });

  it('a provider without a revocation endpoint: logout revokes nothing and says so once (info), not silently', async () => {
    const op = f.op();
    op.set({ discoveryExtra: { revocation_endpoint: undefined } });
    const rp = await newRp(op, {});
    for (let i = 0; i < 2; i++) {
      const { agent } = await loginOk(rp);
      const calls = op.count('/revoke');
      expect((await agent.post('/oidc/logout')).status).toBe(303);
      expect(op.count('/revoke')).toBe(calls);
    }
    const notes = rp.logs.filter((l) => l.level === 'info' && l.message.includes('has no revocation endpoint'));
    expect(notes).toHaveLength(1);
    expect(notes[0]?.message).toContain('"revocationEndpoint" (env OIDC_OP_TOKEN_REVOKE_ENDPOINT)');
  });

  it('revokeTokensOnLogout: false revokes nothing', async () => {
    const op = f.op();
    const rp = await newRp(op, { revokeTokensOnLogout: false });
    const { agent } = await loginOk(rp);
    const revoked = op.revokedTokens.length;
    const calls = op.count('/revoke');
    const res = await agent.post('/oidc/logout');
    expect(res.status).toBe(303);
    expect(op.revokedTokens.length).toBe(revoked);
    expect(op.count('/revoke')).toBe(calls);
    await expectLoggedOut(agent);
  });

  it('providerLogout: false redirects to LOGOUT_REDIRECT_URL (tokens still revoked)', async () => {
    const op = f.op();
    const rp = await newRp(op, { providerLogout: false });
    const { agent, me } = await loginOk(rp);
    const res = await agent.post('/oidc/logout');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(BYE);
    expect(op.revokedTokens).toContain(me.body.refreshToken);
    await expectLoggedOut(agent);
  });

  it('hooks.getLogoutUrl returning a URL wins; returning undefined falls back to end_session', async () => {
    const op = f.op();
    let answer: string | undefined = 'https://sso.example/logged-out';
    const getLogoutUrl = vi.fn((_ctx: LogoutUrlContext) => answer);
    const rp = await newRp(op, { hooks: { getLogoutUrl } });

    const first = await loginOk(rp);
    const res1 = await first.agent.post('/oidc/logout');
    expect(res1.status).toBe(303);
    expect(res1.headers.location).toBe('https://sso.example/logged-out');
    const ctx = getLogoutUrl.mock.calls[0]?.[0];
    expect(idTokenSubject(ctx?.idToken)).toEqual({ sub: 'user-1', aud: op.clientId, iss: op.issuer });
    expect(ctx?.claims?.sub).toBe('user-1');
    expect(ctx?.endSessionUrl).toContain(`${op.issuer}/end-session?`);
    await expectLoggedOut(first.agent);

    answer = undefined;
    const second = await loginOk(rp);
    const res2 = await second.agent.post('/oidc/logout');
    expect(res2.status).toBe(303);
    const target = new URL(res2.headers.location as string);
    expect(target.origin + target.pathname).toBe(`${op.issuer}/end-session`);
    expect(idTokenSubject(target.searchParams.get('id_token_hint'))).toEqual({ sub: 'user-1', aud: op.clientId, iss: op.issuer });
    await expectLoggedOut(second.agent);
  });

  it('unauthenticated POST logout goes to LOGOUT_REDIRECT_URL without any provider call', async () => {
    const op = f.op();
    const rp = await newRp(op); // discovery never loaded by this RP
    const before = op.requests.length;
    const res = await request(rp.url).post('/oidc/logout');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(BYE);
    expect(op.requests.length).toBe(before);
    // Also on an RP that has loaded discovery, with a browser that only started a login.
    const agent = request.agent(f.rp().url);
    await startLogin(agent);
    const before2 = op.requests.length;
    const res2 = await agent.post('/oidc/logout');
    expect(res2.status).toBe(303);
    expect(res2.headers.location).toBe(BYE);
    expect(op.requests.length).toBe(before2);
  });
});

// ---------------------------------------------------------------------------
// wiring: express-session missing, requireAuth
// ---------------------------------------------------------------------------

describe('wiring', () => {
  const f = sharedFixture();

  it('without express-session the login route fails with OIDC_SESSION_MISSING naming express-session', async () => {
    const op = f.op();
    const rp = await startRpApp({ withSession: false, oidc: baseOptions(op) });
    extraRps.push(rp);
    const res = await request(rp.url).get('/oidc/authenticate');
    expect(res.status).toBe(500);
    expect(res.headers.location).toBeUndefined();
    expect(res.body.error).toBe('OIDC_SESSION_MISSING');
    expect(res.body.message).toMatch(/express-session/);
    // Never a silent unauthenticated pass either.
    const me = await request(rp.url).get('/me').set('accept', 'application/json');
    expect(me.status).toBe(500);
    expect(me.body.error).toBe('OIDC_SESSION_MISSING');
  });

  it('requireAuth: a page request is redirected to login with next', async () => {
    const res = await request(f.rp().url).get('/me?a=1').set('accept', 'text/html');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/oidc/authenticate?next=%2Fme%3Fa%3D1');
  });

  it('requireAuth: that redirect, followed through login, lands back on /me?a=1', async () => {
    const rp = f.rp();
    const agent = request.agent(rp.url);
    const guard = await agent.get('/me?a=1').set('accept', 'text/html');
    const res = await loginThrough(agent, atFakeOp, guard.headers.location as string);
    expect(res.headers.location).toBe('/me?a=1');
    expect((await agent.get('/me?a=1').set('accept', 'application/json')).status).toBe(200);
  });

  it('requireAuth: a JSON request gets 401 JSON', async () => {
    const res = await request(f.rp().url).get('/me?a=1').set('accept', 'application/json');
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toMatchObject({ error: 'unauthenticated', login_url: '/oidc/authenticate?next=%2Fme%3Fa%3D1' });
  });

  it('requireAuth: X-Requested-With: XMLHttpRequest gets 401 even when accepting HTML', async () => {
    const res = await request(f.rp().url).get('/me').set('accept', 'text/html').set('x-requested-with', 'XMLHttpRequest');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('unauthenticated');
  });
});

// ---------------------------------------------------------------------------
// no discovery (mozilla-django-oidc style), pinned key
// ---------------------------------------------------------------------------

describe('explicit endpoints without discovery', () => {
  it('authorization/token/userinfo/jwks endpoints from options: login works, discovery never fetched', async () => {
    const op = await newOp();
    const rp = await newRp(op, {
      issuer: undefined,
      authorizationEndpoint: `${op.issuer}/authorize`,
      tokenEndpoint: `${op.issuer}/token`,
      userinfoEndpoint: `${op.issuer}/userinfo`,
      jwksUri: `${op.issuer}/jwks`,
    });
    const { me } = await loginOk(rp);
    expect(me.body.claims.sub).toBe('user-1');
    expect(me.body.claims.email).toBe('user1@example.com');
    expect(op.count('/.well-known/openid-configuration')).toBe(0);
    expect(op.count('/jwks')).toBe(1);
    expect(op.count('/userinfo')).toBe(1);
    expect(rp.logs.some((l) => l.level === 'warn' && l.message.includes('no issuer configured'))).toBe(true);
  });

  it('idpSignKey (the provider key as JWK JSON) and no jwksUri: login works without any JWKS fetch', async () => {
    const op = await newOp();
    const jwks = (await (await fetch(`${op.issuer}/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
    const key = jwks.keys[0];
    expect(key?.kty).toBe('RSA');
    const rp = await newRp(op, {
      issuer: undefined,
      authorizationEndpoint: `${op.issuer}/authorize`,
      tokenEndpoint: `${op.issuer}/token`,
      userinfoEndpoint: `${op.issuer}/userinfo`,
      idpSignKey: JSON.stringify(key),
    });
    await loginOk(rp);
    expect(op.count('/jwks')).toBe(1); // only the test's own fetch
    expect(op.count('/.well-known/openid-configuration')).toBe(0);

    // The pinned key really is used: a token signed by another key with the same kid is refused.
    op.set({ idTokenSignWithForeignKey: true });
    const res = await loginThrough(request.agent(rp.url));
    expect(res.headers.location).toBe(FAILED);
    expect(rp.logs.find((l) => l.message === 'login failed')?.meta?.code).toBe('OIDC_ID_TOKEN_SIGNATURE');
  });
});
