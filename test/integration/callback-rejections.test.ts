/**
 * The callback refuses every malformed, forged or unexpected authorization response, token
 * response, ID token, userinfo response and hook outcome, against the misbehaving fake OP.
 *
 * For every rejection the same four things hold:
 *  - the callback answers 302 to LOGIN_REDIRECT_URL_FAILURE ('/login-failed', distinct from the
 *    success target '/welcome');
 *  - GET /me (JSON) is 401 afterwards and GET /whoami says "not authenticated";
 *  - the library logged exactly one "login failed" warning, whose meta.code is the expected
 *    stable OidcError code (src/errors.ts).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import { startFakeOp, type FakeOp, type FakeOpBehaviour } from '../support/fake-op.js';
import { startRpApp, type RpApp } from '../support/rp-app.js';
import type { OidcAuthOptions, OidcClaims, OidcHooks, OidcUser } from '../../src/types.js';
import { fakeOpFixture, type FakeOpFixture } from '../support/fake-op-fixture.js';
import { nowSeconds } from '../support/jwt.js';
import { atFakeOp, pathOf, startLogin, type Agent } from '../support/login.js';

const WELCOME = '/welcome';
const FAILED = '/login-failed';

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** RPs made inside a test; closed after it. */
const extraRps: RpApp[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(extraRps.splice(0).map((r) => r.close()));
});

function baseOptions(op: FakeOp): OidcAuthOptions {
  return {
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    loginRedirectUrl: WELCOME,
    loginRedirectUrlFailure: FAILED,
  };
}

async function newRp(op: FakeOp, extra: OidcAuthOptions = {}): Promise<RpApp> {
  const rp = await startRpApp({ oidc: { ...baseOptions(op), ...extra } });
  extraRps.push(rp);
  return rp;
}

/** The callback URL (path + query on the RP) the provider sends the browser to. */
async function callbackFor(agent: Agent): Promise<string> {
  return pathOf(await atFakeOp((await startLogin(agent)).headers.location as string));
}

interface Attempt {
  agent: Agent;
  res: request.Response;
  /** Index into rp.logs where this attempt's logging starts. */
  logFrom: number;
  elapsedMs: number;
}

/** A whole login with a fresh browser (agent): login route, provider, callback. */
async function attempt(rp: RpApp, agent: Agent = request.agent(rp.url)): Promise<Attempt> {
  const logFrom = rp.logs.length;
  const callback = await callbackFor(agent);
  const t0 = Date.now();
  const res = await agent.get(callback);
  return { agent, res, logFrom, elapsedMs: Date.now() - t0 };
}

function failureCodes(rp: RpApp, from = 0): unknown[] {
  return rp.logs
    .slice(from)
    .filter((l) => l.level === 'warn' && l.message === 'login failed')
    .map((l) => l.meta?.code);
}

async function expectNotAuthenticated(agent: Agent): Promise<void> {
  const me = await agent.get('/me').set('accept', 'application/json');
  expect(me.status).toBe(401);
  expect(me.body.error).toBe('unauthenticated');
  const who = await agent.get('/whoami');
  expect(who.status).toBe(200);
  expect(who.body).toEqual({ authenticated: false, user: null });
}

async function expectRejected(rp: RpApp, a: Attempt, code: string): Promise<void> {
  expect(a.res.status, a.res.text).toBe(302);
  expect(a.res.headers.location, JSON.stringify(rp.logs.slice(a.logFrom))).toBe(FAILED);
  await expectNotAuthenticated(a.agent);
  expect(failureCodes(rp, a.logFrom)).toEqual([code]);
}

async function expectLoggedIn(rp: RpApp, a: Attempt, sub = 'user-1'): Promise<request.Response> {
  expect(a.res.status, a.res.text).toBe(302);
  expect(a.res.headers.location, JSON.stringify(rp.logs.slice(a.logFrom))).toBe(WELCOME);
  expect(failureCodes(rp, a.logFrom)).toEqual([]);
  const me = await a.agent.get('/me').set('accept', 'application/json');
  expect(me.status).toBe(200);
  expect(me.body.claims.sub).toBe(sub);
  const who = await a.agent.get('/whoami');
  expect(who.body.authenticated).toBe(true);
  return me;
}

/** A shared fake OP + RP for a describe block (test/support/fake-op-fixture.ts). */
function sharedFixture(rpOptions: (op: FakeOp) => OidcAuthOptions = () => ({})): FakeOpFixture {
  return fakeOpFixture((op) => ({ ...baseOptions(op), ...rpOptions(op) }));
}

