// Proves the test infrastructure: the embedded dev OpenID Provider with a hand-built
// authorization code + PKCE flow driven over HTTP, Debian's Chromium, and redis-server.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDevProvider, type DevProvider } from '../examples/dev-provider.js';
import { launchChromium } from './support/chromium.js';
import { CookieJar, completeProviderLogin, completeProviderLogout } from './support/provider-login.js';
import { startRedisServer } from './support/redis-server.js';
import { jwtPayload } from './support/jwt.js';

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret-test-secret-test-secret';

interface TokenResponse {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  error?: string;
  error_description?: string;
}

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

describe('dev provider', () => {
  let op: DevProvider;
  let rp: Server;
  let redirectUri: string;
  let postLogoutUri: string;
  let discovery: Record<string, unknown>;
  const logoutTokens: string[] = [];

  beforeAll(async () => {
    // A throwaway "RP": the flows stop at the redirect to it; it only records back-channel logouts.
    rp = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/backchannel-logout') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const token = new URLSearchParams(body).get('logout_token');
          if (token) logoutTokens.push(token);
          res.end();
        });
        return;
      }
      res.end('ok');
    });
    await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve));
    const { port } = rp.address() as AddressInfo;
    redirectUri = `http://127.0.0.1:${port}/cb`;
    postLogoutUri = `http://127.0.0.1:${port}/logged-out`;

    op = await startDevProvider({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [redirectUri],
          post_logout_redirect_uris: [postLogoutUri],
          backchannel_logout_uri: `http://127.0.0.1:${port}/backchannel-logout`,
          backchannel_logout_session_required: true,
        },
      ],
    });
    const res = await fetch(`${op.issuer}/.well-known/openid-configuration`);
    discovery = (await res.json()) as Record<string, unknown>;
  });

  afterAll(async () => {
    await op?.close();
    await new Promise<void>((resolve) => (rp ? rp.close(() => resolve()) : resolve()));
  });

  function authorizationUrl(extra: Record<string, string> = {}) {
    const verifier = b64url(randomBytes(32));
    const state = b64url(randomBytes(16));
    const nonce = b64url(randomBytes(16));
    const url = new URL(String(discovery.authorization_endpoint));
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: redirectUri,
      scope: 'openid email profile offline_access',
      state,
      nonce,
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...extra,
    }).toString();
    return { url: url.href, verifier, state, nonce };
  }

  async function token(params: Record<string, string>): Promise<{ status: number; body: TokenResponse }> {
    const res = await fetch(String(discovery.token_endpoint), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(params),
    });
    return { status: res.status, body: (await res.json()) as TokenResponse };
  }

  it('serves discovery for the 127.0.0.1 issuer', () => {
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(discovery.issuer).toBe(op.issuer);
    for (const key of ['revocation_endpoint', 'introspection_endpoint', 'userinfo_endpoint', 'end_session_endpoint']) {
      expect(discovery[key], key).toEqual(expect.stringContaining(op.issuer));
    }
    expect(discovery.backchannel_logout_supported).toBe(true);
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['openid', 'offline_access', 'email', 'profile']));
  });

  it('logs in with only the login form, issues id_token + refresh_token, and rotates the refresh token', async () => {
    const auth = authorizationUrl();
    const callback = new URL(await completeProviderLogin(auth.url, { login: 'alice' }));
    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(callback.searchParams.get('error')).toBeNull();
    expect(callback.searchParams.get('state')).toBe(auth.state);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);
    const code = callback.searchParams.get('code');
    expect(code).toBeTruthy();

    const first = await token({ grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, code_verifier: auth.verifier });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.id_token).toBeTruthy();
    expect(first.body.access_token).toBeTruthy();
    expect(first.body.refresh_token).toBeTruthy();
    expect(first.body.scope?.split(' ')).toEqual(expect.arrayContaining(['openid', 'email', 'profile', 'offline_access']));

    const claims = jwtPayload(first.body.id_token!);
    expect(claims).toMatchObject({
      iss: op.issuer,
      aud: CLIENT_ID,
      sub: 'alice',
      nonce: auth.nonce,
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Example',
    });

    const userinfo = await fetch(String(discovery.userinfo_endpoint), { headers: { authorization: `Bearer ${first.body.access_token}` } });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ sub: 'alice', email: 'alice@example.com', given_name: 'Alice' });

    const second = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.access_token).toBeTruthy();
    expect(second.body.id_token).toBeTruthy();
    expect(second.body.refresh_token).toBeTruthy();
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);

    // Rotation: the old refresh token is spent (and reusing it revokes the whole grant).
    const reuse = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
  });

  it('reuses the provider session with the same cookie jar (prompt=none), and logs out', async () => {
    const jar = new CookieJar();
    const first = new URL(await completeProviderLogin(authorizationUrl().url, { login: 'bob', jar }));
    expect(first.searchParams.get('code')).toBeTruthy();

    const silent = authorizationUrl({ prompt: 'none' });
    const second = new URL(await completeProviderLogin(silent.url, { login: 'ignored', jar }));
    expect(second.searchParams.get('error')).toBeNull();
    expect(second.searchParams.get('code')).toBeTruthy();
    const tokens = await token({
      grant_type: 'authorization_code',
      code: second.searchParams.get('code')!,
      redirect_uri: redirectUri,
      code_verifier: silent.verifier,
    });
    expect(tokens.status).toBe(200);
    expect(jwtPayload(tokens.body.id_token!).sub).toBe('bob');

    // Without the jar there is no session: prompt=none must come back with login_required.
    const fresh = new URL(await completeProviderLogin(authorizationUrl({ prompt: 'none' }).url));
    expect(fresh.searchParams.get('error')).toBe('login_required');

    const endSession = new URL(String(discovery.end_session_endpoint));
    endSession.search = new URLSearchParams({ id_token_hint: tokens.body.id_token!, post_logout_redirect_uri: postLogoutUri, state: 'bye' }).toString();
    const after = new URL(await completeProviderLogout(endSession.href, { jar }));
    expect(after.origin + after.pathname).toBe(postLogoutUri);
    expect(after.searchParams.get('state')).toBe('bye');

    // Back-channel logout reached the RP on 127.0.0.1 (oidc-provider's SSRF guard is lifted).
    expect(logoutTokens).toHaveLength(1);
    const logoutClaims = jwtPayload(logoutTokens[0]!);
    expect(logoutClaims).toMatchObject({ iss: op.issuer, aud: CLIENT_ID, sub: 'bob', sid: jwtPayload(tokens.body.id_token!).sid });
    expect(logoutClaims.events).toHaveProperty(['http://schemas.openid.net/event/backchannel-logout']);

    const again = new URL(await completeProviderLogin(authorizationUrl({ prompt: 'none' }).url, { jar }));
    expect(again.searchParams.get('error')).toBe('login_required');
  });

  it('logs in unknown names as an account with that sub, and handles prompt=consent', async () => {
    const auth = authorizationUrl({ prompt: 'login consent' });
    const callback = new URL(await completeProviderLogin(auth.url, { login: 'carol' }));
    const code = callback.searchParams.get('code');
    expect(code, callback.href).toBeTruthy();
    const tokens = await token({ grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, code_verifier: auth.verifier });
    expect(tokens.status).toBe(200);
    expect(jwtPayload(tokens.body.id_token!).sub).toBe('carol');
    expect(tokens.body.refresh_token).toBeTruthy();
  });

  it('runs two providers in one process', async () => {
    const other = await startDevProvider({
      clients: [{ client_id: 'other', client_secret: 'other-secret-other-secret', redirect_uris: [redirectUri] }],
      rotateRefreshToken: false,
    });
    try {
      expect(other.issuer).not.toBe(op.issuer);
      const res = await fetch(`${other.issuer}/.well-known/openid-configuration`);
      expect(((await res.json()) as { issuer: string }).issuer).toBe(other.issuer);
    } finally {
      await other.close();
    }
  });
});

describe('system dependencies', () => {
  it('launches Debian Chromium and renders a data: URL', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto('data:text/html,<title>hi</title><p id="x">hello chromium</p>');
      expect(await page.title()).toBe('hi');
      expect(await page.textContent('#x')).toBe('hello chromium');
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('starts redis-server and answers PING', async () => {
    const redis = await startRedisServer();
    try {
      const { createClient } = await import('redis');
      const client = createClient({ url: redis.url });
      await client.connect();
      try {
        expect(await client.ping()).toBe('PONG');
      } finally {
        await client.quit();
      }
    } finally {
      await redis.stop();
    }
  }, 30_000);
});
