/**
 * req.oidc.fetch and req.oidc.refresh() when the provider refuses the refresh token: the login is
 * over, and so is the session, at once (docs/design.md "Failure semantics": a dead credential
 * destroys the session), not only when its access token is next due.
 *
 * Found by the load test (test/load/faults.ts): a session whose refresh token the provider had
 * revoked went on answering 200 on every page with an access token the provider refused, while
 * req.oidc.fetch said the session had ended.
 */
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { fakeOpFixture } from '../support/fake-op-fixture.js';
import { loginThrough, type Agent } from '../support/login.js';
import type { FakeOp } from '../support/fake-op.js';

const fixture = fakeOpFixture((op) => ({ issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret }));

async function login(): Promise<{ agent: Agent; accessToken: string; refreshToken: string }> {
  const agent = request.agent(fixture.rp().url);
  const cb = await loginThrough(agent);
  expect(cb.status).toBe(302);
  const me = await agent.get('/me').set('accept', 'application/json');
  expect(me.status).toBe(200);
  return { agent, ...(me.body as { accessToken: string; refreshToken: string }) };
}

/** Revoke at the provider (RFC 7009): a refresh token takes its whole login with it, access tokens included. */
async function revokeAtProvider(op: FakeOp, token: string): Promise<void> {
  const res = await fetch(`${op.issuer}/revoke`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(op.clientId)}:${encodeURIComponent(op.clientSecret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }).toString(),
  });
  expect(res.status).toBe(200);
}

async function expectSignedOut(agent: Agent): Promise<void> {
  const me = await agent.get('/me').set('accept', 'application/json');
  expect(me.status, me.text).toBe(401);
  const who = await agent.get('/whoami');
  expect(who.body).toEqual({ authenticated: false, user: null });
}

describe('a refresh token the provider refuses ends the session at once', () => {
  it('req.oidc.fetch: the API refuses the token, the refresh grant is refused -> the API answer is returned and the session is over', async () => {
    const op = fixture.op();
    const { agent, refreshToken } = await login();
    await revokeAtProvider(op, refreshToken);

    const call = await agent.get('/call').query({ url: `${op.issuer}/userinfo` });
    expect(call.status).toBe(200);
    expect(call.body.status).toBe(401);
    expect(op.grants('refresh_token')).toBe(1);
    // The access token is not due: without the fix, the hot path went on answering 200 with it.
    await expectSignedOut(agent);
  });

  it('req.oidc.refresh(): the refresh grant is refused -> it rejects and the session is over', async () => {
    const op = fixture.op();
    const { agent, refreshToken } = await login();
    await revokeAtProvider(op, refreshToken);

    const now = await agent.post('/refresh-now').set('accept', 'application/json');
    // The documented code (README req.oidc.refresh), with the provider's OAuth error kept.
    expect(now.status).toBe(401);
    expect(now.body.error).toBe('OIDC_SESSION_ENDED');
    await expectSignedOut(agent);
  });
});