// ---------------------------------------------------------------------------
// 1. ID token validation (OIDC Core 3.1.3.7)
// ---------------------------------------------------------------------------

describe('ID token validation', () => {
  const f = sharedFixture();

  const rejections: Array<[string, (op: FakeOp) => FakeOpBehaviour, string]> = [
    ['wrong iss', () => ({ idTokenClaims: { iss: 'http://evil.example' } }), 'OIDC_ID_TOKEN_INVALID'],
    ['aud without the client', () => ({ idTokenClaims: { aud: 'another-client' } }), 'OIDC_ID_TOKEN_INVALID'],
    ['aud array without the client', () => ({ idTokenClaims: { aud: ['a', 'b'], azp: 'a' } }), 'OIDC_ID_TOKEN_INVALID'],
    ['several audiences without azp', (op) => ({ idTokenClaims: { aud: [op.clientId, 'another-client'] } }), 'OIDC_ID_TOKEN_INVALID'],
    ['azp of another client', (op) => ({ idTokenClaims: { aud: [op.clientId, 'another-client'], azp: 'another-client' } }), 'OIDC_ID_TOKEN_INVALID'],
    ['expired exp', () => ({ idTokenClaims: { exp: nowSeconds() - 3600, iat: nowSeconds() - 4000 } }), 'OIDC_ID_TOKEN_EXPIRED'],
    ['exp just beyond the 60 s tolerance', () => ({ idTokenClaims: { exp: nowSeconds() - 90 } }), 'OIDC_ID_TOKEN_EXPIRED'],
    ['iat in the future beyond the 60 s tolerance', () => ({ idTokenClaims: { iat: nowSeconds() + 120 } }), 'OIDC_ID_TOKEN_INVALID'],
    ['missing sub', () => ({ idTokenClaims: { sub: undefined } }), 'OIDC_ID_TOKEN_INVALID'],
    ['wrong nonce', () => ({ idTokenClaims: { nonce: 'not-the-nonce-we-sent' } }), 'OIDC_ID_TOKEN_NONCE'],
    ['nonce missing', () => ({ idTokenClaims: { nonce: undefined } }), 'OIDC_ID_TOKEN_NONCE'],
    ['alg none (unsecured) by default', () => ({ idTokenAlg: 'none' }), 'OIDC_ID_TOKEN_ALG'],
    ['signed by a foreign key carrying the real kid', () => ({ idTokenSignWithForeignKey: true }), 'OIDC_ID_TOKEN_SIGNATURE'],
    ['HS256 (client secret MAC) when RS256 is expected', () => ({ idTokenAlg: 'HS256' }), 'OIDC_ID_TOKEN_ALG'],
    // oidc-provider, Keycloak and others list HS256 among the algorithms they support: that must
    // not let whoever holds the client secret mint ID tokens for a client registered for RS256.
    [
      'HS256 (client secret MAC) unpinned, the provider advertising HS256 and RS256',
      () => ({ idTokenAlg: 'HS256', discoveryExtra: { id_token_signing_alg_values_supported: ['HS256', 'RS256'] } }),
      'OIDC_ID_TOKEN_ALG',
    ],
    ['header alg says RS512, not advertised', () => ({ idTokenHeader: { alg: 'RS512' } }), 'OIDC_ID_TOKEN_ALG'],
    ['no id_token in the token response', () => ({ omitIdToken: true }), 'OIDC_ID_TOKEN_MISSING'],
  ];

  it.each(rejections)('rejects: %s', async (_name, behaviour, code) => {
    const op = f.op();
    const rp = f.rp();
    op.set(behaviour(op));
    const a = await attempt(rp);
    await expectRejected(rp, a, code);
  });

  it('accepts a well-formed ID token (baseline for the rejections above)', async () => {
    const a = await attempt(f.rp());
    const me = await expectLoggedIn(f.rp(), a);
    expect(me.body.claims.iss).toBe(f.op().issuer);
  });

  it('accepts iat 30 s in the future (within the 60 s clock tolerance)', async () => {
    f.op().set({ idTokenClaims: { iat: nowSeconds() + 30 } });
    await expectLoggedIn(f.rp(), await attempt(f.rp()));
  });

  it('accepts several audiences when azp is the client', async () => {
    const op = f.op();
    op.set({ idTokenClaims: { aud: [op.clientId, 'another-client'], azp: op.clientId } });
    await expectLoggedIn(f.rp(), await attempt(f.rp()));
  });

  it('accepts HS256 (MAC with the client secret) when signAlgo HS256 is pinned', async () => {
    const op = f.op();
    op.set({ idTokenAlg: 'HS256' });
    const rp = await newRp(op, { signAlgo: 'HS256' });
    await expectLoggedIn(rp, await attempt(rp));
  });

  it('accepts HS256 unpinned only from a provider that offers nothing else', async () => {
    const op = f.op();
    op.set({ idTokenAlg: 'HS256', discoveryExtra: { id_token_signing_alg_values_supported: ['HS256'] } });
    const rp = await newRp(op);
    await expectLoggedIn(rp, await attempt(rp));
  });

  it('rejects HS256 with a MAC under another secret even when HS256 is pinned', async () => {
    const op = f.op();
    op.set({ idTokenAlg: 'HS256', idTokenSignWithForeignKey: true });
    const rp = await newRp(op, { signAlgo: 'HS256' });
    await expectRejected(rp, await attempt(rp), 'OIDC_ID_TOKEN_SIGNATURE');
  });

  it('rejects RS256 when HS256 is pinned', async () => {
    const rp = await newRp(f.op(), { signAlgo: 'HS256' });
    await expectRejected(rp, await attempt(rp), 'OIDC_ID_TOKEN_ALG');
  });

  it.each(['PS256', 'ES256', 'EdDSA'] as const)('accepts %s when pinned with signAlgo', async (alg) => {
    const op = f.op();
    op.set({ idTokenAlg: alg });
    const rp = await newRp(op, { signAlgo: alg });
    await expectLoggedIn(rp, await attempt(rp));
  });

  it('accepts alg none only with allowUnsecuredJwt and a provider advertising it', async () => {
    const op = f.op();
    op.set({ idTokenAlg: 'none', discoveryExtra: { id_token_signing_alg_values_supported: ['RS256', 'none'] } });
    // Advertised but not opted in: still refused.
    const strict = await newRp(op);
    await expectRejected(strict, await attempt(strict), 'OIDC_ID_TOKEN_ALG');
    const lax = await newRp(op, { allowUnsecuredJwt: true });
    await expectLoggedIn(lax, await attempt(lax));
  });
});

