/**
 * req.oidc.fetch against a real provider (oidc-provider's userinfo endpoint as the API): the
 * session's access token is sent as a Bearer token; an access token the provider no longer
 * accepts (revoked there) makes one refresh grant and one retry; a request without a session is
 * refused with OIDC_NOT_AUTHENTICATED and sends nothing.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { DevProvider } from '../../examples/dev-provider.js';
import { CookieJar, completeProviderLogin } from '../support/provider-login.js';
import type { RpApp } from '../support/rp-app.js';
import { startDevProviderWithRp } from '../support/oidc-provider.js';
import { loginThrough, type Agent } from '../support/login.js';

const CLIENT = { client_id: 'rp-fetch', client_secret: 'rp-fetch-secret-0123456789abcdef0123456789abcdef' };

describe('req.oidc.fetch against oidc-provider', () => {
  let op: DevProvider;
  let rp: RpApp;
  const grants: string[] = [];

  beforeAll(async () => {
    ({ op, rp } = await startDevProviderWithRp({ client: CLIENT, provider: { rotateRefreshToken: true } }));
    op.provider.on('grant.success', ((ctx: { oidc: { params: { grant_type?: string } } }) => {
      grants.push(String(ctx.oidc.params.grant_type));
    }) as (...args: never[]) => void);
  });

  afterAll(async () => {
    await rp?.close();
    await op?.close();
  });

  async function login(agent: Agent): Promise<{ accessToken: string }> {
    const cb = await loginThrough(agent, (url) => completeProviderLogin(url, { login: 'alice', jar: new CookieJar() }));
    expect(cb.status, JSON.stringify(rp.logs.slice(-3))).toBe(302);
    const me = await agent.get('/me').set('accept', 'application/json');
    return me.body as { accessToken: string };
  }

  it('calls the API with the Bearer token; the answer is the API response', async () => {
    const agent = request.agent(rp.url);
    await login(agent);
    const res = await agent.get('/call').query({ url: `${op.issuer}/me` });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe(200);
    expect(JSON.parse(res.body.body)).toMatchObject({ sub: 'alice', email: 'alice@example.com' });
  });

  it('an access token revoked at the provider: 401 invalid_token -> one refresh grant -> the retry succeeds with the new token', async () => {
    const agent = request.agent(rp.url);
    const first = await login(agent);
    const token = await op.provider.AccessToken.find(first.accessToken);
    expect(token).toBeDefined();
    await token?.destroy();
    const before = grants.filter((g) => g === 'refresh_token').length;

    const res = await agent.get('/call').query({ url: `${op.issuer}/me` });
    expect(res.body.status).toBe(200);
    expect(JSON.parse(res.body.body).sub).toBe('alice');
    expect(grants.filter((g) => g === 'refresh_token').length - before).toBe(1);
    // The session copy was updated by the same request: the next page sees the new token.
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(me.body.accessToken).not.toBe(first.accessToken);
  });

  it('the refreshed token refused as well: the 401 is returned, no second refresh', async () => {
    const agent = request.agent(rp.url);
    await login(agent);
    const before = grants.filter((g) => g === 'refresh_token').length;
    // An API that always refuses the token.
    const res = await agent.get('/call').query({ url: `${rp.url}/always-invalid-token` });
    expect(res.body.status).toBe(401);
    expect(grants.filter((g) => g === 'refresh_token').length - before).toBe(1);
  });

  it('req.oidc.refresh(): one grant now, req.oidc shows the new token at once and the session keeps it', async () => {
    const agent = request.agent(rp.url);
    const first = await login(agent);
    const before = grants.filter((g) => g === 'refresh_token').length;
    const now = await agent.post('/refresh-now');
    expect(now.status, now.text).toBe(200);
    expect(now.body.accessToken).not.toBe(first.accessToken);
    expect(grants.filter((g) => g === 'refresh_token').length - before).toBe(1);
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(me.body.accessToken).toBe(now.body.accessToken);
  });

  it('req.oidc.refresh() without a session: OIDC_NOT_AUTHENTICATED', async () => {
    const res = await request(rp.url).post('/refresh-now').set('accept', 'application/json');
    expect(res.status).toBe(401);
  });

  it('no session: OIDC_NOT_AUTHENTICATED (401), nothing is sent', async () => {
    let hits = 0;
    const api = createServer((_req, res) => {
      hits++;
      res.end('{}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const res = await request(rp.url)
        .get('/call')
        .query({ url: `http://127.0.0.1:${(api.address() as AddressInfo).port}/` });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('OIDC_NOT_AUTHENTICATED');
      expect(hits).toBe(0);
    } finally {
      api.close();
    }
  });
});
