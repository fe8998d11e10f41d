/**
 * examples/bearer-api, run as `npm run example -- bearer-api` does (examples/run-example.ts,
 * without npm's wrapper): the API (api.ts) and its client (client.ts) against the embedded
 * development provider. The API is called directly for the answers that need no token, and
 * through the client, which logs a user in and calls it with the user's access token, for the rest.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeProviderLogin } from '../support/provider-login.js';
import { loginWithCookies } from '../support/login.js';
import { freePort, outputContaining, startExample, type RunningExample } from './support.js';

let example: RunningExample | undefined;
let api: string;
let client: string;

beforeAll(async () => {
  const [apiPort, clientPort] = await Promise.all([freePort(), freePort()]);
  example = await startExample(process.execPath, ['--import', 'tsx', 'examples/run-example.ts', 'bearer-api'], {
    env: { PORT: String(apiPort), CLIENT_PORT: String(clientPort), DEV_PROVIDER_PORT: '0' },
    processes: 2,
  });
  api = `http://127.0.0.1:${apiPort}`;
  client = `http://127.0.0.1:${clientPort}`;
});

afterAll(async () => {
  await example?.stop();
});

interface Answer {
  call: string;
  status: number;
  wwwAuthenticate: string | null;
  body: Record<string, unknown> | string;
}

describe('examples/bearer-api', () => {
  it('answers a request without a token 401 with a Bearer challenge and no error (RFC 6750 3.1), needing no session', async () => {
    for (const route of ['/api/me', '/api/profile', '/api/admin']) {
      const res = await request(api).get(route);
      expect(res.status, route).toBe(401);
      expect(res.headers['www-authenticate'], route).toMatch(/^Bearer realm="[^"]+"/);
      expect(res.headers['www-authenticate'], route).not.toContain('error=');
      expect(res.headers['set-cookie'], route).toBeUndefined();
    }
  });

  it('answers an unknown token 401 invalid_token', async () => {
    const res = await request(api).get('/api/me').set('authorization', 'Bearer made-up');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it("the client's calls with the user's token: 200 for a granted scope, 403 insufficient_scope for admin", async () => {
    const cookie = await loginWithCookies(client, (authorizeUrl) => completeProviderLogin(authorizeUrl, { login: 'alice' }));
    const page = await request(client).get('/').set('cookie', cookie);
    expect(page.status, page.text).toBe(200);
    expect(page.body.signedInAs).toBe('alice');
    const answers = page.body.answers as Answer[];
    expect(answers.map((a) => [a.call, a.status])).toEqual([
      ['GET /api/me without a token', 401],
      ['GET /api/me with an invalid token', 401],
      ['GET /api/me', 200],
      ['GET /api/profile', 200],
      ['GET /api/admin', 403],
    ]);
    expect(answers[2]!.body).toMatchObject({ sub: 'alice', scopes: expect.arrayContaining(['openid', 'profile']) });
    expect(answers[4]!.wwwAuthenticate).toMatch(/^Bearer .*error="insufficient_scope"/);
    expect(answers[4]!.wwwAuthenticate).toContain('scope="admin"');
    // The client prints them too.
    expect(await outputContaining(example!, '[client] GET /api/admin: 403')).toContain('[client] GET /api/admin: 403');
  });
});