// ---------------------------------------------------------------------------
// 1b/2. JWKS: unknown kid, refetch cooldown, key rotation
// ---------------------------------------------------------------------------

describe('JWKS refetch on unknown kid', () => {
  let op: FakeOp;
  beforeAll(async () => {
    op = await startFakeOp();
  });
  afterAll(async () => {
    await op.close();
  });
  beforeEach(() => op.reset());

  it('an unknown kid (key not in the JWKS) is rejected as a signature failure after exactly one refetch; a flood is throttled', async () => {
    const rp = await newRp(op);
    await expectLoggedIn(rp, await attempt(rp)); // the JWKS is now cached
    const fetchedAfterLogin = op.count('/jwks');
    expect(fetchedAfterLogin).toBe(1);

    op.set({ idTokenSignWithForeignKey: true, idTokenHeader: { kid: 'unknown-kid-0' } });
    await expectRejected(rp, await attempt(rp), 'OIDC_ID_TOKEN_SIGNATURE');
    expect(op.count('/jwks')).toBe(fetchedAfterLogin + 1);

    // Five more forged kids at once: the cooldown stops each from triggering its own fetch.
    const before = op.count('/jwks');
    const logFrom = rp.logs.length;
    const flood = await Promise.all(
      [1, 2, 3, 4, 5].map(async (i) => {
        const agent = request.agent(rp.url);
        const callback = await callbackFor(agent);
        op.set({ idTokenHeader: { kid: `unknown-kid-${i}` } });
        const res = await agent.get(callback);
        return { agent, res };
      }),
    );
    for (const { agent, res } of flood) {
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe(FAILED);
      await expectNotAuthenticated(agent);
    }
    expect(failureCodes(rp, logFrom)).toEqual(Array(5).fill('OIDC_ID_TOKEN_SIGNATURE'));
    expect(op.count('/jwks')).toBe(before);
  });

  it('after op.rotateKeys() a new login succeeds: the JWKS is refetched for the new kid', async () => {
    const rp = await newRp(op);
    await expectLoggedIn(rp, await attempt(rp));
    const fetched = op.count('/jwks');
    // Right after the first fetch: a rotation must not wait out a cooldown started by that fetch.
    await op.rotateKeys();
    await expectLoggedIn(rp, await attempt(rp));
    expect(op.count('/jwks')).toBe(fetched + 1);
    // The new key is cached now: further logins need no fetch.
    await expectLoggedIn(rp, await attempt(rp));
    expect(op.count('/jwks')).toBe(fetched + 1);
  });
});

