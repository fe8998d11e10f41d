/**
 * The demo app (examples/demo-app.ts) over HTTP, in this process, so that it runs on Express 5 and
 * on Express 4 (vitest.config.ts aliases the demo's `express` too): the pages a newcomer sees and
 * the "Refresh now" route's answers, including when a refresh cannot be made. The browser tour is
 * test/browser/login.browser.test.ts; two processes behind Redis, demo-redis.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, completeProviderLogin, sendWithJar } from '../support/provider-login.js';
import { startDemo, type RunningDemo } from '../../examples/demo-app.js';

async function logIn(demo: RunningDemo, jar: CookieJar): Promise<void> {
  const start = await sendWithJar(jar, `${demo.url}/oidc/authenticate?next=/profile`);
  const callback = await completeProviderLogin(start.location as string, { jar, login: 'alice' });
  expect((await sendWithJar(jar, callback)).location).toBe(`${demo.url}/profile`);
}

describe('demo app', () => {
  let demo: RunningDemo;
  beforeAll(async () => {
    demo = await startDemo({ port: 0, providerPort: 0, env: {} });
  });
  afterAll(async () => {
    await demo?.close();
  });

  it('home page: signed out, the test login and "any password" in plain text, the issuer', async () => {
    const home = await sendWithJar(new CookieJar(), demo.url);
    expect(home.status).toBe(200);
    expect(home.body).toContain('You are not signed in.');
    expect(home.body).toContain('<code id="dev-login">alice</code> with any password');
    expect(home.body).toContain(`<code id="issuer">${demo.provider?.issuer}</code>`);
    expect(home.body).toContain('sessions in memory');
  });

  it('signed out: /profile goes to login, /api/me answers 401 JSON, Refresh now goes to login', async () => {
    const jar = new CookieJar();
    expect((await sendWithJar(jar, `${demo.url}/profile`)).location).toBe(`${demo.url}/oidc/authenticate?next=%2Fprofile`);
    const api = await sendWithJar(jar, `${demo.url}/api/me`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body)).toMatchObject({ error: 'unauthenticated' });
    const refresh = await sendWithJar(jar, `${demo.url}/profile/refresh`, { method: 'POST' });
    expect(refresh.status).toBe(302);
    // A POST cannot be resumed after login: no `next`.
    expect(refresh.location).toBe(`${demo.url}/oidc/authenticate`);
  });

  it('Refresh now: a new access token, the page says old -> new, /api/me serves the new one', async () => {
    const jar = new CookieJar();
    await logIn(demo, jar);
    const before = await sendWithJar(jar, `${demo.url}/api/me`, { headers: { accept: 'application/json' } });
    const { access_token: tokenBefore } = JSON.parse(before.body) as { access_token: { fingerprint: string; expires_in: number } };
    // The embedded provider's short lifetime (DEMO_ACCESS_TOKEN_TTL), so a refresh is visible.
    expect(tokenBefore.expires_in).toBeLessThanOrEqual(60);

    expect((await sendWithJar(jar, `${demo.url}/profile/refresh`, { method: 'POST' })).status).toBe(303);
    const profile = (await sendWithJar(jar, `${demo.url}/profile`)).body;
    expect(profile).toMatch(/id="refresh-message">Refreshed: the access token now expires at <strong>[^<]+<\/strong> \(was [^)]+\)/);
    expect(profile).toContain(`fingerprint ${tokenBefore.fingerprint} &rarr; `);
    const after = JSON.parse((await sendWithJar(jar, `${demo.url}/api/me`, { headers: { accept: 'application/json' } })).body) as {
      access_token: { fingerprint: string };
    };
    expect(after.access_token.fingerprint).not.toBe(tokenBefore.fingerprint);
    expect(profile).toContain(`<code id="token-fingerprint">${after.access_token.fingerprint}</code>`);
  });
});

describe('demo app, the library keeping no refresh token', () => {
  let demo: RunningDemo;
  beforeAll(async () => {
    // req.oidc.refresh() then rejects with OIDC_REFRESH_FAILED.
    demo = await startDemo({ port: 0, providerPort: 0, env: { OIDC_STORE_REFRESH_TOKEN: 'false' } });
  });
  afterAll(async () => {
    await demo?.close();
  });

  it('Refresh now without a refresh token: the profile page says why, once', async () => {
    const jar = new CookieJar();
    await logIn(demo, jar);
    expect((await sendWithJar(jar, `${demo.url}/profile`)).body).toContain('<span id="has-refresh-token">no</span>');

    const refresh = await sendWithJar(jar, `${demo.url}/profile/refresh`, { method: 'POST' });
    expect(refresh).toMatchObject({ status: 303, location: `${demo.url}/profile` });
    const profile = await sendWithJar(jar, `${demo.url}/profile`);
    expect(profile.status).toBe(200);
    expect(profile.body).toMatch(/id="refresh-message">Refresh failed: <code>OIDC_REFRESH_FAILED<\/code> this session has no refresh token/);
    // Shown once (post/redirect/get), not on every later visit.
    expect((await sendWithJar(jar, `${demo.url}/profile`)).body).not.toContain('id="refresh-message"');
  });
});
