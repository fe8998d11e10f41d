/**
 * Discovery against the fake OP over real HTTP: the document behind Django's APPEND_SLASH 301
 * (django-oauth-toolkit), redirects that are refused (another origin, a loop, no Location), an
 * explicit discoveryUrl, and explicit endpoints that leave discovery out entirely, for providers
 * that have no discovery document (it answers 404 here).
 */
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { startFakeOp, type FakeOp, type FakeOpBehaviour } from '../support/fake-op.js';
import { startRpApp, type RpApp } from '../support/rp-app.js';
import type { OidcAuthOptions } from '../../src/types.js';
import { loginThrough, type Agent } from '../support/login.js';

const WELCOME = '/welcome';
const FAILED = '/login-failed';
const WELL_KNOWN = '/.well-known/openid-configuration';

const started: Array<RpApp | FakeOp> = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function newOp(behaviour: FakeOpBehaviour = {}): Promise<FakeOp> {
  const op = await startFakeOp({ behaviour });
  started.push(op);
  return op;
}

async function newRp(op: FakeOp, extra: OidcAuthOptions = {}): Promise<RpApp> {
  const rp = await startRpApp({
    oidc: { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, loginRedirectUrl: WELCOME, loginRedirectUrlFailure: FAILED, ...extra },
  });
  started.push(rp);
  return rp;
}

/** Explicit endpoints and JWKS of the fake OP, mozilla-django-oidc style. */
function explicitEndpoints(op: FakeOp): OidcAuthOptions {
  return {
    authorizationEndpoint: `${op.issuer}/authorize`,
    tokenEndpoint: `${op.issuer}/token`,
    userinfoEndpoint: `${op.issuer}/userinfo`,
    jwksUri: `${op.issuer}/jwks`,
  };
}

/** A login in a fresh browser: the RP's login route, one hop at the provider, the callback. */
async function login(rp: RpApp): Promise<{ agent: Agent; callback: request.Response }> {
  const agent = request.agent(rp.url);
  return { agent, callback: await loginThrough(agent) };
}

async function loginOk(rp: RpApp): Promise<void> {
  const { agent, callback } = await login(rp);
  expect(callback.headers.location, JSON.stringify(rp.logs)).toBe(WELCOME);
  const me = await agent.get('/me').set('accept', 'application/json');
  expect(me.status).toBe(200);
  expect(me.body.claims).toMatchObject({ sub: 'user-1', email: 'user1@example.com' });
}

/** A login that cannot start because discovery failed: the error the RP answered with. */
async function loginRefused(rp: RpApp): Promise<{ error: string; message: string }> {
  const res = await request(rp.url).get('/oidc/authenticate');
  expect(res.status, res.text).toBe(503);
  expect(rp.logs.some((l) => l.level === 'warn' && l.message === 'login cannot start: provider metadata unavailable')).toBe(true);
  return res.body as { error: string; message: string };
}

describe('discovery behind redirects', () => {
  it('django-oauth-toolkit: the well-known URL answers 301 to the trailing-slash URL; login succeeds', async () => {
    const op = await newOp({ discoveryRedirect: 'append-slash' });
    const rp = await newRp(op);
    await loginOk(rp);
    await loginOk(rp); // the document is cached: no second round of redirects
    expect(op.count(WELL_KNOWN)).toBe(1);
    expect(op.count(`${WELL_KNOWN}/`)).toBe(1);
  });

  it('a redirect to another origin is refused, naming the URL and the rule; the other origin is never contacted', async () => {
    const other = await newOp();
    const op = await newOp();
    // The other origin would even serve a document claiming this issuer: only the origin rule stops it.
    other.set({ discoveryIssuer: op.issuer });
    op.set({ discoveryRedirect: { status: 302, location: `${other.issuer}${WELL_KNOWN}` } });
    const rp = await newRp(op);
    const body = await loginRefused(rp);
    expect(body.error).toBe('OIDC_DISCOVERY_FAILED');
    expect(body.message).toContain(`${op.issuer}${WELL_KNOWN} answered HTTP 302`);
    expect(body.message).toContain(`only redirects on the origin ${op.issuer} are followed`);
    expect(other.requests).toHaveLength(0);
  });

  it('a redirect loop stops at the 4th redirect', async () => {
    const op = await newOp({ discoveryRedirect: { status: 308, location: WELL_KNOWN } });
    const rp = await newRp(op);
    const body = await loginRefused(rp);
    expect(body.error).toBe('OIDC_DISCOVERY_FAILED');
    expect(body.message).toContain('at most 3 redirects');
    expect(op.count(WELL_KNOWN)).toBe(4);
  });

  it('a redirect without Location is refused saying so', async () => {
    const op = await newOp({ discoveryRedirect: { status: 301 } });
    const rp = await newRp(op);
    const body = await loginRefused(rp);
    expect(body.error).toBe('OIDC_DISCOVERY_FAILED');
    expect(body.message).toContain(`${op.issuer}${WELL_KNOWN} answered HTTP 301, a redirect without a Location header`);
  });
});

