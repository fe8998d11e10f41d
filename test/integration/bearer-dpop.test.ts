/**
 * bearerAuth() with DPoP-bound access tokens (RFC 9449 4.3, 6, 7, 9) against the fake OP: JWT
 * access tokens with `cnf.jkt` signed by the OP's published key, opaque tokens whose introspection
 * answers `cnf.jkt`, proofs minted here with jose (test/support/dpop.ts). The modes, the challenges,
 * the binding both ways, the replay store (also across two createOidcAuth() instances sharing a
 * real redis-server) and server nonces end to end (a nonce from one instance accepted by the other).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import request from 'supertest';
import { createClient } from 'redis';
import { startFakeOp, type FakeOp } from '../support/fake-op.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { closeServices, createServices, type Services } from '../../src/session/services.js';
import { resolveConfig } from '../../src/config.js';
import { bearerAuth, type BearerAuthOptions } from '../../src/middleware/bearer-auth.js';
import { requireAuth } from '../../src/middleware/require-auth.js';
import { createOidcAuth, type OidcAuth } from '../../src/index.js';
import type { OidcAuthOptions } from '../../src/types.js';
import { captureLogger, type CapturedLog } from '../support/logger.js';
import { nowSeconds } from '../support/jwt.js';
import { challengeOf, parseChallenges } from '../support/challenges.js';
import { dpopKey, dpopProof, type DpopKey, type ProofOptions } from '../support/dpop.js';
import { readmeSnippet, runSnippet } from '../support/readme-snippet.js';
import * as jose from 'jose';
import * as nodeCrypto from 'node:crypto';
import { createServer } from 'node:http';

const BASE = 'http://127.0.0.1:3999';
const API = `${BASE}/api`;
/** What the DPoP challenge's algs lists (protocol/dpop-verification.ts DPOP_ALGS), written out here. */
const ALGS = 'RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519';

let op: FakeOp;
let key: DpopKey;
let otherKey: DpopKey;
beforeAll(async () => {
  op = await startFakeOp();
  key = await dpopKey('ES256');
  otherKey = await dpopKey('ES256');
});
afterAll(async () => {
  await op.close();
});

const runtimes: Services[] = [];
const auths: OidcAuth[] = [];
afterEach(async () => {
  op.reset();
  await Promise.all(runtimes.splice(0).map((rt) => closeServices(rt)));
  await Promise.all(auths.splice(0).map((a) => a.close()));
});

const logs: CapturedLog[] = [];
const logger = captureLogger(logs);

const baseOptions = (): OidcAuthOptions => ({
  issuer: op.issuer,
  clientId: op.clientId,
  clientSecret: op.clientSecret,
  baseUrl: BASE,
  env: {},
  logger,
});

function makeRt(options: OidcAuthOptions = {}): Services {
  const rt = createServices(resolveConfig({ ...baseOptions(), ...options }));
  runtimes.push(rt);
  return rt;
}

/** An API app, no session: /api and /scoped behind bearerAuth, /guarded behind bearerAuth + requireAuth. */
function appWith(auth: (opts?: BearerAuthOptions) => express.RequestHandler, guard: express.RequestHandler, opts?: BearerAuthOptions): express.Express {
  const app = express();
  const echo = (req: express.Request, res: express.Response) => {
    res.json({ sub: req.oidc.claims?.sub ?? null, cnf: req.oidc.claims?.cnf ?? null, scopes: req.oidc.scopes });
  };
  app.get('/api', auth(opts), echo);
  app.post('/api', auth(opts), echo);
  app.get('/scoped', auth({ ...opts, scopes: ['admin'] }), echo);
  app.get('/guarded', auth(opts), guard, echo);
  app.use((err: Error & { code?: string; statusCode?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.statusCode ?? 500).json({ error: err.code ?? 'error', message: err.message });
  });
  return app;
}

const apiFor = (rt: Services, opts?: BearerAuthOptions) => appWith((o) => bearerAuth(rt, o), requireAuth(rt, { scopes: ['admin'] }), opts);

