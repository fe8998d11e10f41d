/**
 * Session refresh against a real OpenID Provider (oidc-provider, in this process, on 127.0.0.1)
 * with 4 s access tokens and refresh token rotation: one refresh per login however many requests
 * arrive, the new access token works at the provider, the old refresh token is dead there, a
 * second rotation works, and a refresh token revoked at the provider ends the session.
 *
 * Real time here: with a 2 s lifetime the leeway is 1 s, so a token is due at most 1 s after it
 * was issued (expiry times are whole seconds, so possibly much sooner). That is also why the
 * clock is frozen (Date only, provider included) while a wave of concurrent requests runs: a
 * token refreshed at x.99 s is due again 10 ms later, and "one grant per wave" must not depend
 * on how fast the machine is. The login's own GET /me may already refresh for the same reason,
 * so grant counts are taken relative to what happened before each step.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import type { DevProvider } from '../../examples/dev-provider.js';
import { CookieJar, completeProviderLogin } from '../support/provider-login.js';
import type { RpApp } from '../support/rp-app.js';
import type { StoredTokens } from '../../src/types.js';
import { startDevProviderWithRp } from '../support/oidc-provider.js';
import { loginThrough, type Agent } from '../support/login.js';

const CLIENT = { client_id: 'rp-refresh', client_secret: 'rp-refresh-secret-0123456789abcdef0123456789' };
const basicAuth = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT.client_id)}:${encodeURIComponent(CLIENT.client_secret)}`).toString('base64')}`;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Me {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: number;
  claims: { sub: string };
}

describe('session refresh against oidc-provider (4 s access tokens, rotation)', () => {
  let op: DevProvider;
  let rp: RpApp;
  /** grant_type of every successful token endpoint call, as oidc-provider reports them. */
  const grants: string[] = [];
  const refreshed: StoredTokens[] = [];
  const refreshErrors: Array<{ code: string; oauthError: string | undefined; ended: boolean }> = [];

  beforeAll(async () => {
    ({ op, rp } = await startDevProviderWithRp({
      client: CLIENT,
      // 4 s: long enough that the login's own /me (on a loaded CI machine) is never already due.
      provider: { accessTokenTtl: 4, rotateRefreshToken: true },
      oidc: {
        loginRedirectUrl: '/welcome',
        loginRedirectUrlFailure: '/login-failed',
        hooks: {
          onTokensRefreshed: (tokens) => {
            refreshed.push(tokens);
          },
          onRefreshError: (error, _req, { ended }) => {
            refreshErrors.push({ code: error.code, oauthError: error.oauthError, ended });
          },
        },
      },
    }));
    op.provider.on('grant.success', ((ctx: { oidc: { params: { grant_type?: string } } }) => {
      grants.push(String(ctx.oidc.params.grant_type));
    }) as (...args: never[]) => void);
  });

  afterAll(async () => {
    await rp?.close();
    await op?.close();
  });

  afterEach(() => {
    vi.useRealTimers();
    grants.length = 0;
    refreshed.length = 0;
    refreshErrors.length = 0;
  });

  async function login(agent: Agent): Promise<Me> {
    const cb = await loginThrough(agent, (url) => completeProviderLogin(url, { login: 'alice', jar: new CookieJar() }));
    expect(cb.status, JSON.stringify(rp.logs.slice(-3))).toBe(302);
    expect(cb.headers.location).toBe('/welcome');
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(me.status).toBe(200);
    expect(me.body.refreshToken).toEqual(expect.any(String)); // offline_access granted
    return me.body as Me;
  }

  /** Sleep until the access token is due (leeway = lifetime / 2 = 2 s), plus a small margin. */
  async function untilDue(expiresAt: number): Promise<void> {
    // Whole seconds on both sides: wait for the later of the possible due instants, still well
    // before expiry.
    const dueAtMs = (expiresAt - 1) * 1000;
    await sleep(Math.max(0, dueAtMs - Date.now()) + 100);
  }

  /** The provider's own verdict on a refresh token: replay it at its token endpoint. */
  function replayAtProvider(refreshToken: string): Promise<Response> {
    return fetch(`${op.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
  }

  it('10 concurrent requests with a due token: one rotation; the new access token works; a second rotation works', async () => {
    const agent = request.agent(rp.url);
    const first = await login(agent);
    expect(grants[0]).toBe('authorization_code');
    const grantsBefore = grants.length;
    const refreshedBefore = refreshed.length;

    await untilDue(first.accessTokenExpiresAt);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now()); // frozen for the wave (see the file comment)
    const wave = await Promise.all(
      Array.from({ length: 10 }, () =>
        agent
          .get('/me')
          .set('accept', 'application/json')
          .then((r) => r),
      ),
    );
    vi.useRealTimers();
    expect(wave.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(grants.slice(grantsBefore)).toEqual(['refresh_token']);
    const second = wave[0]!.body as Me;
    expect(new Set(wave.map((r) => r.body.accessToken as string))).toEqual(new Set([second.accessToken]));
    expect(new Set(wave.map((r) => r.body.refreshToken as string))).toEqual(new Set([second.refreshToken]));
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(refreshed.slice(refreshedBefore).map((t) => t.refreshToken)).toEqual([second.refreshToken]);

    // The new access token is live at the provider's userinfo endpoint.
    const userinfo = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${second.accessToken}` } });
    expect(userinfo.status).toBe(200);
    expect(((await userinfo.json()) as { sub: string }).sub).toBe('alice');

    // A second rotation, from the rotated refresh token.
    await untilDue(second.accessTokenExpiresAt);
    const thirdRes = await agent.get('/me').set('accept', 'application/json');
    expect(thirdRes.status).toBe(200);
    const third = thirdRes.body as Me;
    expect(grants.slice(grantsBefore)).toEqual(['refresh_token', 'refresh_token']);
    expect(third.accessToken).not.toBe(second.accessToken);
    expect(third.refreshToken).not.toBe(second.refreshToken);
    expect(refreshErrors).toEqual([]);

    // Rotation really happened at the provider: the login's refresh token is dead there.
    // (oidc-provider treats this replay as theft and revokes the grant, so this comes last.)
    const replay = await replayAtProvider(first.refreshToken);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');

    // ...and the RP's next refresh, refused because of that revoked grant, ends the session.
    await untilDue(third.accessTokenExpiresAt);
    const ended = await agent.get('/me').set('accept', 'text/html');
    expect(ended.status).toBe(302);
    expect(ended.headers.location).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me')}`);
    expect(refreshErrors).toEqual([{ code: 'OIDC_OP_ERROR', oauthError: 'invalid_grant', ended: true }]);
  });

  it('a refresh token revoked at the provider ends the session at the next refresh, with a login redirect', async () => {
    const agent = request.agent(rp.url);
    const first = await login(agent);
    const grantsBefore = grants.length;

    const revocation = await fetch(`${op.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth },
      body: new URLSearchParams({ token: first.refreshToken, token_type_hint: 'refresh_token' }),
    });
    expect(revocation.status).toBe(200);

    await untilDue(first.accessTokenExpiresAt);
    const res = await agent.get('/me?tab=2').set('accept', 'text/html');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/oidc/authenticate?next=${encodeURIComponent('/me?tab=2')}`);
    expect(grants.length).toBe(grantsBefore); // the refresh grant was refused
    expect(refreshErrors).toEqual([{ code: 'OIDC_OP_ERROR', oauthError: 'invalid_grant', ended: true }]);

    const who = await agent.get('/whoami');
    expect(who.body).toEqual({ authenticated: false, user: null });
  });
});
