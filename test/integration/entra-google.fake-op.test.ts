/**
 * The two providers whose issuer is not one fixed string, against the fake OP over real HTTP:
 *
 * - Microsoft Entra ID multi-tenant: the app configures `<op>/common/v2.0`; discovery names the
 *   template `<op>/{tenantid}/v2.0`; each token carries `iss` = the template with its own `tid`.
 *   Two tenants sign with the provider's one key set. Login, refresh, back-channel logout and
 *   bearer tokens all check `iss` against the token's `tid`; allowedTenants restricts tenants.
 * - Google: ID tokens say `https://accounts.google.com` or `accounts.google.com`; a configured
 *   `offline_access` becomes `access_type=offline` and `prompt=consent`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import express from 'express';
import request from 'supertest';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { startRpApp, type RpApp } from '../support/rp-app.js';
import { atFakeOp, pathOf, startLogin } from '../support/login.js';
import type { OidcAuthOptions } from '../../src/types.js';

type Agent = ReturnType<typeof request.agent>;

const TENANT_A = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const TENANT_B = '9188040d-6c67-4c5b-b112-36a304b66dad';

let op: FakeOp;
const rps: RpApp[] = [];

beforeAll(async () => {
  op = await startFakeOp();
});
afterEach(async () => {
  vi.useRealTimers();
  op.reset();
  await Promise.all(rps.splice(0).map((r) => r.close()));
});
afterAll(async () => {
  await op.close();
});

// ---------------------------------------------------------------------------
// Entra multi-tenant
// ---------------------------------------------------------------------------

const commonIssuer = () => `${op.issuer}/common/v2.0`;
const tenantIssuer = (tid: string) => `${op.issuer}/${tid}/v2.0`;

/** The fake OP as Entra's `common` endpoint: template in discovery, tokens of tenant `tid`. */
function actAsEntra(tid: string, extra: Record<string, unknown> = {}): void {
  op.set({
    discoveryPath: '/common/v2.0/.well-known/openid-configuration',
    discoveryIssuer: `${op.issuer}/{tenantid}/v2.0`,
    // Entra neither sends nor advertises RFC 9207's iss parameter.
    discoveryExtra: { authorization_response_iss_parameter_supported: false },
    authorizeIss: null,
    idTokenClaims: { iss: tenantIssuer(tid), tid, ...extra },
  });
}

async function entraRp(extra: OidcAuthOptions = {}): Promise<RpApp> {
  const rp = await startRpApp({
    oidc: {
      issuer: commonIssuer(),
      clientId: op.clientId,
      clientSecret: op.clientSecret,
      loginRedirectUrl: '/welcome',
      loginRedirectUrlFailure: '/failed',
      ...extra,
    },
  });
  rps.push(rp);
  return rp;
}

async function login(rp: RpApp, agent: Agent = request.agent(rp.url)): Promise<{ agent: Agent; done: request.Response }> {
  const start = await startLogin(agent);
  const done = await agent.get(pathOf(await atFakeOp(start.headers.location as string)));
  return { agent, done };
}

async function me(agent: Agent): Promise<request.Response> {
  return agent.get('/me').set('accept', 'application/json');
}

function lastWarning(rp: RpApp): { code?: unknown; reason?: unknown } | undefined {
  return rp.logs.filter((l) => l.level === 'warn' && l.message === 'login failed').at(-1)?.meta as { code?: unknown; reason?: unknown } | undefined;
}