/** A JWT access token from the fake OP (RFC 9068), bound to `jkt` unless null. */
const boundJwt = (jkt: string | null = key.jkt, claims: Record<string, unknown> = {}) =>
  op.signIdToken(
    {
      iss: op.issuer,
      sub: 'user-1',
      aud: op.clientId,
      client_id: op.clientId,
      iat: nowSeconds(),
      exp: nowSeconds() + 300,
      jti: randomBytes(8).toString('hex'),
      scope: 'openid read',
      ...(jkt === null ? {} : { cnf: { jkt } }),
      ...claims,
    },
    { typ: 'at+jwt' },
  );

/** `Authorization: DPoP <token>` with a fresh proof for `path` (htu from the base URL unless overridden). */
async function dpopCall(app: express.Express, token: string, proof: Partial<ProofOptions> = {}, path = '/api', signer: DpopKey = key) {
  const p = await dpopProof(signer, { htu: `${BASE}${path.split('?')[0]}`, accessToken: token, ...proof });
  return { proof: p, res: await request(app).get(path).set('authorization', `DPoP ${token}`).set('dpop', p) };
}

const send = (app: express.Express, token: string, proof: string, path = '/api') =>
  request(app).get(path).set('authorization', `DPoP ${token}`).set('dpop', proof);

/**
 * 401 with the DPoP challenge carrying `error` and algs; in allowed mode also a bare Bearer
 * challenge. (In a challenge's quoted-string, double quotes become single ones: `'htu'`.)
 */
function expectDpopError(res: request.Response, error: string, descriptionPart?: string): void {
  expect(res.status).toBe(401);
  const dpop = challengeOf(res.headers['www-authenticate'], 'DPoP');
  expect(dpop.params).toMatchObject({ realm: op.issuer, error, algs: ALGS });
  if (descriptionPart) expect(dpop.params.error_description).toContain(descriptionPart);
  for (const other of parseChallenges(res.headers['www-authenticate']).filter((c) => c.scheme !== 'DPoP')) {
    expect(other).toEqual({ scheme: 'Bearer', params: { realm: op.issuer } });
  }
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.body).toMatchObject({ error });
}