describe('discoveryUrl (OIDC_OP_DISCOVERY_ENDPOINT)', () => {
  it('the document at another path, behind a 301 too: login succeeds, the well-known URL is never asked', async () => {
    const op = await newOp({ discoveryPath: '/o/openid-configuration', discoveryRedirect: 'append-slash' });
    const rp = await newRp(op, { discoveryUrl: `${op.issuer}/o/openid-configuration` });
    await loginOk(rp);
    expect(op.count('/o/openid-configuration')).toBe(1);
    expect(op.count('/o/openid-configuration/')).toBe(1);
    expect(op.count(WELL_KNOWN)).toBe(0);
  });

  it('is fetched even when every endpoint is configured, and its issuer must equal the configured one (OIDC Discovery 4.3)', async () => {
    const op = await newOp({ discoveryPath: '/o/openid-configuration', discoveryIssuer: 'http://127.0.0.1:1/o' });
    const rp = await newRp(op, { ...explicitEndpoints(op), discoveryUrl: `${op.issuer}/o/openid-configuration` });
    const res = await request(rp.url).get('/oidc/authenticate');
    expect(res.body.error).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
    expect(op.count('/o/openid-configuration')).toBe(1);
  });
});

describe('explicit endpoints with an issuer: no discovery at all', () => {
  it('the provider has no discovery document (404): login succeeds without asking for it; one info log says why', async () => {
    const op = await newOp({ discoveryStatus: 404 });
    const rp = await newRp(op, explicitEndpoints(op));
    await loginOk(rp);
    await loginOk(rp);
    expect(op.count(WELL_KNOWN)).toBe(0);
    expect(op.count('/jwks')).toBe(1);
    const notUsed = rp.logs.filter((l) => l.message === 'discovery is not used');
    expect(notUsed).toEqual([
      { level: 'info', message: 'discovery is not used', meta: { reason: expect.stringContaining('configured explicitly') as unknown } },
    ]);

    // Discovery only fills what is missing: without a key source it is still asked for (and 404 fails).
    const noKeys = await newRp(op, { ...explicitEndpoints(op), jwksUri: undefined });
    expect((await loginRefused(noKeys)).error).toBe('OIDC_DISCOVERY_FAILED');
    expect(op.count(WELL_KNOWN)).toBe(1);
  });

  it('the configured issuer still checks the ID token iss', async () => {
    const op = await newOp({ discoveryStatus: 404, idTokenClaims: { iss: 'http://127.0.0.1:1' } });
    const rp = await newRp(op, explicitEndpoints(op));
    const { callback } = await login(rp);
    expect(callback.headers.location).toBe(FAILED);
    expect(rp.logs.find((l) => l.message === 'login failed')?.meta?.code).toBe('OIDC_ID_TOKEN_INVALID');
    expect(op.count(WELL_KNOWN)).toBe(0);
  });

  it('a pinned HS256 is a key source too: no JWKS, no discovery', async () => {
    const op = await newOp({ discoveryStatus: 404, idTokenAlg: 'HS256' });
    const rp = await newRp(op, { ...explicitEndpoints(op), jwksUri: undefined, signAlgo: 'HS256' });
    await loginOk(rp);
    expect(op.count(WELL_KNOWN)).toBe(0);
    expect(op.count('/jwks')).toBe(0);
  });
});