// ---------------------------------------------------------------------------
// 3. State (RFC 6749 10.12)
// ---------------------------------------------------------------------------

describe('state', () => {
  const f = sharedFixture();

  it('rejects a callback without state', async () => {
    const rp = f.rp();
    const agent = request.agent(rp.url);
    const callback = new URL(`http://x${await callbackFor(agent)}`);
    callback.searchParams.delete('state');
    const logFrom = rp.logs.length;
    const grants = f.op().grants('authorization_code');
    const res = await agent.get(callback.pathname + callback.search);
    await expectRejected(rp, { agent, res, logFrom, elapsedMs: 0 }, 'OIDC_STATE_MISSING');
    expect(f.op().grants('authorization_code')).toBe(grants); // the code was never redeemed
  });

  it('rejects a state that was never issued', async () => {
    const rp = f.rp();
    const agent = request.agent(rp.url);
    const callback = new URL(`http://x${await callbackFor(agent)}`);
    callback.searchParams.set('state', 'forged-state-value');
    const logFrom = rp.logs.length;
    const res = await agent.get(callback.pathname + callback.search);
    await expectRejected(rp, { agent, res, logFrom, elapsedMs: 0 }, 'OIDC_STATE_MISMATCH');
  });

  it('rejects a state that was never issued, for a browser with no session at all', async () => {
    const rp = f.rp();
    const agent = request.agent(rp.url);
    const logFrom = rp.logs.length;
    const res = await agent.get(`/oidc/callback?code=abc&state=never-issued&iss=${encodeURIComponent(f.op().issuer)}`);
    await expectRejected(rp, { agent, res, logFrom, elapsedMs: 0 }, 'OIDC_STATE_MISMATCH');
  });

  it('a callback URL is single use: replaying it after a failed first attempt is a state mismatch', async () => {
    const rp = f.rp();
    const op = f.op();
    const agent = request.agent(rp.url);
    const callback = await callbackFor(agent);
    op.set({ idTokenClaims: { nonce: 'wrong' } });
    let logFrom = rp.logs.length;
    const first = await agent.get(callback);
    await expectRejected(rp, { agent, res: first, logFrom, elapsedMs: 0 }, 'OIDC_ID_TOKEN_NONCE');

    op.reset(); // even a now well-behaved provider cannot make the replay work
    const grants = op.grants('authorization_code');
    logFrom = rp.logs.length;
    const replay = await agent.get(callback);
    await expectRejected(rp, { agent, res: replay, logFrom, elapsedMs: 0 }, 'OIDC_STATE_MISMATCH');
    expect(op.grants('authorization_code')).toBe(grants);
  });

  it('a state from another session fails for the browser presenting it (login CSRF), and still works for its owner', async () => {
    const rp = f.rp();
    const agentA = request.agent(rp.url);
    const agentB = request.agent(rp.url);
    await startLogin(agentB); // B has a session with its own state
    const callbackOfA = await callbackFor(agentA);

    const logFrom = rp.logs.length;
    const res = await agentB.get(callbackOfA);
    await expectRejected(rp, { agent: agentB, res, logFrom, elapsedMs: 0 }, 'OIDC_STATE_MISMATCH');

    const own = await agentA.get(callbackOfA);
    await expectLoggedIn(rp, { agent: agentA, res: own, logFrom: rp.logs.length, elapsedMs: 0 });
  });

  it('rejects an expired state (stateTtlSeconds: 1, callback after 1.2 s)', async () => {
    const op = f.op();
    const rp = await newRp(op, { stateTtlSeconds: 1 });
    const agent = request.agent(rp.url);
    const callback = await callbackFor(agent);
    await new Promise((r) => setTimeout(r, 1200));
    const grants = op.grants('authorization_code');
    const res = await agent.get(callback);
    await expectRejected(rp, { agent, res, logFrom: 0, elapsedMs: 0 }, 'OIDC_STATE_EXPIRED');
    expect(op.grants('authorization_code')).toBe(grants);
  });
});

// ---------------------------------------------------------------------------
// 4 + 5. Provider error response, RFC 9207 iss
// ---------------------------------------------------------------------------

