/**
 * bearerAuth() against the fake OP: JWT access tokens (RFC 9068) signed with the OP's published
 * key, opaque tokens checked by introspection (RFC 7662) or at the userinfo endpoint, the
 * RFC 6750 challenges (401 / 403 / 400), 503 when the provider cannot answer, and the validation
 * cache (memory LRU, expiry, Redis shared by two instances). No express-session anywhere: API
 * routes work without one.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import express from 'express';
import request from 'supertest';
import { createClient } from 'redis';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { closeServices, createServices, type Services } from '../../src/session/services.js';
import { resolveConfig } from '../../src/config.js';
import { bearerAuth, type BearerAuthOptions } from '../../src/middleware/bearer-auth.js';
import { requireAuth } from '../../src/middleware/require-auth.js';
import type { OidcAuthOptions } from '../../src/types.js';
import { captureLogger, type CapturedLog } from '../support/logger.js';
import { b64json, nowSeconds } from '../support/jwt.js';
import { challengeOf, parseChallenges } from '../support/challenges.js';
import { DPOP_ALGS } from '../../src/protocol/dpop-verification.js';

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

let op: FakeOp;
beforeAll(async () => {
  op = await startFakeOp();
});
afterAll(async () => {
  await op.close();
});

const runtimes: Services[] = [];
const extraOps: FakeOp[] = [];
afterEach(async () => {
  vi.useRealTimers();
  op.reset();
  await Promise.all(runtimes.splice(0).map((rt) => closeServices(rt)));
  await Promise.all(extraOps.splice(0).map((o) => o.close()));
});

const logs: CapturedLog[] = [];
const logger = captureLogger(logs);

function makeRt(options: OidcAuthOptions = {}, provider: FakeOp = op): Services {
  const rt = createServices(
    resolveConfig({
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      baseUrl: 'http://127.0.0.1:3999',
      env: {},
      logger,
      ...options,
    }),
  );
  runtimes.push(rt);
  return rt;
}

/** An API app: no session middleware, one protected route echoing req.user / req.oidc. */
function apiFor(rt: Services, opts?: BearerAuthOptions): express.Express {
  const app = express();
  app.get('/api', bearerAuth(rt, opts), (req, res) => {
    res.json({
      authenticated: req.oidc.isAuthenticated(),
      user: req.user ?? null,
      claims: req.oidc.claims ?? null,
      accessToken: req.oidc.accessToken ?? null,
      accessTokenExpiresAt: req.oidc.accessTokenExpiresAt ?? null,
      scopes: req.oidc.scopes,
    });
  });
  app.use((err: Error & { code?: string; statusCode?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.statusCode ?? 500).json({ error: err.code ?? 'error', message: err.message });
  });
  return app;
}

const get = (app: express.Express, token?: string, path = '/api') => {
  const r = request(app).get(path);
  return token === undefined ? r : r.set('authorization', `Bearer ${token}`);
};

function atClaims(overrides: Record<string, unknown> = {}, provider: FakeOp = op): Record<string, unknown> {
  return {
    iss: provider.issuer,
    sub: 'user-1',
    aud: provider.clientId,
    client_id: provider.clientId,
    iat: nowSeconds(),
    exp: nowSeconds() + 300,
    jti: randomBytes(8).toString('hex'),
    scope: 'openid read',
    ...overrides,
  };
}

/** A JWT access token signed by the fake OP's published RS256 key (typ at+jwt unless overridden). */
const jwtAt = (overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}, provider: FakeOp = op) =>
  provider.signIdToken(atClaims(overrides, provider), { typ: 'at+jwt', ...header });