describe('DPoP-bound JWT access tokens (RFC 9449 6.1, 7.1)', () => {
  it('DPoP scheme + a proof with the bound key -> 200; req.oidc carries the claims with cnf', async () => {
    const token = await boundJwt();
    const { res } = await dpopCall(apiFor(makeRt()), token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sub: 'user-1', cnf: { jkt: key.jkt }, scopes: ['openid', 'read'] });
  });

  it('the same bound token with the Bearer scheme -> 401 invalid_token (RFC 9449 7.2), in every mode', async () => {
    const token = await boundJwt();
    for (const bearerDpop of ['allowed', 'off'] as const) {
      const res = await request(apiFor(makeRt({ bearerDpop })))
        .get('/api')
        .set('authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      const bearer = challengeOf(res.headers['www-authenticate'], 'Bearer');
      expect(bearer.params).toMatchObject({ error: 'invalid_token' });
      expect(bearer.params.error_description).toContain('DPoP-bound');
    }
  });

  it('a proof made with another key -> 401 invalid_token (the binding), DPoP challenge with algs', async () => {
    const token = await boundJwt();
    const { res } = await dpopCall(apiFor(makeRt()), token, {}, '/api', otherKey);
    expectDpopError(res, 'invalid_token', 'bound to another key');
  });

  it('an unbound token with the DPoP scheme -> 401 invalid_token (not DPoP-bound)', async () => {
    const token = await boundJwt(null);
    const { res } = await dpopCall(apiFor(makeRt()), token);
    expectDpopError(res, 'invalid_token', 'not DPoP-bound');
  });

  it('the DPoP scheme without a proof, or the Bearer scheme with one -> 400 invalid_request', async () => {
    const app = apiFor(makeRt());
    const token = await boundJwt();
    const noProof = await request(app).get('/api').set('authorization', `DPoP ${token}`);
    expect(noProof.status).toBe(400);
    expect(noProof.headers['www-authenticate']).toMatch(/^DPoP realm="[^"]+", error="invalid_request", error_description="[^"]*DPoP proof header"$/);
    const proof = await dpopProof(key, { htu: API, accessToken: token });
    const bearerWithProof = await request(app).get('/api').set('authorization', `Bearer ${token}`).set('dpop', proof);
    expect(bearerWithProof.status).toBe(400);
    expect(challengeOf(bearerWithProof.headers['www-authenticate'], 'Bearer').params.error).toBe('invalid_request');
  });

  it('two DPoP header fields -> 401 invalid_dpop_proof (RFC 9449 4.3 step 1)', async () => {
    const token = await boundJwt();
    const p1 = await dpopProof(key, { htu: API, accessToken: token });
    const p2 = await dpopProof(key, { htu: API, accessToken: token });
    // superagent sends one header field per array value; its types allow arrays for Cookie only.
    const twoFields = [p1, p2] as unknown as string;
    const res = await request(apiFor(makeRt())).get('/api').set('authorization', `DPoP ${token}`).set('dpop', twoFields);
    expectDpopError(res, 'invalid_dpop_proof', 'more than one DPoP header');
  });

  it('a proof that fails a check -> 401 invalid_dpop_proof: method, URI, ath, age', async () => {
    const app = apiFor(makeRt());
    const token = await boundJwt();
    expectDpopError((await dpopCall(app, token, { htm: 'POST' })).res, 'invalid_dpop_proof', "'htm'");
    expectDpopError((await dpopCall(app, token, { htu: `${BASE}/other` })).res, 'invalid_dpop_proof', "'htu'");
    expectDpopError((await dpopCall(app, token, { accessToken: await boundJwt() })).res, 'invalid_dpop_proof', "'ath'");
    expectDpopError((await dpopCall(app, token, { claims: { iat: nowSeconds() - 3600 } })).res, 'invalid_dpop_proof', "'iat'");
    const post = await dpopProof(key, { htu: API, htm: 'POST', accessToken: token });
    expect((await request(app).post('/api').set('authorization', `DPoP ${token}`).set('dpop', post)).status).toBe(200);
  });

  it('htu is compared with baseUrl + the request path: not with the Host header, nor X-Forwarded-*, even with trust proxy', async () => {
    const app = apiFor(makeRt());
    app.set('trust proxy', true);
    const token = await boundJwt();
    const viaHost = await dpopProof(key, { htu: 'http://api.internal:8080/api', accessToken: token });
    expectDpopError(await send(app, token, viaHost).set('host', 'api.internal:8080'), 'invalid_dpop_proof', "'htu'");
    const forwarded = await dpopProof(key, { htu: 'https://evil.example.com/api', accessToken: token });
    expectDpopError(
      await send(app, token, forwarded).set('x-forwarded-host', 'evil.example.com').set('x-forwarded-proto', 'https'),
      'invalid_dpop_proof',
      "'htu'",
    );
    // The base URL's, whatever Host says; normalised (RFC 3986 6.2.2, 6.2.3), query ignored on both sides.
    const viaBase = await dpopProof(key, { htu: API, accessToken: token });
    expect((await send(app, token, viaBase).set('host', 'api.internal:8080').set('x-forwarded-host', 'evil.example.com')).status).toBe(200);
    expect((await dpopCall(app, token, { htu: 'HTTP://127.0.0.1:3999/api?x=1' }, '/api?page=2')).res.status).toBe(200);
  });

  it("with a path prefix in baseUrl, htu is the prefix plus the app's path", async () => {
    const app = apiFor(makeRt({ baseUrl: 'https://app.example.com/prefix' }));
    const token = await boundJwt();
    expect((await dpopCall(app, token, { htu: 'https://APP.example.com:443/prefix/api' })).res.status).toBe(200);
    expectDpopError((await dpopCall(app, token, { htu: 'https://app.example.com/api' })).res, 'invalid_dpop_proof', "'htu'");
  });

  it('each proof once (RFC 9449 11.1): the same proof again -> 401 invalid_dpop_proof; a fresh proof -> 200', async () => {
    const app = apiFor(makeRt());
    const token = await boundJwt();
    const { proof, res } = await dpopCall(app, token);
    expect(res.status).toBe(200);
    expectDpopError(await send(app, token, proof), 'invalid_dpop_proof', 'used before');
    expect((await dpopCall(app, token)).res.status).toBe(200);
    expect(logs.some((l) => l.message === 'DPoP proof replayed' && l.meta?.code === 'OIDC_DPOP_PROOF_REPLAYED')).toBe(true);
  });

  it('a rejected proof is not remembered: only an accepted one burns its jti', async () => {
    const app = apiFor(makeRt());
    const token = await boundJwt();
    const proof = await dpopProof(key, { htu: API, accessToken: token });
    // The same proof with another token: ath fails, nothing is stored.
    expectDpopError(await send(app, await boundJwt(), proof), 'invalid_dpop_proof', "'ath'");
    expect((await send(app, token, proof)).status).toBe(200);
  });

  it('the token validation is cached, the proof never: one JWKS fetch for many requests, a bad proof still refused', async () => {
    const app = apiFor(makeRt());
    const token = await boundJwt();
    const jwks = op.count('/jwks');
    for (let i = 0; i < 5; i++) expect((await dpopCall(app, token)).res.status).toBe(200);
    expect(op.count('/jwks') - jwks).toBe(1);
    expectDpopError((await dpopCall(app, token, {}, '/api', otherKey)).res, 'invalid_token');
    expectDpopError((await dpopCall(app, token, { htm: 'DELETE' })).res, 'invalid_dpop_proof');
  });

  it('scopes work the same: bearerAuth({ scopes }) and requireAuth({ scopes }) -> 403 with a DPoP insufficient_scope challenge', async () => {
    const app = apiFor(makeRt());
    const token = await boundJwt();
    for (const path of ['/scoped', '/guarded']) {
      const { res } = await dpopCall(app, token, {}, path);
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toMatch(/^DPoP realm="[^"]+", error="insufficient_scope", (error_description="[^"]*", )?scope="admin"$/);
      expect(res.body.error).toBe('insufficient_scope');
    }
    const admin = await boundJwt(key.jkt, { scope: 'openid admin' });
    for (const path of ['/scoped', '/guarded']) expect((await dpopCall(app, admin, {}, path)).res.status).toBe(200);
  });
});