describe('authorization response: error and RFC 9207 iss', () => {
  const f = sharedFixture();

  it('a provider error response (access_denied) is OIDC_AUTHORIZATION_ERROR', async () => {
    const op = f.op();
    op.set({ authorizeError: { error: 'access_denied', error_description: 'the user said no' } });
    const a = await attempt(f.rp());
    await expectRejected(f.rp(), a, 'OIDC_AUTHORIZATION_ERROR');
    expect(op.grants('authorization_code')).toBe(0);
  });

  it('an iss of another issuer is OIDC_ISS_MISMATCH (mix-up defence)', async () => {
    f.op().set({ authorizeIss: 'http://evil.example' });
    await expectRejected(f.rp(), await attempt(f.rp()), 'OIDC_ISS_MISMATCH');
  });

  it('an error response with a wrong iss is reported as the iss mismatch', async () => {
    f.op().set({ authorizeIss: 'http://evil.example', authorizeError: { error: 'access_denied' } });
    await expectRejected(f.rp(), await attempt(f.rp()), 'OIDC_ISS_MISMATCH');
  });

  it('an omitted iss is rejected when discovery advertises authorization_response_iss_parameter_supported', async () => {
    f.op().set({ authorizeIss: null });
    await expectRejected(f.rp(), await attempt(f.rp()), 'OIDC_ISS_MISMATCH');
  });

  it('an omitted iss is accepted when the provider does not advertise the parameter', async () => {
    const op = f.op();
    op.set({ authorizeIss: null, discoveryExtra: { authorization_response_iss_parameter_supported: false } });
    const rp = await newRp(op); // discovery is cached per RP: a fresh one reads the new document
    await expectLoggedIn(rp, await attempt(rp));
  });

  it('a wrong iss is still rejected when the provider does not advertise the parameter', async () => {
    const op = f.op();
    op.set({ authorizeIss: 'http://evil.example', discoveryExtra: { authorization_response_iss_parameter_supported: false } });
    const rp = await newRp(op);
    await expectRejected(rp, await attempt(rp), 'OIDC_ISS_MISMATCH');
  });

  it('a response without code is OIDC_CODE_MISSING', async () => {
    const rp = f.rp();
    const agent = request.agent(rp.url);
    const callback = new URL(`http://x${await callbackFor(agent)}`);
    callback.searchParams.delete('code');
    const res = await agent.get(callback.pathname + callback.search);
    await expectRejected(rp, { agent, res, logFrom: 0, elapsedMs: 0 }, 'OIDC_CODE_MISSING');
  });
});

// ---------------------------------------------------------------------------
// 6. Token endpoint
// ---------------------------------------------------------------------------

describe('token endpoint response', () => {
  const f = sharedFixture(() => ({ maxResponseBytes: 4096 }));

  const rejections: Array<[string, FakeOpBehaviour, string]> = [
    ['400 invalid_grant', { tokenStatus: 400, tokenErrorBody: { error: 'invalid_grant', error_description: 'code expired' } }, 'OIDC_OP_ERROR'],
    ['500 with an OAuth error body', { tokenStatus: 500, tokenErrorBody: { error: 'server_error' } }, 'OIDC_OP_ERROR'],
    ['500 with an HTML body', { tokenStatus: 500, tokenRawBody: '<html><body>Internal Server Error</body></html>' }, 'OIDC_HTTP_STATUS'],
    ['500 with an empty JSON object', { tokenStatus: 500, tokenErrorBody: {} }, 'OIDC_HTTP_STATUS'],
    ['200 with a raw non-JSON body', { tokenRawBody: 'access_token=abc&token_type=bearer' }, 'OIDC_TOKEN_RESPONSE_INVALID'],
    ['200 with a JSON array', { tokenRawBody: '[]' }, 'OIDC_TOKEN_RESPONSE_INVALID'],
    ['token_type mac', { tokenBodyOverride: { token_type: 'mac' } }, 'OIDC_TOKEN_RESPONSE_INVALID'],
    ['no token_type', { tokenBodyOverride: { token_type: undefined } }, 'OIDC_TOKEN_RESPONSE_INVALID'],
    ['no access_token', { tokenBodyOverride: { access_token: undefined } }, 'OIDC_TOKEN_RESPONSE_INVALID'],
    ['negative expires_in', { tokenBodyOverride: { expires_in: -5 } }, 'OIDC_TOKEN_RESPONSE_INVALID'],
    ['id_token that is not a string', { tokenBodyOverride: { id_token: 42 } }, 'OIDC_TOKEN_RESPONSE_INVALID'],
    ['response over maxResponseBytes (4096 < 100000)', { tokenResponseBytes: 100_000 }, 'OIDC_HTTP_RESPONSE_TOO_LARGE'],
  ];

  it.each(rejections)('rejects: %s', async (_name, behaviour, code) => {
    const op = f.op();
    op.set(behaviour);
    const grants = op.grants('authorization_code');
    const a = await attempt(f.rp());
    await expectRejected(f.rp(), a, code);
    expect(op.grants('authorization_code')).toBe(grants + 1); // asked once, never retried
  });

  it('accepts token_type "Bearer" in any case and a response just under the size cap', async () => {
    f.op().set({ tokenBodyOverride: { token_type: 'BEARER' }, tokenResponseBytes: 3500 });
    await expectLoggedIn(f.rp(), await attempt(f.rp()));
  });

  it('a token endpoint slower than timeout 0.5 s is OIDC_HTTP_TIMEOUT, and the callback gives up quickly', async () => {
    const op = f.op();
    const rp = await newRp(op, { timeout: 0.5 });
    op.set({ tokenDelayMs: 1500 });
    const a = await attempt(rp);
    await expectRejected(rp, a, 'OIDC_HTTP_TIMEOUT');
    expect(a.elapsedMs).toBeGreaterThanOrEqual(400);
    expect(a.elapsedMs).toBeLessThan(1400);
  });
});

