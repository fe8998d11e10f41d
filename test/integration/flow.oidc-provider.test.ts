/**
 * The whole authorization code flow against a real OpenID Provider (the oidc-provider package,
 * in this process, on 127.0.0.1): login, callback, protected routes, logout with revocation and
 * RP-initiated logout. No mocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { DevProvider } from '../../examples/dev-provider.js';
import { CookieJar, completeProviderLogin, completeProviderLogout } from '../support/provider-login.js';
import type { RpApp } from '../support/rp-app.js';
import { startDevProviderWithRp } from '../support/oidc-provider.js';
import { sessionCookie } from '../support/cookies.js';
import { jwtPayload } from '../support/jwt.js';
import { loginThrough, pathOf } from '../support/login.js';

const CLIENT = { client_id: 'rp-test', client_secret: 'rp-test-secret-0123456789abcdef0123456789' };

describe('authorization code flow against oidc-provider', () => {
  let op: DevProvider;
  let rp: RpApp;
  const events: Array<{ name: string; token?: string }> = [];

  beforeAll(async () => {
    ({ op, rp } = await startDevProviderWithRp({
      client: CLIENT,
      clientMetadata: (rpUrl) => ({ post_logout_redirect_uris: [`${rpUrl}/bye`] }),
      oidc: { loginRedirectUrl: '/welcome', loginRedirectUrlFailure: '/login-failed', logoutRedirectUrl: '/bye' },
    }));
    // oidc-provider emits `<kind>.destroyed` for each revoked token: proof the RFC 7009 calls happened.
    for (const kind of ['access_token', 'refresh_token']) {
      op.provider.on(`${kind}.destroyed`, (() => events.push({ name: `revoked:${kind}` })) as (...args: never[]) => void);
    }
  });

  afterAll(async () => {
    await rp?.close();
    await op?.close();
  });

  it('logs in, exposes the user and tokens, and logs out at the provider', async () => {
    const jar = new CookieJar();
    const before = await rp.agent.get('/me').set('accept', 'application/json');
    expect(before.status).toBe(401);

    const cb = await loginThrough(rp.agent, (url) => completeProviderLogin(url, { login: 'alice', jar }), '/oidc/authenticate?next=/me');
    expect(cb.status).toBe(302);
    expect(cb.headers.location).toBe('/me');

    const me = await rp.agent.get('/me').set('accept', 'application/json');
    expect(me.status).toBe(200);
    expect(me.body.claims.sub).toBe('alice');
    expect(me.body.claims.iss).toBe(op.issuer);
    expect(me.body.claims.email).toBe('alice@example.com');
    expect(me.body.user).toMatchObject({ sub: 'alice', email: 'alice@example.com', name: 'Alice Example' });
    expect(typeof me.body.accessToken).toBe('string');
    expect(typeof me.body.refreshToken).toBe('string'); // offline_access granted
    expect(me.body.idToken).toBeUndefined(); // OIDC_STORE_ID_TOKEN is off by default
    expect(me.body.accessTokenExpiresAt).toBeGreaterThan(Date.now() / 1000);

    // The access token works at the provider: it is the real one.
    const userinfo = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${me.body.accessToken}` } });
    expect(userinfo.status).toBe(200);

    const logout = await rp.agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    const endSession = new URL(logout.headers.location as string);
    expect(endSession.origin).toBe(op.issuer);
    // The ID token is kept server-side for id_token_hint; the provider accepts it (below).
    const hint = endSession.searchParams.get('id_token_hint') as string;
    expect(jwtPayload(hint)).toMatchObject({ sub: 'alice', aud: CLIENT.client_id });
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${rp.url}/bye`);
    expect(endSession.searchParams.get('client_id')).toBe(CLIENT.client_id);

    // RFC 7009: the tokens were revoked at the provider before the redirect. (oidc-provider ends the
    // access token with the refresh token's grant, so only the refresh token emits its own event.)
    expect(events.map((e) => e.name)).toContain('revoked:refresh_token');
    expect(rp.logs.filter((l) => l.message.includes('revocation failed'))).toEqual([]);
    const afterRevoke = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${me.body.accessToken}` } });
    expect(afterRevoke.status).toBe(401);

    // The provider accepts the end-session request and returns to post_logout_redirect_uri.
    const back = await completeProviderLogout(endSession.toString(), { jar });
    expect(back.startsWith(`${rp.url}/bye`)).toBe(true);

    const after = await rp.agent.get('/me').set('accept', 'application/json');
    expect(after.status).toBe(401);
  });

  it('regenerates the session id at login (no fixation)', async () => {
    const agent = request.agent(rp.url);
    const start = await agent.get('/oidc/authenticate');
    const preLoginCookie = sessionCookie(start);
    expect(preLoginCookie).toBeDefined();
    const cbUrl = new URL(await completeProviderLogin(start.headers.location as string, { login: 'bob' }));
    const cb = await agent.get(pathOf(cbUrl));
    const postLoginCookie = sessionCookie(cb);
    expect(postLoginCookie).toBeDefined();
    expect(postLoginCookie).not.toBe(preLoginCookie);

    // The pre-login session id is not authenticated.
    const fixed = await request(rp.url)
      .get('/me')
      .set('accept', 'application/json')
      .set('cookie', preLoginCookie as string);
    expect(fixed.status).toBe(401);
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(me.body.claims.sub).toBe('bob');
  });

  it('keeps a separate state per tab: two logins in flight both complete', async () => {
    const agent = request.agent(rp.url);
    const tab1 = await agent.get('/oidc/authenticate?next=/tab1');
    const tab2 = await agent.get('/oidc/authenticate?next=/tab2');
    const jar = new CookieJar();
    const cb2 = new URL(await completeProviderLogin(tab2.headers.location as string, { jar }));
    const cb1 = new URL(await completeProviderLogin(tab1.headers.location as string, { jar }));

    const done2 = await agent.get(pathOf(cb2));
    expect(done2.headers.location).toBe('/tab2');
    const done1 = await agent.get(pathOf(cb1));
    expect(done1.headers.location).toBe('/tab1');
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(200);
  });

  it('refuses a callback replayed after success without touching the session', async () => {
    const agent = request.agent(rp.url);
    const start = await agent.get('/oidc/authenticate');
    const cbUrl = new URL(await completeProviderLogin(start.headers.location as string));
    expect((await agent.get(pathOf(cbUrl))).headers.location).toBe('/welcome');
    // Back button: same callback again. The session stays signed in; no second code exchange.
    const again = await agent.get(pathOf(cbUrl));
    expect(again.status).toBe(302);
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(200);

    // The same callback in another browser (code theft) gets nothing.
    const thief = request.agent(rp.url);
    const stolen = await thief.get(pathOf(cbUrl));
    expect(stolen.headers.location).toBe('/login-failed');
    expect((await thief.get('/me').set('accept', 'application/json')).status).toBe(401);
  });

  it('ends a login the user cancels at the provider cleanly (error=access_denied)', async () => {
    const agent = request.agent(rp.url);
    const start = await agent.get('/oidc/authenticate');
    const authorize = new URL(start.headers.location as string);
    // prompt=none without a provider session: oidc-provider answers login_required.
    authorize.searchParams.set('prompt', 'none');
    const res = await fetch(authorize, { redirect: 'manual' });
    const cbUrl = new URL(res.headers.get('location') as string);
    expect(cbUrl.searchParams.get('error')).toBe('login_required');
    const cb = await agent.get(pathOf(cbUrl));
    expect(cb.headers.location).toBe('/login-failed');
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(401);
    expect(rp.logs.some((l) => l.level === 'warn' && l.meta?.code === 'OIDC_AUTHORIZATION_ERROR')).toBe(true);
  });
});