describe('Entra ID multi-tenant (common): login', () => {
  it('a user of any tenant signs in; req.oidc.claims carries the tid and the tenant issuer', async () => {
    actAsEntra(TENANT_A);
    const rp = await entraRp();
    const { agent, done } = await login(rp);
    expect(done.headers.location, JSON.stringify(rp.logs)).toBe('/welcome');
    const res = await me(agent);
    expect(res.status).toBe(200);
    expect(res.body.claims).toMatchObject({ tid: TENANT_A, iss: tenantIssuer(TENANT_A) });

    // Another tenant, same provider keys: also in (no allowedTenants).
    actAsEntra(TENANT_B);
    const other = await login(rp);
    expect((await me(other.agent)).body.claims.tid).toBe(TENANT_B);
  });

  it.each([
    ['a tid that does not match iss', () => ({ iss: tenantIssuer(TENANT_A), tid: TENANT_B })],
    ['no tid', () => ({ iss: tenantIssuer(TENANT_A), tid: undefined })],
    ['a tid that is not a tenant id', () => ({ iss: `${op.issuer}/evil/v2.0`, tid: 'evil' })],
    ['iss on another host with the right tid', () => ({ iss: `https://login.evil.example/${TENANT_A}/v2.0`, tid: TENANT_A })],
    ['the literal template as iss', () => ({ iss: `${op.issuer}/{tenantid}/v2.0`, tid: TENANT_A })],
  ])('refused: %s (OIDC_ID_TOKEN_INVALID, no session)', async (_name, claims) => {
    actAsEntra(TENANT_A);
    op.set({ idTokenClaims: claims() });
    const rp = await entraRp();
    const { agent, done } = await login(rp);
    expect(done.headers.location).toBe('/failed');
    expect(lastWarning(rp)?.code).toBe('OIDC_ID_TOKEN_INVALID');
    expect((await me(agent)).status).toBe(401);
  });

  it('allowedTenants: a listed tenant signs in; another is refused with OIDC_TENANT_NOT_ALLOWED naming the tenant', async () => {
    const rp = await entraRp({ allowedTenants: [TENANT_A] });
    actAsEntra(TENANT_A);
    const ok = await login(rp);
    expect(ok.done.headers.location).toBe('/welcome');

    actAsEntra(TENANT_B);
    const foreign = await login(rp);
    expect(foreign.done.headers.location).toBe('/failed');
    expect(lastWarning(rp)).toMatchObject({ code: 'OIDC_TENANT_NOT_ALLOWED', reason: expect.stringContaining(TENANT_B) });
    expect((await me(foreign.agent)).status).toBe(401);
  });

  it("the RFC 9207 iss parameter may name the user's tenant, never another provider", async () => {
    actAsEntra(TENANT_A);
    op.set({ authorizeIss: tenantIssuer(TENANT_A) });
    const rp = await entraRp();
    expect((await login(rp)).done.headers.location).toBe('/welcome');
    op.set({ authorizeIss: 'https://login.evil.example/common/v2.0' });
    const mixUp = await login(rp);
    expect(mixUp.done.headers.location).toBe('/failed');
    expect(lastWarning(rp)?.code).toBe('OIDC_ISS_MISMATCH');
  });

  it('a single-tenant issuer keeps the strict check: discovery naming the template is refused', async () => {
    op.set({ discoveryPath: `/${TENANT_A}/v2.0/.well-known/openid-configuration`, discoveryIssuer: `${op.issuer}/{tenantid}/v2.0`, authorizeIss: null });
    const rp = await startRpApp({ oidc: { issuer: tenantIssuer(TENANT_A), clientId: op.clientId, clientSecret: op.clientSecret } });
    rps.push(rp);
    const res = await request(rp.url).get('/oidc/authenticate').set('accept', 'application/json');
    expect(res.status).toBe(500);
    expect(rp.logs.some((l) => l.meta?.code === 'OIDC_DISCOVERY_ISSUER_MISMATCH')).toBe(true);
  });
});

describe('Entra ID multi-tenant (common): refresh, back-channel logout, bearer tokens', () => {
  it('refresh keeps the session in its tenant; a refreshed ID token of another tenant ends it', async () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    actAsEntra(TENANT_A);
    const rp = await entraRp({ storeIdToken: true });
    const { agent } = await login(rp);
    const first = (await me(agent)).body as { accessToken: string; accessTokenExpiresAt: number };

    vi.setSystemTime((first.accessTokenExpiresAt + 1) * 1000);
    const refreshed = await me(agent);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.accessToken).not.toBe(first.accessToken);

    vi.setSystemTime(((refreshed.body.accessTokenExpiresAt as number) + 1) * 1000);
    actAsEntra(TENANT_B);
    const moved = await me(agent);
    expect(moved.status).toBe(401);
    expect(moved.body.error).toBe('session_ended');
    // OIDC Core 12.2: the substituted iss differs first (the tid check stands behind it).
    const ended = rp.logs.find((l) => l.message.startsWith('session ended'));
    expect(ended?.meta).toMatchObject({ code: 'OIDC_ID_TOKEN_INVALID', reason: expect.stringMatching(/another "iss"|another tenant/) });
  });

  it("a back-channel logout token of the user's tenant ends the session; one claiming another tenant's iss is refused", async () => {
    actAsEntra(TENANT_A);
    const rp = await entraRp();
    const { agent } = await login(rp);
    const sid = ((await me(agent)).body.claims as { sid: string }).sid;

    const wrong = await op.makeLogoutToken({ iss: tenantIssuer(TENANT_B), tid: TENANT_A, sid });
    const refused = await request(rp.url).post('/oidc/backchannel-logout').type('form').send({ logout_token: wrong });
    expect(refused.status).toBe(400);
    expect((await me(agent)).status).toBe(200);

    const token = await op.makeLogoutToken({ iss: tenantIssuer(TENANT_A), tid: TENANT_A, sid });
    const res = await request(rp.url).post('/oidc/backchannel-logout').type('form').send({ logout_token: token });
    expect(res.status, res.text).toBe(200);
    expect((await me(agent)).status).toBe(401);
  });

  it('bearer: a JWT access token of an allowed tenant passes, another tenant or a mismatched tid gets 401', async () => {
    actAsEntra(TENANT_A);
    const rp = await entraRp({ allowedTenants: [TENANT_A] });
    const app = express();
    app.get('/api', rp.oidc.bearerAuth(), (req, res) => {
      res.json({ tid: req.oidc.claims?.tid });
    });
    const now = Math.floor(Date.now() / 1000);
    const at = (tid: string, iss = tenantIssuer(tid)) =>
      op.signIdToken({ iss, tid, sub: 'user-1', aud: op.clientId, client_id: op.clientId, iat: now, exp: now + 300, scope: 'openid' }, { typ: 'at+jwt' });
    const ok = await request(app)
      .get('/api')
      .set('authorization', `Bearer ${await at(TENANT_A)}`);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toEqual({ tid: TENANT_A });
    for (const token of [await at(TENANT_B), await at(TENANT_A, tenantIssuer(TENANT_B))]) {
      const res = await request(app).get('/api').set('authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    }
  });
});