// ---------------------------------------------------------------------------
// 7. Userinfo
// ---------------------------------------------------------------------------

describe('userinfo', () => {
  const f = sharedFixture();

  it('a userinfo sub other than the ID token sub is OIDC_USERINFO_SUB_MISMATCH', async () => {
    const op = f.op();
    op.set({ userinfoClaims: { sub: 'someone-else' } });
    const a = await attempt(f.rp());
    await expectRejected(f.rp(), a, 'OIDC_USERINFO_SUB_MISMATCH');
    expect(op.count('/userinfo')).toBeGreaterThan(0);
  });

  it('with fetchUserinfo: false the same provider behaviour logs in (userinfo is never called)', async () => {
    const op = f.op();
    op.set({ userinfoClaims: { sub: 'someone-else' } });
    const rp = await newRp(op, { fetchUserinfo: false });
    const before = op.count('/userinfo');
    await expectLoggedIn(rp, await attempt(rp));
    expect(op.count('/userinfo')).toBe(before);
  });

  it("fetchUserinfo auto: an ID token carrying the requested scopes' claims logs in without userinfo", async () => {
    const op = f.op();
    // A userinfo answer that would fail the login shows the call is not made.
    op.set({ userinfoClaims: { sub: 'someone-else' } });
    const rp = await newRp(op, { fetchUserinfo: 'auto' });
    const before = op.count('/userinfo');
    const me = await expectLoggedIn(rp, await attempt(rp));
    expect(op.count('/userinfo')).toBe(before);
    expect(me.body.claims.email).toBe('user1@example.com');
  });

  it('fetchUserinfo auto: an ID token without them calls userinfo, whose claims are merged', async () => {
    const op = f.op();
    op.set({ idTokenClaims: { email: undefined, email_verified: undefined }, userinfoClaims: { email: 'from-userinfo@example.com' } });
    const rp = await newRp(op, { fetchUserinfo: 'auto' });
    const before = op.count('/userinfo');
    const me = await expectLoggedIn(rp, await attempt(rp));
    expect(op.count('/userinfo')).toBe(before + 1);
    expect(me.body.claims.email).toBe('from-userinfo@example.com');
  });

  it("fetchUserinfo auto: a scope of the provider's own calls userinfo (its checks apply)", async () => {
    const op = f.op();
    op.set({ userinfoClaims: { sub: 'someone-else' } });
    const rp = await newRp(op, { fetchUserinfo: 'auto', scopes: ['openid', 'email', 'groups'] });
    await expectRejected(rp, await attempt(rp), 'OIDC_USERINFO_SUB_MISMATCH');
  });

  it('userinfo claims are merged, but never override iss/sub', async () => {
    f.op().set({ userinfoClaims: { name: 'Fresh Name', iss: 'http://evil.example' } });
    const me = await expectLoggedIn(f.rp(), await attempt(f.rp()));
    expect(me.body.claims.name).toBe('Fresh Name');
    expect(me.body.claims.iss).toBe(f.op().issuer);
  });
});

// ---------------------------------------------------------------------------
// 8. Discovery
// ---------------------------------------------------------------------------

