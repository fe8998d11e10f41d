/**
 * README "Two commands", the two-process demo: two `npm start` processes (examples/demo.ts) on two
 * ports behind one real redis-server. The first runs the embedded provider and registers the
 * second's URL (DEMO_PEER_URLS); the second uses that provider (DEMO_PROVIDER_ISSUER). A login
 * made on the first is a login on the second (same cookie name and session secret, sessions in
 * the shared connect-redis store), "Refresh now" on the second makes a refresh grant whose new
 * token the first then serves (the library's token set in Redis), and a logout on the second
 * closes the profile on the first.
 *
 * Driven over HTTP with one cookie jar keyed by host, as a browser keys them: both ports of
 * 127.0.0.1 get the same demo.sid cookie.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { CookieJar, completeProviderLogin, sendWithJar, completeProviderLogout } from '../support/provider-login.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { reservePort } from '../support/rp-app.js';
import { startDemoProcess, type DemoProcess } from '../support/demo-process.js';

/** The profile page's access token: expiry (epoch seconds) and fingerprint, and who served it. */
function profileOf(html: string) {
  const grab = (re: RegExp) => re.exec(html)?.[1];
  return {
    sub: grab(/id="profile-sub">sub: ([^<]*)</),
    expiresAt: Number(grab(/id="expires-at"[^>]*data-epoch="(\d+)"/)),
    fingerprint: grab(/id="token-fingerprint">([^<]*)</),
    servedBy: grab(/id="served-by">served by ([^<]*)</),
    notice: grab(/id="refresh-message">([\s\S]*?)<\/p>/),
  };
}

/** Expiries are whole seconds: wait out the current one so a refresh shows a later expiry. */
const untilNextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));

describe('demo: two processes behind one Redis (README "Two commands")', () => {
  let redisServer: RedisServer;
  let first: DemoProcess;
  let second: DemoProcess;
  let issuer: string;

  beforeAll(async () => {
    redisServer = await startRedisServer();
    // The second's port is chosen first: the first registers its callback at the provider.
    const reserved = await reservePort();
    const secondPort = new URL(reserved.url).port;
    await new Promise((resolve) => reserved.server.close(resolve));

    first = await startDemoProcess({ PORT: '0', DEV_PROVIDER_PORT: '0', REDIS_URL: redisServer.url, DEMO_PEER_URLS: reserved.url });
    issuer = (await first.printed(/embedded development provider at (http:\/\/\S+):/))[1] as string;
    // The first prints the second's exact command; run what it says.
    const command = (await first.printed(/second process: (.*) npm start\n/))[1] as string;
    expect(command).toBe(`REDIS_URL=${redisServer.url} PORT=${secondPort} DEMO_PROVIDER_ISSUER=${issuer}`);
    const env = Object.fromEntries(command.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    second = await startDemoProcess(env);
    expect(second.url).toBe(reserved.url);
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await redisServer?.stop();
  });

  it('log in on one, refresh now on the other, both see the new token, log out on the other closes both', async () => {
    const jar = new CookieJar();

    // Log in on the first (at the first's embedded provider, as alice).
    const start = await sendWithJar(jar, `${first.url}/oidc/authenticate?next=/profile`);
    expect(start.location?.startsWith(`${issuer}/`)).toBe(true);
    const callback = await completeProviderLogin(start.location as string, { jar, login: 'alice' });
    expect(callback.startsWith(`${first.url}/oidc/callback?`)).toBe(true);
    const landed = await sendWithJar(jar, callback);
    expect(landed.location).toBe(`${first.url}/profile`);

    const onFirst = profileOf((await sendWithJar(jar, `${first.url}/profile`)).body);
    expect(onFirst).toMatchObject({ sub: 'alice', servedBy: expect.stringContaining(first.url) });

    // The same cookie on the second port: the same session, read from Redis.
    const onSecond = await sendWithJar(jar, `${second.url}/profile`);
    expect(onSecond.status).toBe(200);
    expect(profileOf(onSecond.body)).toMatchObject({ sub: 'alice', fingerprint: onFirst.fingerprint, servedBy: expect.stringContaining(second.url) });
    expect(onSecond.body).toContain('sessions and token sets in Redis');

    // Refresh now on the second: a real refresh grant at the first's provider.
    await untilNextSecond();
    const refreshed = await sendWithJar(jar, `${second.url}/profile/refresh`, { method: 'POST', headers: { origin: second.url } });
    expect(refreshed).toMatchObject({ status: 303, location: `${second.url}/profile` });
    const afterRefresh = profileOf((await sendWithJar(jar, `${second.url}/profile`)).body);
    expect(afterRefresh.notice).toContain('Refreshed');
    expect(afterRefresh.expiresAt).toBeGreaterThan(onFirst.expiresAt);
    expect(afterRefresh.fingerprint).not.toBe(onFirst.fingerprint);

    // The first serves the new token: the session and the token set are in Redis, not in a process.
    const api = await sendWithJar(jar, `${first.url}/api/me`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body)).toMatchObject({
      served_by: expect.stringContaining(first.url),
      user: { sub: 'alice' },
      access_token: { fingerprint: afterRefresh.fingerprint, expires_at: new Date(afterRefresh.expiresAt * 1000).toISOString() },
    });

    // What Redis holds: connect-redis's sessions and the library's token sets.
    const redis = createClient({ url: redisServer.url });
    await redis.connect();
    try {
      expect(await redis.keys('sess:*')).toHaveLength(1);
      expect(await redis.keys('oidc:tokens:*')).toHaveLength(1);
    } finally {
      await redis.close();
    }

    // Log out on the second (a same-origin form POST): the provider comes back to the second's home.
    const logout = await sendWithJar(jar, `${second.url}/oidc/logout`, { method: 'POST', headers: { origin: second.url, 'sec-fetch-site': 'same-origin' } });
    expect(logout.location?.startsWith(`${issuer}/`)).toBe(true);
    expect(await completeProviderLogout(logout.location as string, { jar })).toMatch(new RegExp(`^${second.url}/(\\?|$)`));

    // The profile is closed on both ports.
    for (const demo of [second, first]) {
      const closed = await sendWithJar(jar, `${demo.url}/profile`);
      expect(closed.status).toBe(302);
      expect(closed.location).toMatch(new RegExp(`^${demo.url}/oidc/authenticate\\?`));
    }
  });
});