// ---------------------------------------------------------------------------
// Google
// ---------------------------------------------------------------------------

describe('Google: both documented issuer forms, offline_access as access_type=offline', () => {
  /** Google's issuer with the fake OP's endpoints (configured explicitly: discovery would go to Google). */
  async function googleRp(extra: OidcAuthOptions = {}): Promise<RpApp> {
    const rp = await startRpApp({
      oidc: {
        issuer: 'https://accounts.google.com',
        authorizationEndpoint: `${op.issuer}/authorize`,
        tokenEndpoint: `${op.issuer}/token`,
        jwksUri: `${op.issuer}/jwks`,
        clientId: op.clientId,
        clientSecret: op.clientSecret,
        scopes: ['openid', 'email', 'offline_access'],
        loginRedirectUrl: '/welcome',
        loginRedirectUrlFailure: '/failed',
        ...extra,
      },
    });
    rps.push(rp);
    return rp;
  }

  it.each(['https://accounts.google.com', 'accounts.google.com'])('an ID token with iss %s signs in', async (iss) => {
    op.set({ authorizeIss: null, idTokenClaims: { iss } });
    const rp = await googleRp();
    const { agent, done } = await login(rp);
    expect(done.headers.location, JSON.stringify(rp.logs)).toBe('/welcome');
    expect((await me(agent)).status).toBe(200);
  });

  it.each(['http://accounts.google.com', 'https://accounts.google.com/', 'accounts.google.com.evil.example'])(
    'an ID token with iss %s is refused',
    async (iss) => {
      op.set({ authorizeIss: null, idTokenClaims: { iss } });
      const rp = await googleRp();
      expect((await login(rp)).done.headers.location).toBe('/failed');
      expect(lastWarning(rp)?.code).toBe('OIDC_ID_TOKEN_INVALID');
    },
  );

  it("the authorization request asks for offline access Google's way, not with the offline_access scope", async () => {
    op.set({ authorizeIss: null, idTokenClaims: { iss: 'https://accounts.google.com' } });
    const rp = await googleRp();
    await login(rp);
    const params = op.lastAuthorizeParams() as Record<string, string>;
    expect(params.scope).toBe('openid email');
    expect(params.access_type).toBe('offline');
    expect(params.prompt).toBe('consent');
    // A prompt the app chose is kept.
    const chosen = await googleRp({ authRequestExtraParams: { prompt: 'select_account consent' } });
    await login(chosen);
    expect(op.lastAuthorizeParams()?.prompt).toBe('select_account consent');
  });

  it('another issuer keeps its offline_access scope and no Google parameters', async () => {
    const rp = await startRpApp({ oidc: { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, scopes: ['openid', 'offline_access'] } });
    rps.push(rp);
    const start = await startLogin(request.agent(rp.url));
    const params = new URL(start.headers.location as string).searchParams;
    expect(params.get('scope')).toBe('openid offline_access');
    expect(params.get('access_type')).toBeNull();
  });
});