describe('discovery failures at the login route', () => {
  let op: FakeOp;
  beforeAll(async () => {
    op = await startFakeOp();
  });
  afterAll(async () => {
    await op.close();
  });
  beforeEach(() => op.reset());

  it('a discovery document naming another issuer fails the login route with OIDC_DISCOVERY_ISSUER_MISMATCH', async () => {
    op.set({ discoveryIssuer: 'http://other' });
    const rp = await newRp(op);
    const agent = request.agent(rp.url);
    const res = await agent.get('/oidc/authenticate');
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.status).toBeLessThan(600);
    expect(res.headers.location).toBeUndefined(); // never sent to the provider
    expect(res.body.error).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
    expect(op.count('/authorize')).toBe(0);
    await expectNotAuthenticated(agent);
  });

  it('discovery answering 500 fails the login route with 503 OIDC_DISCOVERY_FAILED; the next attempt retries and works', async () => {
    op.set({ discoveryStatus: 500 });
    const fetchedBefore = op.count('/.well-known/openid-configuration');
    const rp = await newRp(op);
    const agent = request.agent(rp.url);
    const res = await agent.get('/oidc/authenticate');
    expect(res.status).toBe(503);
    expect(res.headers.location).toBeUndefined();
    expect(res.body.error).toBe('OIDC_DISCOVERY_FAILED');
    await expectNotAuthenticated(agent);
    expect(op.count('/.well-known/openid-configuration')).toBe(fetchedBefore + 1);

    op.reset();
    await expectLoggedIn(rp, await attempt(rp, agent));
    expect(op.count('/.well-known/openid-configuration')).toBe(fetchedBefore + 2); // the failure was not cached
  });
});

// ---------------------------------------------------------------------------
// 9. User hooks (mozilla-django-oidc style)
// ---------------------------------------------------------------------------

describe('user hooks', () => {
  let op: FakeOp;
  beforeAll(async () => {
    op = await startFakeOp();
  });
  afterAll(async () => {
    await op.close();
  });
  beforeEach(() => op.reset());

  const hookRp = (hooks: OidcHooks, extra: OidcAuthOptions = {}) => newRp(op, { hooks, ...extra });

  it('verifyClaims returning false is OIDC_CLAIMS_REJECTED', async () => {
    const verifyClaims = vi.fn(() => false);
    const rp = await hookRp({ verifyClaims });
    await expectRejected(rp, await attempt(rp), 'OIDC_CLAIMS_REJECTED');
    expect(verifyClaims).toHaveBeenCalledTimes(1);
  });

  it('verifyClaims returning a truthy non-boolean is still a refusal', async () => {
    const rp = await hookRp({ verifyClaims: (() => 'yes') as unknown as OidcHooks['verifyClaims'] });
    await expectRejected(rp, await attempt(rp), 'OIDC_CLAIMS_REJECTED');
  });

  it('filterUsersByClaims returning two users is OIDC_USER_AMBIGUOUS (no pick)', async () => {
    const updateUser = vi.fn((u: OidcUser) => u);
    const rp = await hookRp({ filterUsersByClaims: () => [{ id: 1 }, { id: 2 }] as OidcUser[], updateUser });
    await expectRejected(rp, await attempt(rp), 'OIDC_USER_AMBIGUOUS');
    expect(updateUser).not.toHaveBeenCalled();
  });

  it('no matching user with createUser: false is OIDC_USER_NOT_FOUND', async () => {
    const createUserHook = vi.fn((c: OidcClaims) => ({ id: 1, email: c.email }) as OidcUser);
    const rp = await hookRp({ filterUsersByClaims: () => [], createUser: createUserHook }, { createUser: false });
    await expectRejected(rp, await attempt(rp), 'OIDC_USER_NOT_FOUND');
    expect(createUserHook).not.toHaveBeenCalled();
  });

  it('default verifyClaims: scope email and no email claim from the provider is OIDC_CLAIMS_REJECTED', async () => {
    op.set({ idTokenClaims: { email: undefined }, userinfoClaims: { email: undefined } });
    const rp = await newRp(op, { scopes: 'openid email' });
    await expectRejected(rp, await attempt(rp), 'OIDC_CLAIMS_REJECTED');
  });

  it('default verifyClaims: without the email scope, no email is fine', async () => {
    op.set({ idTokenClaims: { email: undefined }, userinfoClaims: { email: undefined } });
    const rp = await newRp(op, { scopes: 'openid profile' });
    await expectLoggedIn(rp, await attempt(rp));
  });

  const boom = (): never => {
    throw new Error('hook exploded');
  };
  it.each<[string, OidcHooks]>([
    ['verifyClaims', { verifyClaims: boom }],
    ['filterUsersByClaims (async rejection)', { filterUsersByClaims: async () => boom() }],
    ['createUser', { filterUsersByClaims: () => [], createUser: boom }],
    ['updateUser', { filterUsersByClaims: () => [{ id: 7 }] as OidcUser[], updateUser: boom }],
    ['filterUsersByClaims returning a non-array', { filterUsersByClaims: (() => ({ id: 1 })) as unknown as OidcHooks['filterUsersByClaims'] }],
  ])('a hook that throws (%s) sends to the failure URL, logged as UNEXPECTED plus an error', async (_name, hooks) => {
    const rp = await hookRp(hooks);
    await expectRejected(rp, await attempt(rp), 'UNEXPECTED');
    const errors = rp.logs.filter((l) => l.level === 'error');
    expect(errors.length).toBe(1);
    expect(errors[0]?.message).toBe('unexpected error in the callback');
    expect(typeof errors[0]?.meta?.stack).toBe('string');
  });

  it('async hooks: no match, then createUser creates { id: 42, email } which becomes req.user', async () => {
    const seen: OidcClaims[] = [];
    const rp = await hookRp({
      verifyClaims: async (c) => {
        await new Promise((r) => setTimeout(r, 5));
        return typeof c.email === 'string';
      },
      filterUsersByClaims: async (c) => {
        seen.push(c);
        await new Promise((r) => setTimeout(r, 5));
        return [];
      },
      createUser: async (c) => {
        await new Promise((r) => setTimeout(r, 5));
        return { id: 42, email: c.email } as OidcUser;
      },
    });
    const me = await expectLoggedIn(rp, await attempt(rp));
    expect(me.body.user).toEqual({ id: 42, email: 'user1@example.com' });
    expect(seen[0]?.sub).toBe('user-1');
    const who = await request(rp.url).get('/whoami'); // another browser: still nobody
    expect(who.body.authenticated).toBe(false);
  });

  it('one match: updateUser gets (user, claims) and its result becomes req.user', async () => {
    const existing = { id: 7, email: 'old@example.com' };
    const updateUser = vi.fn(async (user: OidcUser, claims: OidcClaims) => ({ ...(user as object), email: claims.email, updated: true }) as OidcUser);
    const createUserHook = vi.fn(() => ({ id: 999 }) as OidcUser);
    const rp = await hookRp({ filterUsersByClaims: async () => [existing as OidcUser], updateUser, createUser: createUserHook });
    const me = await expectLoggedIn(rp, await attempt(rp));
    expect(updateUser).toHaveBeenCalledTimes(1);
    const [userArg, claimsArg] = updateUser.mock.calls[0] ?? [];
    expect(userArg).toEqual(existing);
    expect(claimsArg).toMatchObject({ sub: 'user-1', iss: op.issuer, email: 'user1@example.com' });
    expect(createUserHook).not.toHaveBeenCalled();
    expect(me.body.user).toEqual({ id: 7, email: 'user1@example.com', updated: true });
  });
});

