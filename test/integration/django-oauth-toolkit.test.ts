/**
 * Interop with django-oauth-toolkit (DOT) 1.7, Debian 12's python3-django-oauth-toolkit, as the
 * OpenID Provider: a Django project set up as its OIDC documentation says, served by runserver on
 * 127.0.0.1 (test/support/django-oauth-toolkit.ts), and an RP configured as a user would: the plain
 * issuer URL `http://127.0.0.1:<port>/o`, and the revocation endpoint given explicitly because
 * DOT's discovery document does not list it.
 *
 * DOT's behaviour that these tests pin (docs/providers/django-oauth-toolkit.md explains each):
 * discovery answers 301 to a trailing slash (APPEND_SLASH); refresh tokens come with every
 * authorization code grant (no offline_access); rotation revokes the old refresh token and its
 * access token, without reuse detection; refresh responses carry no ID token; no end_session_endpoint
 * in 1.7, so logout revokes the tokens but leaves the Django session.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import { completeDjangoLogin, startDjangoOauthToolkit, type DjangoOauthToolkit, type DjangoPage } from '../support/django-oauth-toolkit.js';
import { CookieJar } from '../support/provider-login.js';
import { reservePort, startRpApp, type ReservedPort, type RpApp } from '../support/rp-app.js';
import { loginThrough, pathOf, startLogin, type Agent } from '../support/login.js';
import type { StoredTokens } from '../../src/types.js';

/** DOT's access token lifetime here: the library refreshes at half of it (2 s before expiry). */
const ACCESS_TOKEN_SECONDS = 4;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Me {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: number;
  claims: Record<string, unknown>;
  user: Record<string, unknown>;
}

