/**
 * examples/redis-two-instances, run by its one command, `npm run example -- redis-two-instances`
 * (examples/run-example.ts: the embedded development provider, a throwaway redis-server, then
 * two processes of app.ts), with nothing configured. The keys are looked at in the redis-server
 * the launcher printed. A login on instance A is a login on B; a refresh on B is the token A uses
 * next; a logout on B ends the session on A.
 */
import request from 'supertest';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeProviderLogin } from '../support/provider-login.js';
import { loginWithCookies } from '../support/login.js';
import { sessionIdOf } from '../support/cookies.js';
import { freePort, startExample, type RunningExample } from './support.js';

let redisUrl: string;
let example: RunningExample | undefined;
let a: string;
let b: string;

beforeAll(async () => {
  const [portA, portB] = await Promise.all([freePort(), freePort()]);
  example = await startExample('npm', ['run', 'example', '--', 'redis-two-instances'], {
    env: { PORT: String(portA), PORT_B: String(portB), DEV_PROVIDER_PORT: '0' },
    processes: 2,
  });
  redisUrl = /throwaway redis-server at (redis:\/\/127\.0\.0\.1:\d+)/.exec(example.output())?.[1] as string;
  a = `http://127.0.0.1:${portA}`;
  b = `http://127.0.0.1:${portB}`;
});

afterAll(async () => {
  await example?.stop();
});

const me = (url: string, cookie: string) => request(url).get('/me').set('accept', 'application/json').set('cookie', cookie);

async function keys(pattern: string): Promise<string[]> {
  const client = createClient({ url: redisUrl });
  await client.connect();
  try {
    return await client.keys(pattern);
  } finally {
    await client.quit();
  }
}

describe('examples/redis-two-instances', () => {
  it('starts a Redis and both instances with the one command', () => {
    expect(redisUrl, example!.output()).toBeDefined();
    expect(example!.urls.sort()).toEqual([a, b].sort());
    expect(example!.output()).toContain('[A] redis-two-instances example, instance A');
    expect(example!.output()).toContain('[B] redis-two-instances example, instance B');
  });

  it('shares the session and the token set: login on A, requests and a refresh on B, logout on B', async () => {
    const cookie = await loginWithCookies(a, (authorizeUrl) => completeProviderLogin(authorizeUrl, { login: 'alice' }));
    const onA = await me(a, cookie);
    const onB = await me(b, cookie);
    expect(onA.body).toMatchObject({ instance: 'A', sub: 'alice' });
    expect(onB.status).toBe(200);
    expect(onB.body).toMatchObject({ instance: 'B', sub: 'alice', accessToken: onA.body.accessToken });

    // One session in connect-redis, one token set in the library's keys.
    const sessionKey = `sess:${sessionIdOf(cookie)}`;
    expect(await keys('sess:*')).toEqual([sessionKey]);
    expect(await keys('oidc:tokens:*')).toHaveLength(1);

    const refreshed = await request(b).post('/refresh').set('cookie', cookie);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.accessToken).not.toBe(onA.body.accessToken);
    expect((await me(a, cookie)).body).toMatchObject({ instance: 'A', accessToken: refreshed.body.accessToken });

    const logout = await request(b).post('/oidc/logout').set('cookie', cookie);
    expect(logout.status).toBe(303);
    expect((await me(a, cookie)).status).toBe(401);
    expect(await keys('sess:*')).not.toContain(sessionKey);
  });
});