// ---------------------------------------------------------------------------
// 10. A failed login does not touch an already authenticated session
// ---------------------------------------------------------------------------

describe('failed login on an already authenticated session', () => {
  const f = sharedFixture();

  const failures: Array<[string, (op: FakeOp) => FakeOpBehaviour, string]> = [
    ['ID token for someone else with a wrong iss', () => ({ idTokenClaims: { sub: 'intruder', iss: 'http://evil.example' } }), 'OIDC_ID_TOKEN_INVALID'],
    ['provider error response', () => ({ authorizeError: { error: 'access_denied' } }), 'OIDC_AUTHORIZATION_ERROR'],
    ['userinfo of someone else', () => ({ userinfoClaims: { sub: 'intruder' } }), 'OIDC_USERINFO_SUB_MISMATCH'],
  ];

  it.each(failures)('%s: still signed in as before, same session', async (_name, behaviour, code) => {
    const rp = f.rp();
    const op = f.op();
    const first = await attempt(rp);
    const before = await expectLoggedIn(rp, first);

    op.set(behaviour(op));
    const logFrom = rp.logs.length;
    const callback = await callbackFor(first.agent);
    const res = await first.agent.get(callback);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(FAILED);
    expect(res.headers['set-cookie']).toBeUndefined(); // no new session id was issued
    expect(failureCodes(rp, logFrom)).toEqual([code]);

    const after = await first.agent.get('/me').set('accept', 'application/json');
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
    const who = await first.agent.get('/whoami');
    expect(who.body.authenticated).toBe(true);
    expect(who.body.user.sub).toBe('user-1');
  });

  it('a forged error callback (state never issued) leaves the session signed in', async () => {
    const rp = f.rp();
    const first = await attempt(rp);
    const before = await expectLoggedIn(rp, first);
    const logFrom = rp.logs.length;
    const res = await first.agent.get('/oidc/callback?error=access_denied&state=forged');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(FAILED);
    expect(failureCodes(rp, logFrom)).toEqual(['OIDC_STATE_MISMATCH']);
    const after = await first.agent.get('/me').set('accept', 'application/json');
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
  });
});