describe('django-oauth-toolkit 1.7 (Debian) as the OpenID Provider', () => {
  let dot: DjangoOauthToolkit;
  let rp: RpApp;
  /** An RP that leaves revocationEndpoint unset, as a user who trusts discovery alone would. */
  let rpNoRevocation: RpApp;
  const refreshed: StoredTokens[] = [];

  beforeAll(async () => {
    const ports: ReservedPort[] = [await reservePort(), await reservePort()];
    const [main, noRevocation] = ports as [ReservedPort, ReservedPort];
    try {
      dot = await startDjangoOauthToolkit({
        redirectUris: ports.map((p) => `${p.url}/oidc/callback`),
        accessTokenExpireSeconds: ACCESS_TOKEN_SECONDS,
      });
    } catch (err) {
      for (const p of ports) p.server.close();
      throw err;
    }
    const oidc = {
      issuer: dot.issuer,
      clientId: dot.clientId,
      clientSecret: dot.clientSecret,
      scopes: ['openid', 'profile', 'email'],
      logoutRedirectUrl: '/bye',
    };
    rp = await startRpApp({
      reserved: main,
      oidc: {
        ...oidc,
        revocationEndpoint: dot.revocationEndpoint,
        hooks: { onTokensRefreshed: (tokens) => void refreshed.push(tokens) },
      },
    });
    rpNoRevocation = await startRpApp({ reserved: noRevocation, oidc });
  });

  afterAll(async () => {
    await rp?.close();
    await rpNoRevocation?.close();
    await dot?.stop();
  });

  const basicAuth = () => `Basic ${Buffer.from(`${encodeURIComponent(dot.clientId)}:${encodeURIComponent(dot.clientSecret)}`).toString('base64')}`;

  /** A refresh grant sent straight to DOT's token endpoint, as an attacker replaying a token would. */
  async function refreshAtDot(refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(dot.tokenEndpoint, {
      method: 'POST',
      headers: { authorization: basicAuth(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function userinfoAtDot(accessToken: string): Promise<{ status: number; body: string }> {
    const res = await fetch(dot.userinfoEndpoint, { headers: { authorization: `Bearer ${accessToken}` } });
    return { status: res.status, body: await res.text() };
  }

  async function login(app: RpApp, opts: { jar?: CookieJar; pages?: DjangoPage[] } = {}): Promise<{ agent: Agent; me: Me }> {
    const agent = request.agent(app.url);
    const cb = await loginThrough(agent, (url) => completeDjangoLogin(url, { user: dot.user, ...opts }));
    expect(cb.status, cb.text).toBe(302);
    return { agent, me: await me(agent) };
  }

  async function me(agent: Agent): Promise<Me> {
    const res = await agent.get('/me').set('accept', 'application/json');
    expect(res.status, res.text).toBe(200);
    return res.body as Me;
  }

  /** Until the library's session refresh considers `token` due (leeway: half its lifetime), still valid at DOT. */
  async function untilDue(token: Me): Promise<void> {
    await sleep(Math.max(0, (token.accessTokenExpiresAt - 1) * 1000 - Date.now()));
  }

  it('serves discovery behind an APPEND_SLASH redirect, without revocation or end-session endpoints', async () => {
    const plain = await fetch(`${dot.issuer}/.well-known/openid-configuration`, { redirect: 'manual' });
    expect(plain.status).toBe(301);
    expect(plain.headers.get('location')).toBe('/o/.well-known/openid-configuration/');

    const doc = (await (await fetch(`${dot.issuer}/.well-known/openid-configuration/`)).json()) as Record<string, unknown>;
    // The issuer is built from the request's Host: the plain URL, no trailing slash.
    expect(doc.issuer).toBe(dot.issuer);
    expect(doc.token_endpoint).toBe(dot.tokenEndpoint);
    expect(doc.id_token_signing_alg_values_supported).toEqual(['RS256', 'HS256']);
    // DOT serves /o/revoke_token/ and /o/introspect/ but does not advertise them; 1.7 has no
    // RP-initiated logout. Hence revocationEndpoint in the RP's configuration.
    expect(doc).not.toHaveProperty('revocation_endpoint');
    expect(doc).not.toHaveProperty('introspection_endpoint');
    expect(doc).not.toHaveProperty('end_session_endpoint');
  });

  it("logs in through Django's login form and DOT's consent page, with the claims of the ID token and userinfo", async () => {
    const pages: DjangoPage[] = [];
    const { me: body } = await login(rp, { pages });
    expect(pages).toEqual(['login', 'consent']);

    // The ID token's iss (built from the token request's Host) equals the discovery issuer.
    expect(body.claims.iss).toBe(dot.issuer);
    expect(body.claims.sub).toBe(dot.userId);
    expect(body.claims.aud).toBe(dot.clientId);
    expect(body.user).toMatchObject({
      sub: dot.userId,
      iss: dot.issuer,
      email: 'alice@example.com',
      name: 'Alice Example',
      given_name: 'Alice',
      family_name: 'Example',
      preferred_username: 'alice',
    });
    // Refresh tokens come with the authorization code grant; offline_access is not a DOT scope.
    expect(typeof body.refreshToken).toBe('string');
    expect(body.accessTokenExpiresAt - Date.now() / 1000).toBeLessThanOrEqual(ACCESS_TOKEN_SECONDS);

    // The RP called userinfo at login (fetchUserinfo), and the access token works there.
    // runserver logs a request after answering it: wait for the line.
    await vi.waitFor(() => expect(dot.requests().filter((r) => r.path === '/o/userinfo/' && r.status === 200).length).toBeGreaterThan(0), { timeout: 5000 });
    const info = await userinfoAtDot(body.accessToken);
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body)).toMatchObject({ sub: dot.userId, email: 'alice@example.com', name: 'Alice Example' });
    expect(rp.logs.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });

  it('answers invalid_scope to offline_access, which is not one of its SCOPES', async () => {
    const agent = request.agent(rp.url);
    const start = await startLogin(agent);
    const authorize = new URL(start.headers.location as string);
    authorize.searchParams.set('scope', 'openid email offline_access');
    const back = new URL(await completeDjangoLogin(authorize.href, { user: dot.user }));
    expect(back.origin + back.pathname).toBe(`${rp.url}/oidc/callback`);
    expect(back.searchParams.get('error')).toBe('invalid_scope');
    const cb = await agent.get(pathOf(back));
    expect(cb.status).toBe(302);
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(401);
    expect(rp.logs.at(-1)).toMatchObject({ level: 'warn', meta: { code: 'OIDC_AUTHORIZATION_ERROR', reason: 'the provider answered invalid_scope' } });
  });

  it('refreshes an expired access token with rotation; DOT refuses the rotated-away refresh token', async () => {
    const logsBefore = rp.logs.length;
    const { agent, me: first } = await login(rp);
    const grantsBefore = refreshed.length;

    await untilDue(first);
    const second = await me(agent);
    expect(refreshed.length).toBe(grantsBefore + 1);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    // DOT's refresh response has no ID token (see the last test): the session keeps the login's.
    expect(second.claims).toEqual(first.claims);

    // Rotation: the old refresh token is dead at DOT, and so is the access token it was issued with.
    const replay = await refreshAtDot(first.refreshToken);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect((await userinfoAtDot(first.accessToken)).status).toBe(401);
    expect((await userinfoAtDot(second.accessToken)).status).toBe(200);

    // DOT 1.7 has no reuse detection: the replay did not revoke the current refresh token, so the
    // session refreshes again (on demand, through req.oidc.refresh()).
    const again = await agent.post('/refresh-now');
    expect(again.status, again.text).toBe(200);
    const third = await me(agent);
    expect(third.refreshToken).not.toBe(second.refreshToken);
    expect(refreshed.length).toBe(grantsBefore + 2);
    expect(rp.logs.slice(logsBefore).filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });

  it('logs out with the tokens revoked at the configured revocation endpoint; the Django session stays', async () => {
    const jar = new CookieJar();
    const { agent, me: body } = await login(rp, { jar });
    const revocationsBefore = dot.requests().filter((r) => r.path === '/o/revoke_token/').length;

    const logout = await agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    // No end_session_endpoint in DOT 1.7: straight to LOGOUT_REDIRECT_URL.
    expect(logout.headers.location).toBe('/bye');
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(401);

    // RFC 7009 at /o/revoke_token/: both revocations (refresh and access token) answered 200.
    await vi.waitFor(
      () => {
        const revocations = dot
          .requests()
          .filter((r) => r.path === '/o/revoke_token/')
          .slice(revocationsBefore);
        expect(revocations).toEqual([
          { method: 'POST', path: '/o/revoke_token/', status: 200 },
          { method: 'POST', path: '/o/revoke_token/', status: 200 },
        ]);
      },
      { timeout: 5000 },
    );
    expect(rp.logs.filter((l) => l.message.includes('revocation failed'))).toEqual([]);
    const replay = await refreshAtDot(body.refreshToken);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect((await userinfoAtDot(body.accessToken)).status).toBe(401);

    // The Django session was not ended: the next login in the same browser skips the password.
    const pages: DjangoPage[] = [];
    await login(rp, { jar, pages });
    expect(pages).toEqual(['consent']);
  });

  it('without revocationEndpoint, logout revokes nothing: the refresh token stays valid at DOT', async () => {
    const { agent, me: body } = await login(rpNoRevocation);
    const revocationsBefore = dot.requests().filter((r) => r.path === '/o/revoke_token/').length;

    const logout = await agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    expect(logout.headers.location).toBe('/bye');
    expect((await agent.get('/me').set('accept', 'application/json')).status).toBe(401);

    // The RP's session is gone, but a copy of its refresh token still works at DOT.
    const replay = await refreshAtDot(body.refreshToken);
    expect(replay.status).toBe(200);
    // A refresh response from DOT 1.7 with Debian's oauthlib 3.2.2 carries no id_token (OIDC Core
    // 12.2 allows that): its OpenID server answers refresh grants with the plain OAuth 2.0 grant.
    expect(replay.body).toMatchObject({ token_type: 'Bearer', scope: 'openid profile email', expires_in: ACCESS_TOKEN_SECONDS });
    expect(replay.body.refresh_token).not.toBe(body.refreshToken);
    expect(replay.body).not.toHaveProperty('id_token');
    expect(dot.requests().filter((r) => r.path === '/o/revoke_token/').length).toBe(revocationsBefore);
  });
});
