/**
 * Self-test for test/support/fake-op.ts: proves the fake OP behaves as documented,
 * using nothing but fetch and jose, so failures in RP integration tests can be
 * blamed on the RP rather than on the fake.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { startFakeOp } from './support/fake-op.js';
import type { FakeOp } from './support/fake-op.js';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
  token_type?: string;
  scope?: string;
  error?: string;
  [k: string]: unknown;
}

function basic(id: string, secret: string): string {
  // RFC 6749 2.3.1: form-urlencode each part before base64.
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Hit /authorize and return the parsed redirect Location. */
async function authorize(op: FakeOp, params: Record<string, string> = {}): Promise<URL> {
  const url = new URL(`${op.issuer}/authorize`);
  const all = { client_id: op.clientId, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid email', state: 'st-1', nonce: 'n-1', ...params };
  for (const [k, v] of Object.entries(all)) url.searchParams.set(k, v);
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location') ?? '');
}

async function tokenRequest(
  op: FakeOp,
  form: Record<string, string>,
  auth: 'basic' | 'post' | 'none' = 'basic',
  init: RequestInit = {},
): Promise<{ status: number; body: TokenResponse; text: string; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const params = new URLSearchParams(form);
  if (auth === 'basic') headers.authorization = basic(op.clientId, op.clientSecret);
  if (auth === 'post') {
    params.set('client_id', op.clientId);
    params.set('client_secret', op.clientSecret);
  }
  const res = await fetch(`${op.issuer}/token`, { method: 'POST', headers, body: params, ...init });
  const text = await res.text();
  let body: TokenResponse = {};
  try {
    body = JSON.parse(text) as TokenResponse;
  } catch {
    /* raw body tests */
  }
  return { status: res.status, body, text, headers: res.headers };
}

/** Full authorization-code + PKCE login; returns the token response. */
async function login(op: FakeOp, auth: 'basic' | 'post' = 'basic'): Promise<TokenResponse> {
  const { verifier, challenge } = pkce();
  const loc = await authorize(op, { code_challenge: challenge, code_challenge_method: 'S256' });
  const code = loc.searchParams.get('code') ?? '';
  const r = await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, auth);
  expect(r.status).toBe(200);
  return r.body;
}

async function refresh(op: FakeOp, rt: string): Promise<{ status: number; body: TokenResponse }> {
  return tokenRequest(op, { grant_type: 'refresh_token', refresh_token: rt });
}

async function jwks(op: FakeOp): Promise<JSONWebKeySet> {
  return (await (await fetch(`${op.issuer}/jwks`)).json()) as JSONWebKeySet;
}

async function userinfo(op: FakeOp, at: string): Promise<Response> {
  return fetch(`${op.issuer}/userinfo`, { headers: { authorization: `Bearer ${at}` } });
}

async function formPost(op: FakeOp, path: string, form: Record<string, string>, authed = true): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (authed) headers.authorization = basic(op.clientId, op.clientSecret);
  return fetch(`${op.issuer}${path}`, { method: 'POST', headers, body: new URLSearchParams(form) });
}