/** An opaque access token, the way a client gets one: /authorize then /token at the fake OP. */
async function opaqueToken(provider: FakeOp = op, scope = 'openid email read'): Promise<string> {
  const redirectUri = 'http://127.0.0.1:3999/oidc/callback';
  const authorize = new URL(`${provider.issuer}/authorize`);
  authorize.search = new URLSearchParams({ client_id: provider.clientId, redirect_uri: redirectUri, response_type: 'code', scope, state: 's' }).toString();
  const a = await fetch(authorize, { redirect: 'manual' });
  const code = new URL(a.headers.get('location') as string).searchParams.get('code');
  if (!code) throw new Error(`authorize answered ${a.status}`);
  const t = await fetch(`${provider.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${provider.clientId}:${provider.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri }),
  });
  const body = (await t.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`token endpoint answered ${t.status}`);
  return body.access_token;
}

async function revoke(token: string, provider: FakeOp = op): Promise<void> {
  const r = await fetch(`${provider.issuer}/revoke`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${provider.clientId}:${provider.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  expect(r.status).toBe(200);
}

/**
 * RFC 6750 3: the `Bearer realm="...", error="...", error_description="..."` challenge. A 401 also
 * lists a bare DPoP challenge (RFC 9449 7.2; DPoP is `allowed` by default), which carries no error.
 */
function parseChallenge(header: string | undefined): { scheme: string; params: Record<string, string> } {
  const all = parseChallenges(header);
  for (const other of all.filter((c) => c.scheme !== 'Bearer')) {
    expect(other.scheme).toBe('DPoP');
    expect(other.params.error).toBeUndefined();
  }
  return challengeOf(header, 'Bearer');
}

/** The header of a 401 without credentials when DPoP is `allowed`: both schemes, no error. */
const bareChallenges = (realm: string) => `Bearer realm="${realm}", DPoP realm="${realm}", algs="${DPOP_ALGS.join(' ')}"`;

function expectInvalidToken(res: request.Response, descriptionPart?: string): void {
  expect(res.status).toBe(401);
  const { scheme, params } = parseChallenge(res.headers['www-authenticate']);
  expect(scheme).toBe('Bearer');
  expect(params.realm).toBe(op.issuer);
  expect(params.error).toBe('invalid_token');
  expect(params.error_description).toBeTruthy();
  if (descriptionPart) expect(params.error_description).toContain(descriptionPart);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.body).toMatchObject({ error: 'invalid_token', error_description: params.error_description });
}

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

// ---------------------------------------------------------------------------
// JWT access tokens (RFC 9068)
// ---------------------------------------------------------------------------

describe('JWT access tokens', () => {
  it('a valid at+jwt -> 200 with req.user and req.oidc from the token (no session needed)', async () => {
    const rt = makeRt();
    const token = await jwtAt({ email: undefined });
    const res = await get(apiFor(rt), token);
    expect(res.status).toBe(200);
    // The default verifyClaims would require email (scopes default to "openid email"): not for bearer tokens.
    expect(res.body.authenticated).toBe(true);
    expect(res.body.user).toEqual({ sub: 'user-1', iss: op.issuer });
    expect(res.body.claims).toMatchObject({ sub: 'user-1', client_id: op.clientId, scope: 'openid read' });
    expect(res.body.accessToken).toBe(token);
    expect(res.body.accessTokenExpiresAt).toBe(res.body.claims.exp);
    expect(res.body.scopes).toEqual(['openid', 'read']);
  });

  it('the same token again (the cached validation and what was derived from it): the same req.oidc, and a missing scope is still refused', async () => {
    const rt = makeRt();
    const token = await jwtAt({ scope: 'openid read', scp: ['write'] });
    const app = apiFor(rt);
    const first = await get(app, token);
    const second = await get(app, token);
    expect(first.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.body.scopes).toEqual(['openid', 'read', 'write']);
    const guarded = apiFor(rt, { scopes: ['read', 'admin'] });
    for (let i = 0; i < 2; i++) {
      const res = await get(guarded, token);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: 'insufficient_scope', scope: 'read admin' });
    }
  });

  it('typ application/at+jwt is accepted, as is a lower-case "bearer" scheme', async () => {
    const rt = makeRt();
    const token = await jwtAt({}, { typ: 'application/at+jwt' });
    const res = await request(apiFor(rt)).get('/api').set('authorization', `bearer ${token}`);
    expect(res.status).toBe(200);
  });

  it('typ JWT: rejected by default, accepted with bearerAcceptJwtTyp', async () => {
    const token = await jwtAt({}, { typ: 'JWT' });
    expectInvalidToken(await get(apiFor(makeRt()), token), 'typ');
    expect((await get(apiFor(makeRt({ bearerAcceptJwtTyp: true })), token)).status).toBe(200);
  });

  it('an ID token is not an access token, even with bearerAcceptJwtTyp (no client_id)', async () => {
    const idToken = await op.signIdToken({ iss: op.issuer, sub: 'user-1', aud: op.clientId, iat: nowSeconds(), exp: nowSeconds() + 300, azp: op.clientId });
    expectInvalidToken(await get(apiFor(makeRt({ bearerAcceptJwtTyp: true })), idToken), 'client_id');
  });

  const rejections: Array<[string, () => Promise<string>, string]> = [
    ['wrong iss', () => jwtAt({ iss: 'https://evil.example.com' }), "'iss'"],
    ['wrong aud', () => jwtAt({ aud: 'another-api' }), "'aud'"],
    ['expired', () => jwtAt({ exp: nowSeconds() - 3600, iat: nowSeconds() - 7200 }), 'exp'],
    ['iat in the future', () => jwtAt({ iat: nowSeconds() + 3600, exp: nowSeconds() + 7200 }), "'iat'"],
    ['missing sub', () => jwtAt({ sub: undefined }), "'sub'"],
    ['missing client_id', () => jwtAt({ client_id: undefined }), "'client_id'"],
    [
      'tampered payload (bad signature)',
      async () => {
        const [h, , s] = (await jwtAt()).split('.');
        return `${h}.${b64json(atClaims({ sub: 'admin' }))}.${s}`;
      },
      'signature',
    ],
    ['alg none', async () => `${b64json({ alg: 'none', typ: 'at+jwt' })}.${b64json(atClaims())}.`, "'none'"],
    [
      'HS256 signed with the client secret',
      async () => {
        const input = `${b64json({ alg: 'HS256', typ: 'at+jwt' })}.${b64json(atClaims())}`;
        return `${input}.${createHmac('sha256', op.clientSecret).update(input).digest('base64url')}`;
      },
      "'HS256'",
    ],
    ['unknown kid', () => jwtAt({}, { kid: 'no-such-kid' }), 'key'],
  ];

  it.each(rejections)('%s -> 401 invalid_token', async (_name, make, descriptionPart) => {
    const rt = makeRt();
    const res = await get(apiFor(rt), await make());
    expectInvalidToken(res, descriptionPart);
  });

  it('a valid token still passes after the rejections (nothing poisoned)', async () => {
    const rt = makeRt();
    const app = apiFor(rt);
    expectInvalidToken(await get(app, await jwtAt({ aud: 'x' })));
    expect((await get(app, await jwtAt())).status).toBe(200);
  });

  it('a route audience (bearerAuth({ audience })) is checked instead of the default', async () => {
    const rt = makeRt();
    const token = await jwtAt({ aud: 'https://api.example.com' });
    expectInvalidToken(await get(apiFor(rt), token), "'aud'");
    expect((await get(apiFor(rt, { audience: 'https://api.example.com' }), token)).status).toBe(200);
    // The cached success for one audience is no pass for the other.
    expectInvalidToken(await get(apiFor(rt), token), "'aud'");
  });
});

// ---------------------------------------------------------------------------
// RFC 6750 challenges
// ---------------------------------------------------------------------------

describe('RFC 6750 responses', () => {
  it('no token -> 401 with bare challenges (no error attribute): Bearer and, DPoP being allowed, DPoP with its algs', async () => {
    const res = await get(apiFor(makeRt()));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(bareChallenges(op.issuer));
    expect(res.headers['cache-control']).toBe('no-store');
    // bearerDpop "off": Bearer only, as before DPoP.
    expect((await get(apiFor(makeRt({ bearerDpop: 'off' })))).headers['www-authenticate']).toBe(`Bearer realm="${op.issuer}"`);
  });

  it('Authorization: Basic -> 401 with the bare challenges', async () => {
    const res = await request(apiFor(makeRt())).get('/api').set('authorization', 'Basic dXNlcjpwYXNz');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(bareChallenges(op.issuer));
  });

  it('a token in the query string -> 400 invalid_request, never checked', async () => {
    const token = await jwtAt();
    const before = op.requests.length;
    const res = await request(apiFor(makeRt())).get(`/api?access_token=${token}`);
    expect(res.status).toBe(400);
    expect(parseChallenge(res.headers['www-authenticate']).params.error).toBe('invalid_request');
    expect(op.requests.length).toBe(before);
  });

  it('a token in the query string is refused wherever it sits in the query, with a good header too, and under a mount path', async () => {
    const token = await jwtAt();
    const app = apiFor(makeRt());
    const mounted = express();
    mounted.use('/v1', app);
    for (const [target, path] of [
      [app, `/api?page=2&access_token=${token}`],
      [app, '/api?access_token='],
      [mounted, `/v1/api?x=1&access_token=${token}`],
    ] as const) {
      const res = await request(target).get(path).set('authorization', `Bearer ${token}`);
      expect(res.status, path).toBe(400);
      expect(res.body.error, path).toBe('invalid_request');
    }
    // Other query parameters are the app's business.
    const ok = await request(mounted).get('/v1/api?page=2&token=x').set('authorization', `Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(ok.body.authenticated).toBe(true);
  });

  it('a malformed Bearer header -> 400 invalid_request', async () => {
    const res = await request(apiFor(makeRt())).get('/api').set('authorization', 'Bearer two words');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('missing scope -> 403 insufficient_scope with scope="..."; present scopes -> 200', async () => {
    const rt = makeRt();
    const token = await jwtAt({ scope: 'openid read' });
    const res = await get(apiFor(rt, { scopes: ['read', 'admin'] }), token);
    expect(res.status).toBe(403);
    const { params } = parseChallenge(res.headers['www-authenticate']);
    expect(params).toMatchObject({ realm: op.issuer, error: 'insufficient_scope', scope: 'read admin' });
    expect(params.error_description).toContain('admin');
    expect(res.body).toMatchObject({ error: 'insufficient_scope', scope: 'read admin' });
    expect((await get(apiFor(rt, { scopes: ['read'] }), token)).status).toBe(200);
    // scp as an array (Okta, Azure AD style)
    const scp = await get(apiFor(rt, { scopes: ['write'] }), await jwtAt({ scope: undefined, scp: ['write'] }));
    expect(scp.status).toBe(200);
    expect(scp.body.scopes).toEqual(['write']);
  });

  it('optional: no token -> through unauthenticated; a bad token still -> 401', async () => {
    const rt = makeRt();
    const app = apiFor(rt, { optional: true });
    const res = await get(app);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ authenticated: false, user: null });
    expectInvalidToken(await get(app, await jwtAt({ iss: 'https://evil.example.com' })));
  });

  it('a realm option replaces the issuer in the challenge', async () => {
    const res = await get(apiFor(makeRt(), { realm: 'my-api' }));
    expect(res.headers['www-authenticate']).toBe(bareChallenges('my-api'));
  });
});