describe('modes', () => {
  it('allowed (default): a 401 without credentials lists Bearer and DPoP with algs; unbound Bearer tokens still work', async () => {
    const app = apiFor(makeRt());
    const res = await request(app).get('/api');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${op.issuer}", DPoP realm="${op.issuer}", algs="${ALGS}"`);
    expect(
      (
        await request(app)
          .get('/api')
          .set('authorization', `Bearer ${await boundJwt(null)}`)
      ).status,
    ).toBe(200);
  });

  it('required (option, or per route): Bearer is no credentials -> 401 with the DPoP challenge only; DPoP works', async () => {
    for (const app of [apiFor(makeRt({ bearerDpop: 'required' })), apiFor(makeRt(), { dpop: 'required' })]) {
      const res = await request(app)
        .get('/api')
        .set('authorization', `Bearer ${await boundJwt(null)}`);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`DPoP realm="${op.issuer}", algs="${ALGS}"`);
      expect((await dpopCall(app, await boundJwt())).res.status).toBe(200);
    }
  });

  it('off: the DPoP scheme is no credentials -> 401 with the Bearer challenge only; a DPoP header is ignored', async () => {
    const app = apiFor(makeRt({ bearerDpop: 'off' }));
    const { res } = await dpopCall(app, await boundJwt());
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${op.issuer}"`);
    const unbound = await boundJwt(null);
    const withProof = await request(app)
      .get('/api')
      .set('authorization', `Bearer ${unbound}`)
      .set('dpop', await dpopProof(key, { htu: API }));
    expect(withProof.status).toBe(200);
  });

  it('an unknown per-route mode is refused when the middleware is built', () => {
    expect(() => bearerAuth(makeRt(), { dpop: 'on' as 'allowed' })).toThrow(/dpop must be allowed, required, off/);
  });
});