describe('fake OP', () => {
  let op: FakeOp;
  beforeEach(async () => {
    op = await startFakeOp();
  });
  afterEach(async () => {
    await op.close();
  });

  describe('discovery and JWKS', () => {
    it('serves a complete discovery document on 127.0.0.1', async () => {
      expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const doc = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(doc).toMatchObject({
        issuer: op.issuer,
        authorization_endpoint: `${op.issuer}/authorize`,
        token_endpoint: `${op.issuer}/token`,
        userinfo_endpoint: `${op.issuer}/userinfo`,
        jwks_uri: `${op.issuer}/jwks`,
        revocation_endpoint: `${op.issuer}/revoke`,
        end_session_endpoint: `${op.issuer}/end-session`,
        introspection_endpoint: `${op.issuer}/introspect`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
      });
      expect(doc.scopes_supported).toContain('openid');
      expect(doc.grant_types_supported).toEqual(['authorization_code', 'refresh_token']);
    });

    it('honours discoveryIssuer, discoveryExtra (undefined removes) and discoveryStatus', async () => {
      op.set({ discoveryIssuer: 'https://evil.example', discoveryExtra: { revocation_endpoint: undefined, foo: 'bar' } });
      const doc = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(doc.issuer).toBe('https://evil.example');
      expect(doc).not.toHaveProperty('revocation_endpoint');
      expect(doc.foo).toBe('bar');
      op.set({ discoveryStatus: 500 });
      expect((await fetch(`${op.issuer}/.well-known/openid-configuration`)).status).toBe(500);
    });

    it('publishes one RS256 key with kid, alg and use', async () => {
      const set = await jwks(op);
      expect(set.keys).toHaveLength(1);
      expect(set.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
      expect(typeof set.keys[0]?.kid).toBe('string');
      expect(set.keys[0]).not.toHaveProperty('d'); // public only
    });

    it('answers 404 on unknown paths', async () => {
      expect((await fetch(`${op.issuer}/nope`)).status).toBe(404);
    });
  });

  describe('authorization endpoint', () => {
    it('redirects with code, echoed state and iss; records params', async () => {
      const loc = await authorize(op, { extra: 'x' });
      expect(`${loc.origin}${loc.pathname}`).toBe(REDIRECT_URI);
      expect(loc.searchParams.get('code')).toBeTruthy();
      expect(loc.searchParams.get('state')).toBe('st-1');
      expect(loc.searchParams.get('iss')).toBe(op.issuer);
      expect(op.lastAuthorizeParams()).toMatchObject({ client_id: op.clientId, nonce: 'n-1', extra: 'x' });
    });

    it('honours authorizeIss (override / null), authorizeState and authorizeError', async () => {
      op.set({ authorizeIss: null, authorizeState: 'other' });
      let loc = await authorize(op);
      expect(loc.searchParams.has('iss')).toBe(false);
      expect(loc.searchParams.get('state')).toBe('other');

      op.reset();
      op.set({ authorizeIss: 'https://mixup.example', authorizeError: { error: 'access_denied', error_description: 'nope' } });
      loc = await authorize(op);
      expect(loc.searchParams.get('error')).toBe('access_denied');
      expect(loc.searchParams.get('error_description')).toBe('nope');
      expect(loc.searchParams.get('state')).toBe('st-1');
      expect(loc.searchParams.get('iss')).toBe('https://mixup.example');
      expect(loc.searchParams.has('code')).toBe(false);
    });

    it('refuses a wrong client_id or missing redirect_uri without redirecting', async () => {
      const bad = await fetch(`${op.issuer}/authorize?client_id=other&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`, {
        redirect: 'manual',
      });
      expect(bad.status).toBe(400);
      const noRedirect = await fetch(`${op.issuer}/authorize?client_id=${op.clientId}&response_type=code`, { redirect: 'manual' });
      expect(noRedirect.status).toBe(400);
    });
  });

  describe('token endpoint: authorization_code', () => {
    it('issues tokens with a verifiable RS256 ID token carrying nonce, sid and default claims', async () => {
      const t = await login(op);
      expect(t).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'openid email' });
      expect(t.access_token).toBeTruthy();
      expect(t.refresh_token).toBeTruthy();
      const { payload, protectedHeader } = await jwtVerify(t.id_token ?? '', createLocalJWKSet(await jwks(op)), {
        issuer: op.issuer,
        audience: op.clientId,
        algorithms: ['RS256'],
      });
      expect(protectedHeader.kid).toBe((await jwks(op)).keys[0]?.kid);
      expect(payload).toMatchObject({ sub: 'user-1', nonce: 'n-1', email: 'user1@example.com', email_verified: true, name: 'User One' });
      expect(typeof payload.sid).toBe('string');
      expect(typeof payload.auth_time).toBe('number');
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
      expect(op.grants('authorization_code')).toBe(1);
      expect(op.count('/token')).toBe(1);
    });

    it('accepts client_secret_post', async () => {
      const t = await login(op, 'post');
      expect(t.access_token).toBeTruthy();
    });

    it('decodes form-urlencoded Basic credentials (RFC 6749 2.3.1)', async () => {
      const weird = await startFakeOp({ clientId: 'my client:1', clientSecret: 'p@ss+word:with/odd chars%' });
      try {
        const t = await login(weird);
        expect(t.access_token).toBeTruthy();
        // Un-encoded Basic (the classic bug) must fail for such credentials.
        const loc = await authorize(weird);
        const res = await fetch(`${weird.issuer}/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${weird.clientId}:${weird.clientSecret}`).toString('base64')}`,
          },
          body: new URLSearchParams({ grant_type: 'authorization_code', code: loc.searchParams.get('code') ?? '', redirect_uri: REDIRECT_URI }),
        });
        expect(res.status).toBe(401);
      } finally {
        await weird.close();
      }
    });

    it('rejects wrong or missing client credentials with 401 invalid_client', async () => {
      const loc = await authorize(op);
      const code = loc.searchParams.get('code') ?? '';
      const r1 = await fetch(`${op.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(op.clientId, 'wrong') },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }),
      });
      expect(r1.status).toBe(401);
      expect(await r1.json()).toMatchObject({ error: 'invalid_client' });
      const r2 = await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, 'none');
      expect(r2.status).toBe(401);
    });

    it('codes are single use and bound to redirect_uri', async () => {
      let loc = await authorize(op);
      let code = loc.searchParams.get('code') ?? '';
      expect((await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI })).status).toBe(200);
      const again = await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      expect(again.status).toBe(400);
      expect(again.body.error).toBe('invalid_grant');

      loc = await authorize(op);
      code = loc.searchParams.get('code') ?? '';
      const mismatch = await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:9/other' });
      expect(mismatch.body.error).toBe('invalid_grant');
    });

    it('enforces PKCE S256', async () => {
      const { challenge } = pkce();
      const loc = await authorize(op, { code_challenge: challenge, code_challenge_method: 'S256' });
      const code = loc.searchParams.get('code') ?? '';
      const r = await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: pkce().verifier });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');

      const loc2 = await authorize(op, { code_challenge: challenge, code_challenge_method: 'S256' });
      const r2 = await tokenRequest(op, { grant_type: 'authorization_code', code: loc2.searchParams.get('code') ?? '', redirect_uri: REDIRECT_URI });
      expect(r2.body.error).toBe('invalid_grant'); // verifier missing
    });

    it('requires a form-encoded body', async () => {
      const loc = await authorize(op);
      const res = await fetch(`${op.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basic(op.clientId, op.clientSecret) },
        body: JSON.stringify({ grant_type: 'authorization_code', code: loc.searchParams.get('code'), redirect_uri: REDIRECT_URI }),
      });
      expect(res.status).toBe(400);
    });
  });

  describe('token endpoint: refresh_token', () => {
    it('rotates refresh tokens and re-issues an ID token with the same sub/sid and no nonce', async () => {
      const t1 = await login(op);
      const r = await refresh(op, t1.refresh_token ?? '');
      expect(r.status).toBe(200);
      expect(r.body.refresh_token).toBeTruthy();
      expect(r.body.refresh_token).not.toBe(t1.refresh_token);
      expect(r.body.access_token).not.toBe(t1.access_token);
      const c1 = decodeJwt(t1.id_token ?? '');
      const c2 = decodeJwt(r.body.id_token ?? '');
      expect(c2.sub).toBe(c1.sub);
      expect(c2.sid).toBe(c1.sid);
      expect(c2.auth_time).toBe(c1.auth_time);
      expect(c2).not.toHaveProperty('nonce');
      expect(op.grants('refresh_token')).toBe(1);
    });

    it('reuse of a rotated refresh token revokes the whole family', async () => {
      const t1 = await login(op);
      const r2 = await refresh(op, t1.refresh_token ?? '');
      const reuse = await refresh(op, t1.refresh_token ?? '');
      expect(reuse.status).toBe(400);
      expect(reuse.body.error).toBe('invalid_grant');
      // The newest token of the family is dead too, and so are its access tokens.
      expect((await refresh(op, r2.body.refresh_token ?? '')).body.error).toBe('invalid_grant');
      expect((await userinfo(op, r2.body.access_token ?? '')).status).toBe(401);
      // Another login is unaffected.
      const other = await login(op);
      expect((await refresh(op, other.refresh_token ?? '')).status).toBe(200);
    });

    it('refreshReuseRevokesFamily=false rejects only the stale token', async () => {
      op.set({ refreshReuseRevokesFamily: false });
      const t1 = await login(op);
      const r2 = await refresh(op, t1.refresh_token ?? '');
      expect((await refresh(op, t1.refresh_token ?? '')).body.error).toBe('invalid_grant');
      expect((await refresh(op, r2.body.refresh_token ?? '')).status).toBe(200);
    });

    it('refreshTokenRotation=false keeps the same refresh token valid and omits refresh_token', async () => {
      op.set({ refreshTokenRotation: false });
      const t1 = await login(op);
      const r2 = await refresh(op, t1.refresh_token ?? '');
      expect(r2.status).toBe(200);
      expect(r2.body).not.toHaveProperty('refresh_token');
      expect((await refresh(op, t1.refresh_token ?? '')).status).toBe(200);
    });

    it('issueRefreshToken=false and omitIdToken shape the response', async () => {
      op.set({ issueRefreshToken: false, omitIdToken: true });
      const t = await login(op);
      expect(t).not.toHaveProperty('refresh_token');
      expect(t).not.toHaveProperty('id_token');
    });
  });

  describe('token endpoint knobs', () => {
    it('tokenStatus + tokenErrorBody, default invalid_grant, without consuming the code', async () => {
      const loc = await authorize(op);
      const code = loc.searchParams.get('code') ?? '';
      op.set({ tokenStatus: 503, tokenErrorBody: { error: 'temporarily_unavailable' } });
      const r = await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ error: 'temporarily_unavailable' });
      op.set({ tokenStatus: 400, tokenErrorBody: undefined });
      expect((await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI })).body).toEqual({ error: 'invalid_grant' });
      op.reset();
      expect((await tokenRequest(op, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI })).status).toBe(200);
    });

    it('tokenBodyOverride merges and deletes keys; accessTokenTtl sets expires_in', async () => {
      op.set({ tokenBodyOverride: { token_type: 'mac', scope: undefined }, accessTokenTtl: 42 });
      const t = await login(op);
      expect(t.token_type).toBe('mac');
      expect(t).not.toHaveProperty('scope');
      expect(t.expires_in).toBe(42);
    });

    it('tokenRawBody sends the raw body as application/json', async () => {
      op.set({ tokenRawBody: '{"access_token": "x", ' });
      const loc = await authorize(op);
      const r = await tokenRequest(op, { grant_type: 'authorization_code', code: loc.searchParams.get('code') ?? '', redirect_uri: REDIRECT_URI });
      expect(r.status).toBe(200);
      expect(r.text).toBe('{"access_token": "x", ');
      expect(r.headers.get('content-type')).toBe('application/json');
    });

    it('tokenResponseBytes pads to exactly that many bytes', async () => {
      op.set({ tokenResponseBytes: 100_000 });
      const loc = await authorize(op);
      const r = await tokenRequest(op, { grant_type: 'authorization_code', code: loc.searchParams.get('code') ?? '', redirect_uri: REDIRECT_URI });
      expect(Buffer.byteLength(r.text)).toBe(100_000);
      expect(r.headers.get('content-length')).toBe('100000');
      expect(r.body.access_token).toBeTruthy();
    });

    it('tokenDelayMs delays the answer (client-side timeout fires first)', async () => {
      op.set({ tokenDelayMs: 400 });
      const loc = await authorize(op);
      const started = Date.now();
      await expect(
        tokenRequest(op, { grant_type: 'authorization_code', code: loc.searchParams.get('code') ?? '', redirect_uri: REDIRECT_URI }, 'basic', {
          signal: AbortSignal.timeout(100),
        }),
      ).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(400);
      expect(op.count('/token')).toBe(1); // logged on arrival, before the delay
    });
  });

  describe('per-request token faults and the grant log', () => {
    it('tokenGrants records each token request: grant, family, outcome, what was issued, delivery', async () => {
      const t1 = await login(op);
      const r2 = await refresh(op, t1.refresh_token ?? '');
      await refresh(op, t1.refresh_token ?? ''); // reuse: revokes the family
      await refresh(op, r2.body.refresh_token ?? ''); // the family's newest, now revoked
      await refresh(op, 'never-issued');
      const [code, rotated, reuse, revoked, unknown] = op.tokenGrants;
      expect(op.tokenGrants).toHaveLength(5);
      expect(code).toMatchObject({
        grantType: 'authorization_code',
        outcome: 'issued',
        issued: { accessToken: t1.access_token, refreshToken: t1.refresh_token },
      });
      expect(typeof code?.familyId).toBe('string');
      expect(rotated).toMatchObject({ grantType: 'refresh_token', refreshToken: t1.refresh_token, familyId: code?.familyId, outcome: 'issued' });
      expect(rotated?.issued).toEqual({
        accessToken: r2.body.access_token,
        refreshToken: r2.body.refresh_token,
        accessTokenExpiresAt: expect.any(Number),
      });
      expect(reuse).toMatchObject({ refreshToken: t1.refresh_token, familyId: code?.familyId, outcome: 'reuse' });
      expect(revoked).toMatchObject({ refreshToken: r2.body.refresh_token, outcome: 'revoked' });
      expect(unknown).toMatchObject({ refreshToken: 'never-issued', outcome: 'invalid' });
      for (const g of op.tokenGrants) {
        expect(g.decidedAt).toBeGreaterThanOrEqual(g.receivedAt);
        expect(g.answeredAt).toBeGreaterThanOrEqual(g.decidedAt ?? Number.POSITIVE_INFINITY);
        expect(g.connectionLostAt).toBeUndefined();
      }
    });

    it('tokenFault answers a status to the requests it picks, without processing them', async () => {
      const t1 = await login(op);
      let n = 0;
      op.set({ tokenFault: () => (n++ % 2 === 0 ? { status: 500 } : undefined) });
      const failed = await refresh(op, t1.refresh_token ?? '');
      expect(failed.status).toBe(500);
      expect(failed.body).toEqual({ error: 'server_error' });
      // The same refresh token again: it was not rotated by the failed request.
      const ok = await refresh(op, t1.refresh_token ?? '');
      expect(ok.status).toBe(200);
      expect(op.tokenGrants.slice(1).map((g) => g.outcome)).toEqual(['fault', 'issued']);
      op.reset();
      expect(op.behaviour.tokenFault).toBeUndefined();
    });

    it("a stalled request whose client gave up is processed (answer lost) or, with whenAbandoned 'drop', not processed", async () => {
      const t1 = await login(op);
      op.set({ tokenFault: () => ({ delayMs: 300 }) });
      await expect(
        tokenRequest(op, { grant_type: 'refresh_token', refresh_token: t1.refresh_token ?? '' }, 'basic', { signal: AbortSignal.timeout(100) }),
      ).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 400));
      const processed = op.tokenGrants[1];
      expect(processed).toMatchObject({ outcome: 'issued', refreshToken: t1.refresh_token });
      expect(processed?.connectionLostAt).toBeGreaterThanOrEqual(processed?.receivedAt ?? Number.POSITIVE_INFINITY);
      // Rotated after the client had gone: its answer was never delivered.
      expect(processed?.decidedAt).toBeGreaterThan(processed?.connectionLostAt ?? Number.POSITIVE_INFINITY);
      expect(processed?.answeredAt).toBeUndefined();
      // The client never saw the rotated token: presenting the old one again is a reuse.
      op.reset();
      expect((await refresh(op, t1.refresh_token ?? '')).body.error).toBe('invalid_grant');
      expect(op.tokenGrants[2]?.outcome).toBe('reuse');

      const t2 = await login(op);
      op.set({ tokenFault: () => ({ delayMs: 300, whenAbandoned: 'drop' }) });
      await expect(
        tokenRequest(op, { grant_type: 'refresh_token', refresh_token: t2.refresh_token ?? '' }, 'basic', { signal: AbortSignal.timeout(100) }),
      ).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 400));
      expect(op.tokenGrants[4]).toMatchObject({ outcome: 'dropped', refreshToken: t2.refresh_token });
      expect(op.tokenGrants[4]?.issued).toBeUndefined();
      // A client that waits gets its answer, stall or not.
      const waited = await refresh(op, t2.refresh_token ?? '');
      expect(waited.status).toBe(200);
      expect(op.tokenGrants[5]).toMatchObject({ outcome: 'issued' });
      expect(op.tokenGrants[5]?.connectionLostAt).toBeUndefined();
    });

    it('restart() refuses connections while down, then serves on the same port with its state kept', async () => {
      const t1 = await login(op);
      const issuer = op.issuer;
      const restarted = op.restart(300);
      await new Promise((r) => setTimeout(r, 100));
      await expect(fetch(`${issuer}/jwks`)).rejects.toThrow();
      await restarted;
      expect(op.issuer).toBe(issuer);
      const r = await refresh(op, t1.refresh_token ?? '');
      expect(r.status).toBe(200);
      expect((await userinfo(op, r.body.access_token ?? '')).status).toBe(200);
    });

    it('restart() abandons stalled requests unprocessed', async () => {
      const t1 = await login(op);
      op.set({ tokenFault: () => ({ delayMs: 500 }) });
      const pending = refresh(op, t1.refresh_token ?? '').catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 100));
      await op.restart();
      expect(await pending).toBeInstanceOf(Error);
      await new Promise((r) => setTimeout(r, 600));
      expect(op.tokenGrants[1]).toMatchObject({ outcome: 'pending' });
      expect(op.tokenGrants[1]?.decidedAt).toBeUndefined();
      expect(op.tokenGrants[1]?.connectionLostAt).toBeDefined();
      op.reset();
      expect((await refresh(op, t1.refresh_token ?? '')).status).toBe(200);
    });
  });

  describe('ID token shaping', () => {
    it.each(['PS256', 'ES256', 'EdDSA'] as const)('signs with %s and publishes that key', async (alg) => {
      op.set({ idTokenAlg: alg });
      const t = await login(op);
      const set = await jwks(op);
      expect(set.keys.map((k) => k.alg)).toEqual(expect.arrayContaining(['RS256', alg]));
      const { protectedHeader } = await jwtVerify(t.id_token ?? '', createLocalJWKSet(set), { algorithms: [alg] });
      expect(protectedHeader.kid).toBe(set.keys.find((k) => k.alg === alg)?.kid);
    });

    it('HS256 is MACed with the client secret; none is unsecured', async () => {
      op.set({ idTokenAlg: 'HS256' });
      const t = await login(op);
      await expect(jwtVerify(t.id_token ?? '', new TextEncoder().encode(op.clientSecret), { algorithms: ['HS256'] })).resolves.toBeTruthy();

      op.set({ idTokenAlg: 'none' });
      const t2 = await login(op);
      const parts = (t2.id_token ?? '').split('.');
      expect(parts).toHaveLength(3);
      expect(parts[2]).toBe('');
      expect(decodeProtectedHeader(t2.id_token ?? '').alg).toBe('none');
    });

    it('idTokenSignWithForeignKey reuses the real kid but fails verification', async () => {
      op.set({ idTokenSignWithForeignKey: true });
      const t = await login(op);
      const set = await jwks(op);
      expect(decodeProtectedHeader(t.id_token ?? '').kid).toBe(set.keys[0]?.kid);
      await expect(jwtVerify(t.id_token ?? '', createLocalJWKSet(set))).rejects.toThrow(/signature/i);
    });

    it('idTokenClaims merge/delete and idTokenHeader merge', async () => {
      op.set({ idTokenClaims: { aud: 'someone-else', nonce: undefined, extra: 1 }, idTokenHeader: { kid: 'unknown', x: 'y' } });
      const t = await login(op);
      const claims = decodeJwt(t.id_token ?? '');
      expect(claims.aud).toBe('someone-else');
      expect(claims).not.toHaveProperty('nonce');
      expect(claims.extra).toBe(1);
      expect(decodeProtectedHeader(t.id_token ?? '')).toMatchObject({ alg: 'RS256', kid: 'unknown', x: 'y' });
    });

    it('rotateKeys publishes only a new key that later ID tokens use', async () => {
      const before = await jwks(op);
      const t1 = await login(op);
      await op.rotateKeys();
      const after = await jwks(op);
      expect(after.keys).toHaveLength(1);
      expect(after.keys[0]?.kid).not.toBe(before.keys[0]?.kid);
      await expect(jwtVerify(t1.id_token ?? '', createLocalJWKSet(after))).rejects.toThrow();
      const t2 = await login(op);
      await expect(jwtVerify(t2.id_token ?? '', createLocalJWKSet(after))).resolves.toBeTruthy();
    });

    it('signIdToken and makeLogoutToken produce verifiable JWTs', async () => {
      const keys = createLocalJWKSet(await jwks(op));
      const idt = await op.signIdToken({ iss: op.issuer, sub: 'x', aud: op.clientId }, { typ: 'at+jwt' });
      const v = await jwtVerify(idt, keys, { issuer: op.issuer, audience: op.clientId });
      expect(v.protectedHeader.typ).toBe('at+jwt');

      const lt = await op.makeLogoutToken({ sid: 'sid-1' });
      const l = await jwtVerify(lt, keys, { issuer: op.issuer, audience: op.clientId, typ: 'logout+jwt' });
      expect(l.payload).toMatchObject({ sid: 'sid-1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
      expect(typeof l.payload.jti).toBe('string');
      expect(typeof l.payload.iat).toBe('number');
      const lt2 = await op.makeLogoutToken({ sub: 'user-1', jti: undefined });
      expect(decodeJwt(lt2)).not.toHaveProperty('jti');
    });
  });

  describe('userinfo, revocation, introspection, end session', () => {
    it('userinfo requires a live issued access token and honours the knobs', async () => {
      const t = await login(op);
      const ok = await userinfo(op, t.access_token ?? '');
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ sub: 'user-1', email: 'user1@example.com', email_verified: true, name: 'User One' });
      expect((await userinfo(op, 'forged')).status).toBe(401);
      expect((await fetch(`${op.issuer}/userinfo`)).status).toBe(401);
      const post = await fetch(`${op.issuer}/userinfo`, { method: 'POST', headers: { authorization: `Bearer ${t.access_token}` } });
      expect(post.status).toBe(200);

      op.set({ userinfoClaims: { sub: 'someone-else', name: undefined } });
      expect(await (await userinfo(op, t.access_token ?? '')).json()).toEqual({ sub: 'someone-else', email: 'user1@example.com', email_verified: true });
      op.set({ userinfoStatus: 500 });
      expect((await userinfo(op, t.access_token ?? '')).status).toBe(500);
    });

    it('expired access tokens are rejected by userinfo', async () => {
      op.set({ accessTokenTtl: 0 });
      const t = await login(op);
      expect((await userinfo(op, t.access_token ?? '')).status).toBe(401);
    });

    it('revocation records tokens and invalidates them', async () => {
      const t = await login(op);
      const r1 = await formPost(op, '/revoke', { token: t.access_token ?? '', token_type_hint: 'access_token' });
      expect(r1.status).toBe(200);
      expect(await r1.text()).toBe('');
      expect((await userinfo(op, t.access_token ?? '')).status).toBe(401);
      await formPost(op, '/revoke', { token: t.refresh_token ?? '' });
      expect((await refresh(op, t.refresh_token ?? '')).body.error).toBe('invalid_grant');
      expect(op.revokedTokens).toEqual([t.access_token, t.refresh_token]);
    });

    it('revocationStatus / revocationDelayMs', async () => {
      const t = await login(op);
      op.set({ revocationStatus: 503, revocationDelayMs: 50 });
      const started = Date.now();
      const r = await formPost(op, '/revoke', { token: t.refresh_token ?? '' });
      expect(r.status).toBe(503);
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      expect(op.revokedTokens).toEqual([t.refresh_token]); // recorded even though it "failed"
      expect((await refresh(op, t.refresh_token ?? '')).status).toBe(200); // ...and not actually revoked
    });

    it('introspection requires client auth and reports live access tokens', async () => {
      const t = await login(op);
      expect((await formPost(op, '/introspect', { token: t.access_token ?? '' }, false)).status).toBe(401);
      const live = (await (await formPost(op, '/introspect', { token: t.access_token ?? '' })).json()) as Record<string, unknown>;
      expect(live).toMatchObject({ active: true, sub: 'user-1', client_id: op.clientId, scope: 'openid email', token_type: 'Bearer', iss: op.issuer });
      expect(typeof live.exp).toBe('number');
      expect(await (await formPost(op, '/introspect', { token: 'nope' })).json()).toEqual({ active: false });
    });

    it('end-session answers 200 or redirects with state', async () => {
      const plain = await fetch(`${op.issuer}/end-session?id_token_hint=abc`, { redirect: 'manual' });
      expect(plain.status).toBe(200);
      expect(await plain.text()).toBe('logged out');
      const back = 'http://127.0.0.1:9/bye?x=1';
      const r = await fetch(`${op.issuer}/end-session?post_logout_redirect_uri=${encodeURIComponent(back)}&state=s9`, { redirect: 'manual' });
      expect(r.status).toBe(302);
      const loc = new URL(r.headers.get('location') ?? '');
      expect(loc.searchParams.get('x')).toBe('1');
      expect(loc.searchParams.get('state')).toBe('s9');
      expect(op.requests.at(-1)?.query).toMatchObject({ post_logout_redirect_uri: back, state: 's9' });
    });
  });

  describe('bookkeeping', () => {
    it('logs requests with parsed query/body and supports set/reset', async () => {
      const initial = await startFakeOp({ behaviour: { accessTokenTtl: 7 } });
      try {
        initial.set({ accessTokenTtl: 9, omitIdToken: true });
        const ref = initial.behaviour;
        initial.reset();
        expect(ref).toBe(initial.behaviour); // reset mutates in place
        expect(initial.behaviour).toEqual({ accessTokenTtl: 7 });
        const t = await login(initial, 'post');
        expect(t.expires_in).toBe(7);
        const tokenLog = initial.requests.find((r) => r.path === '/token');
        expect(tokenLog).toMatchObject({ method: 'POST', body: { grant_type: 'authorization_code', client_id: initial.clientId } });
        expect(typeof tokenLog?.at).toBe('number');
        expect(initial.requests.map((r) => r.path)).toEqual(['/authorize', '/token']);
      } finally {
        await initial.close();
      }
    });

    it('close() does not hang on keep-alive connections and is idempotent', async () => {
      const other = await startFakeOp();
      await (await fetch(`${other.issuer}/jwks`)).text(); // leaves an idle keep-alive socket in undici's pool
      await other.close();
      await other.close();
      await expect(fetch(`${other.issuer}/jwks`)).rejects.toThrow();
    });
  });
});