describe('composition with requireAuth', () => {
  it('requireAuth({ scopes }) after bearerAuth reads the bearer context, without express-session', async () => {
    const rt = makeRt();
    const app = express();
    app.get('/guarded', bearerAuth(rt), requireAuth(rt, { scopes: ['read'] }), (req, res) => {
      res.json({ sub: req.oidc.claims?.sub });
    });
    app.get('/admin', bearerAuth(rt), requireAuth(rt, { scopes: ['admin'] }), (_req, res) => {
      res.json({ ok: true });
    });
    const token = await jwtAt({ scope: 'openid read' });
    const ok = await request(app).get('/guarded').set('authorization', `Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ sub: 'user-1' });
    expect((await request(app).get('/admin').set('authorization', `Bearer ${token}`)).status).toBe(403);
  });
});

// ---------------------------------------------------------------------------
// user hooks
// ---------------------------------------------------------------------------

describe('user hooks', () => {
  it('filterUsersByClaims / updateUser / createUser run with the token claims', async () => {
    const seen: string[] = [];
    const rt = makeRt({
      hooks: {
        filterUsersByClaims: (claims) => (claims.sub === 'known' ? [{ id: 1, sub: 'known' } as Express.User] : []),
        updateUser: (user, claims, ctx) => {
          seen.push(`update:${String(claims.client_id)}:${ctx.idTokenClaims.sub}`);
          return { ...user, updated: true } as Express.User;
        },
        createUser: (claims) => {
          seen.push(`create:${claims.sub}`);
          return { id: 2, sub: claims.sub } as Express.User;
        },
      },
    });
    const app = apiFor(rt);
    expect((await get(app, await jwtAt({ sub: 'known' }))).body.user).toEqual({ id: 1, sub: 'known', updated: true });
    expect((await get(app, await jwtAt({ sub: 'new' }))).body.user).toEqual({ id: 2, sub: 'new' });
    expect(seen).toEqual([`update:${op.clientId}:known`, 'create:new']);
  });

  it('run once per token (like once per login), not on every request; with source "bearer"', async () => {
    const sources: string[] = [];
    const rt = makeRt({
      hooks: {
        createUser: (claims, ctx) => {
          sources.push(ctx.source);
          return { id: 3, sub: claims.sub } as Express.User;
        },
      },
    });
    const app = apiFor(rt);
    const token = await jwtAt({ sub: 'repeat' });
    for (let i = 0; i < 5; i++) expect((await get(app, token)).body.user).toEqual({ id: 3, sub: 'repeat' });
    expect(sources).toEqual(['bearer']);
    await get(app, await jwtAt({ sub: 'other' }));
    expect(sources).toEqual(['bearer', 'bearer']);
  });

  it('a cached token: each request gets its own req.oidc and scopes; each route still checks its own scopes', async () => {
    const rt = makeRt();
    const app = express();
    app.get('/read', bearerAuth(rt, { scopes: ['read'] }), (req, res) => {
      const scopes = [...req.oidc.scopes];
      req.oidc.scopes.push('tampered');
      res.json({ scopes, sub: req.oidc.claims?.sub, token: req.oidc.accessToken === undefined ? null : 'set' });
    });
    app.get('/admin', bearerAuth(rt, { scopes: ['admin'] }), (_req, res) => {
      res.json({ ok: true });
    });
    const token = await jwtAt({ sub: 'cached' });
    for (let i = 0; i < 3; i++) {
      const read = await get(app, token, '/read');
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ scopes: ['openid', 'read'], sub: 'cached', token: 'set' });
      expect((await get(app, token, '/admin')).status).toBe(403);
    }
  });

  it('verifyClaims returning false -> 401 invalid_token', async () => {
    const rt = makeRt({ hooks: { verifyClaims: (claims) => claims.sub !== 'blocked' } });
    const app = apiFor(rt);
    expectInvalidToken(await get(app, await jwtAt({ sub: 'blocked' })));
    expect((await get(app, await jwtAt({ sub: 'fine' }))).status).toBe(200);
  });

  it('createUser off and no user -> 401', async () => {
    expectInvalidToken(await get(apiFor(makeRt({ createUser: false })), await jwtAt()));
  });
});

// ---------------------------------------------------------------------------
// opaque tokens
// ---------------------------------------------------------------------------

describe('opaque tokens', () => {
  it('introspection (auto, the OP advertises it) -> 200 with the introspection claims', async () => {
    const rt = makeRt();
    const token = await opaqueToken();
    const before = op.count('/introspect');
    const res = await get(apiFor(rt, { scopes: ['read'] }), token);
    expect(res.status).toBe(200);
    expect(res.body.claims).toMatchObject({ sub: 'user-1', client_id: op.clientId, scope: 'openid email read', iss: op.issuer });
    expect(res.body.claims.active).toBeUndefined();
    expect(res.body.accessTokenExpiresAt).toBe(res.body.claims.exp);
    expect(op.count('/introspect')).toBe(before + 1);
    // RFC 7662 2.1: token, the hint, and client authentication.
    const call = op.requests.filter((r) => r.path === '/introspect').at(-1);
    expect(call?.body).toMatchObject({ token, token_type_hint: 'access_token' });
    expect(String(call?.headers.authorization)).toMatch(/^Basic /);
  });

  it('a revoked token and an unknown token -> 401 (active: false)', async () => {
    const rt = makeRt();
    const app = apiFor(rt);
    const token = await opaqueToken();
    await revoke(token);
    expectInvalidToken(await get(app, token), 'inactive');
    expectInvalidToken(await get(app, 'unknown-opaque-token'), 'inactive');
  });

  it('bearerOpaqueTokens "userinfo" -> 200 with the userinfo claims; unknown -> 401', async () => {
    const rt = makeRt({ bearerOpaqueTokens: 'userinfo' });
    const app = apiFor(rt);
    const token = await opaqueToken();
    const before = op.count('/introspect');
    const res = await get(app, token);
    expect(res.status).toBe(200);
    expect(res.body.claims).toMatchObject({ sub: 'user-1', email: 'user1@example.com', iss: op.issuer });
    expect(op.count('/introspect')).toBe(before);
    expectInvalidToken(await get(app, 'unknown-opaque-token'), 'userinfo');
  });

  it('bearerOpaqueTokens "reject" -> 401 without asking the provider', async () => {
    const rt = makeRt({ bearerOpaqueTokens: 'reject' });
    const token = await opaqueToken();
    const before = op.count('/introspect') + op.count('/userinfo');
    expectInvalidToken(await get(apiFor(rt), token));
    expect(op.count('/introspect') + op.count('/userinfo')).toBe(before);
  });
});

// ---------------------------------------------------------------------------
// provider unavailable -> 503, never 401
// ---------------------------------------------------------------------------

describe('provider unavailable', () => {
  async function downProvider(options: OidcAuthOptions = {}) {
    const op2 = await startFakeOp();
    extraOps.push(op2);
    const rt = makeRt(options, op2);
    const opaque = await opaqueToken(op2);
    const jwt = await jwtAt({}, {}, op2);
    await rt.provider.discovery.get(); // discovery known, then the provider goes away
    await op2.close();
    return { rt, opaque, jwt, op2 };
  }

  function expectUnavailable(res: request.Response): void {
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(res.headers['www-authenticate']).toBeUndefined();
  }

  it('introspection, JWKS and userinfo unreachable -> 503 with Retry-After', async () => {
    const { rt, opaque, jwt, op2 } = await downProvider();
    expectUnavailable(await get(apiFor(rt), opaque));
    expectUnavailable(await get(apiFor(rt), jwt));
    const rtUserinfo = makeRt({ bearerOpaqueTokens: 'userinfo' }, op2);
    // Discovery itself unreachable.
    expectUnavailable(await get(apiFor(rtUserinfo), opaque));
  });

  it('userinfo answering 500 -> 503; the same token passes once the provider is back', async () => {
    const rt = makeRt({ bearerOpaqueTokens: 'userinfo' });
    const token = await opaqueToken();
    op.set({ userinfoStatus: 500 });
    expectUnavailable(await get(apiFor(rt), token));
    op.reset();
    expect((await get(apiFor(rt), token)).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------
// the validation cache
// ---------------------------------------------------------------------------

describe('validation cache', () => {
  it('the same JWT 20 times -> one discovery, one JWKS fetch', async () => {
    const rt = makeRt();
    const app = apiFor(rt);
    const token = await jwtAt();
    const jwks = op.count('/jwks');
    const disco = op.count('/.well-known/openid-configuration');
    for (let i = 0; i < 20; i++) expect((await get(app, token)).status).toBe(200);
    expect(op.count('/jwks') - jwks).toBe(1);
    expect(op.count('/.well-known/openid-configuration') - disco).toBe(1);
  });

  it('the same opaque token 20 times (also concurrently) -> one introspection call', async () => {
    const rt = makeRt();
    const app = apiFor(rt);
    const token = await opaqueToken();
    const before = op.count('/introspect');
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => get(app, token)));
    expect(concurrent.map((r) => r.status)).toEqual(Array(10).fill(200));
    for (let i = 0; i < 10; i++) expect((await get(app, token)).status).toBe(200);
    expect(op.count('/introspect') - before).toBe(1);
  });

  it('failures are not cached: a rejected token is checked again', async () => {
    const rt = makeRt();
    const app = apiFor(rt);
    const before = op.count('/introspect');
    expectInvalidToken(await get(app, 'unknown-opaque-token'));
    expectInvalidToken(await get(app, 'unknown-opaque-token'));
    expect(op.count('/introspect') - before).toBe(2);
  });

  it('respects the JWT exp: past it, the cached token is 401', async () => {
    const rt = makeRt({ clockToleranceSeconds: 0 });
    const app = apiFor(rt);
    const token = await jwtAt({ exp: nowSeconds() + 30 });
    expect((await get(app, token)).status).toBe(200);
    expect((await get(app, token)).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + 60_000);
    expectInvalidToken(await get(app, token), 'exp');
  });

  it('respects the introspection exp: past it, the provider is asked again and says inactive', async () => {
    const rt = makeRt({ clockToleranceSeconds: 0 });
    const app = apiFor(rt);
    op.set({ accessTokenTtl: 30 });
    const token = await opaqueToken();
    const before = op.count('/introspect');
    expect((await get(app, token)).status).toBe(200);
    expect((await get(app, token)).status).toBe(200);
    expect(op.count('/introspect') - before).toBe(1);
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + 60_000);
    expectInvalidToken(await get(app, token), 'inactive');
    expect(op.count('/introspect') - before).toBe(2);
  });

  it('OIDC_BEARER_CACHE_TTL_SECONDS caps the time a result is trusted (a revoked token dies with its entry)', async () => {
    const rt = makeRt({ bearerCacheTtlSeconds: 10 });
    const app = apiFor(rt);
    const token = await opaqueToken();
    expect((await get(app, token)).status).toBe(200);
    await revoke(token);
    expect((await get(app, token)).status).toBe(200); // still cached: the documented trade-off
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + 11_000);
    expectInvalidToken(await get(app, token), 'inactive');
  });

  it('is bounded: with 2 entries, 3 alternating tokens are introspected every time', async () => {
    const tokens = [await opaqueToken(), await opaqueToken(), await opaqueToken()];
    const run = async (rt: Services): Promise<number> => {
      const app = apiFor(rt);
      const before = op.count('/introspect');
      for (let round = 0; round < 3; round++) for (const t of tokens) expect((await get(app, t)).status).toBe(200);
      return op.count('/introspect') - before;
    };
    const small = makeRt({ bearerCacheMaxEntries: 2 });
    expect(await run(small)).toBe(9);
    expect(small.stores.bearerCache.size).toBe(2);
    expect(await run(makeRt())).toBe(3);
    expect(await run(makeRt({ bearerCacheMaxEntries: 0 }))).toBe(9);
  });

  describe('with Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('two instances share the cache: the second makes no provider call; keys are hashes, values hold no token', async () => {
      const c1 = createClient({ url: redis.url });
      const c2 = createClient({ url: redis.url });
      await Promise.all([c1.connect(), c2.connect()]);
      try {
        const prefix = `t:${randomBytes(4).toString('hex')}:`;
        const rt1 = makeRt({ redis: c1, redisPrefix: prefix });
        const rt2 = makeRt({ redis: c2, redisPrefix: prefix });
        const opaque = await opaqueToken();
        const jwt = await jwtAt();

        const intro = op.count('/introspect');
        const jwks = op.count('/jwks');
        expect((await get(apiFor(rt1), opaque)).status).toBe(200);
        expect((await get(apiFor(rt1), jwt)).status).toBe(200);
        expect(op.count('/introspect') - intro).toBe(1);
        expect(op.count('/jwks') - jwks).toBe(1);

        const calls = op.requests.length;
        const second = await get(apiFor(rt2), opaque);
        expect(second.status).toBe(200);
        expect(second.body.claims.sub).toBe('user-1');
        expect((await get(apiFor(rt2), jwt)).status).toBe(200);
        expect(op.requests.length).toBe(calls); // not even discovery

        const keys = (await c1.keys(`${prefix}bearer:*`)).sort();
        expect(keys).toEqual([`${prefix}bearer:${sha256hex(opaque)}`, `${prefix}bearer:${sha256hex(jwt)}`].sort());
        for (const k of keys) {
          const value = (await c1.get(k)) as string;
          expect(value).not.toContain(opaque);
          expect(value).not.toContain(jwt);
          const ttl = await c1.pTTL(k);
          expect(ttl).toBeGreaterThan(0);
          expect(ttl).toBeLessThanOrEqual(300_000);
        }
      } finally {
        await Promise.all([c1.close(), c2.close()]);
      }
    });
  });
});