describe('opaque tokens bound through introspection (RFC 9449 6.2)', () => {
  async function opaqueToken(): Promise<string> {
    const redirectUri = `${BASE}/oidc/callback`;
    const authorize = new URL(`${op.issuer}/authorize`);
    authorize.search = new URLSearchParams({
      client_id: op.clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid read',
      state: 's',
    }).toString();
    const code = new URL((await fetch(authorize, { redirect: 'manual' })).headers.get('location') as string).searchParams.get('code') as string;
    const t = await fetch(`${op.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${op.clientId}:${op.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri }),
    });
    return ((await t.json()) as { access_token: string }).access_token;
  }

  it('introspection answering cnf.jkt: DPoP with that key -> 200, another key -> 401, the Bearer scheme -> 401', async () => {
    op.set({ introspectionExtra: { cnf: { jkt: key.jkt }, token_type: 'DPoP' } });
    const app = apiFor(makeRt());
    const token = await opaqueToken();
    const ok = await dpopCall(app, token);
    expect(ok.res.status).toBe(200);
    expect(ok.res.body.cnf).toEqual({ jkt: key.jkt });
    expectDpopError((await dpopCall(app, token, {}, '/api', otherKey)).res, 'invalid_token', 'bound to another key');
    const bearer = await request(app).get('/api').set('authorization', `Bearer ${token}`);
    expect(bearer.status).toBe(401);
    expect(challengeOf(bearer.headers['www-authenticate'], 'Bearer').params.error_description).toContain('DPoP-bound');
  });
});

describe('server nonces (RFC 9449 9)', () => {
  it('no nonce -> 401 use_dpop_nonce with DPoP-Nonce; the retry with it -> 200 and a DPoP-Nonce for next time', async () => {
    const app = apiFor(makeRt({ dpopNonce: true }));
    const token = await boundJwt();
    const first = await dpopCall(app, token);
    expectDpopError(first.res, 'use_dpop_nonce');
    const nonce = first.res.headers['dpop-nonce'] as string;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);
    const retry = await dpopCall(app, token, { nonce });
    expect(retry.res.status).toBe(200);
    expect(retry.res.headers['dpop-nonce']).toBe(nonce);
    expectDpopError((await dpopCall(app, token, { nonce: 'made-up' })).res, 'use_dpop_nonce', 'not a current server nonce');
    // The challenge without credentials hands one out too, so a client's first proof can carry it.
    expect((await request(app).get('/api')).headers['dpop-nonce']).toBe(nonce);
  });

  it('per route (bearerAuth({ dpopNonce: true })), with a dedicated secret: instances with the same secret agree', async () => {
    const secret = 'n'.repeat(40);
    const a = apiFor(makeRt({ dpopNonceSecret: secret }), { dpopNonce: true });
    const b = apiFor(makeRt({ dpopNonceSecret: secret, clientSecret: 'another-client-secret' }), { dpopNonce: true });
    const c = apiFor(makeRt({ dpopNonceSecret: 'o'.repeat(40) }), { dpopNonce: true });
    const token = await boundJwt();
    const nonce = (await request(a).get('/api')).headers['dpop-nonce'] as string;
    expect((await dpopCall(b, token, { nonce })).res.status).toBe(200);
    expectDpopError((await dpopCall(c, token, { nonce })).res, 'use_dpop_nonce');
    // Without dpopNonce, no nonce is asked for nor handed out.
    const plain = await dpopCall(apiFor(makeRt({ dpopNonceSecret: secret })), token);
    expect(plain.res.status).toBe(200);
    expect(plain.res.headers['dpop-nonce']).toBeUndefined();
  });
});

describe('the replay store', () => {
  it('unavailable -> 503, never a 401 nor a pass', async () => {
    const rt = makeRt();
    rt.stores.shared.setIfAbsent = async () => {
      throw new Error('store down');
    };
    const { res } = await dpopCall(apiFor(rt), await boundJwt());
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
  });

  describe('shared through Redis by two createOidcAuth() instances', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('a proof used on one instance is refused on the other; a nonce from one is accepted by the other; the bound cache entry keeps cnf', async () => {
      const c1 = createClient({ url: redis.url });
      const c2 = createClient({ url: redis.url });
      await Promise.all([c1.connect(), c2.connect()]);
      try {
        const prefix = `t:${randomBytes(4).toString('hex')}:`;
        const make = (client: typeof c1) => {
          const auth = createOidcAuth({ ...baseOptions(), redis: client, redisPrefix: prefix, dpopNonce: true });
          auths.push(auth);
          return appWith((o) => auth.bearerAuth(o), auth.requireAuth({ scopes: ['admin'] }));
        };
        const one = make(c1);
        const two = make(c2);
        const token = await boundJwt();

        // Nonce flow across instances: the challenge from one, the retry on the other.
        const first = await dpopCall(one, token);
        expectDpopError(first.res, 'use_dpop_nonce');
        const nonce = first.res.headers['dpop-nonce'] as string;
        const used = await dpopCall(two, token, { nonce });
        expect(used.res.status).toBe(200);

        // The proof accepted by two is a replay at one (and at two).
        expectDpopError(await send(one, token, used.proof), 'invalid_dpop_proof', 'used before');
        expectDpopError(await send(two, token, used.proof), 'invalid_dpop_proof', 'used before');

        // The replay key: hashed, under the prefix, with a TTL of at most maxAge + 2 x tolerance + 1 s.
        const keys = await c1.keys(`${prefix}dpop-jti:*`);
        expect(keys).toHaveLength(1);
        expect(keys[0]).toMatch(/dpop-jti:[0-9a-f]{64}$/);
        const ttl = await c1.pTTL(keys[0] as string);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual((60 + 2 * 60 + 1) * 1000);

        // Instance one validated nothing itself: its token check came from the shared cache, with cnf.
        const jwks = op.count('/jwks');
        const fresh = await dpopCall(one, token, { nonce });
        expect(fresh.res.status).toBe(200);
        expect(fresh.res.body.cnf).toEqual({ jkt: key.jkt });
        expectDpopError((await dpopCall(one, token, { nonce }, '/api', otherKey)).res, 'invalid_token', 'bound to another key');
        const bearer = await request(one).get('/api').set('authorization', `Bearer ${token}`);
        expect(bearer.status).toBe(401);
        expect(op.count('/jwks')).toBe(jwks);
      } finally {
        await Promise.all([c1.close(), c2.close()]);
      }
    });
  });
});

describe("README's client call (snippet dpop-client)", () => {
  it('reaches a bearerAuth route with its proof, as written', async () => {
    // The snippet calls a real URL: the app listens first, so that baseUrl can be its address.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      server.on('request', apiFor(makeRt({ baseUrl: base })));
      const accessToken = await boundJwt();
      const keyPair = { publicKey: await jose.importJWK(key.publicJwk, 'ES256'), privateKey: key.privateKey };
      const { res } = await runSnippet(readmeSnippet('dpop-client'), { jose, 'node:crypto': nodeCrypto }, { keyPair, accessToken, url: `${base}/api` });
      expect((res as Response).status).toBe(200);
      expect(await (res as Response).json()).toMatchObject({ sub: 'user-1', cnf: { jkt: key.jkt } });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
