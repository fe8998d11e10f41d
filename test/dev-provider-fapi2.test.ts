// The dev provider's FAPI 2.0 mode (examples/dev-provider.ts, `profile: 'fapi2'`) driven by hand,
// before any RP side exists for it: discovery says what the profile requires, a pushed
// authorization request (RFC 9126) authenticated by a private_key_jwt assertion minted here is
// accepted, and the whole code flow completes with DPoP proofs carrying server nonces (RFC 9449 8),
// PS256 ID tokens and rotating refresh tokens.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, decodeProtectedHeader, type CryptoKey, type JWK } from 'jose';
import { startDevProvider, type DevProvider } from '../examples/dev-provider.js';
import { completeProviderLogin } from './support/provider-login.js';
import { jwtPayload } from './support/jwt.js';

const CLIENT_ID = 'fapi-client';
const REDIRECT_URI = 'http://127.0.0.1:9/cb';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

describe('dev provider, FAPI 2.0 mode', () => {
  let op: DevProvider;
  let discovery: Record<string, unknown>;
  let clientKey: CryptoKey;
  let dpopKey: { privateKey: CryptoKey; jwk: JWK };

  beforeAll(async () => {
    const client = await generateKeyPair('PS256', { extractable: true });
    clientKey = client.privateKey;
    const dpop = await generateKeyPair('ES256', { extractable: true });
    dpopKey = { privateKey: dpop.privateKey, jwk: await exportJWK(dpop.publicKey) };
    op = await startDevProvider({
      profile: 'fapi2',
      clients: [
        {
          client_id: CLIENT_ID,
          redirect_uris: [REDIRECT_URI],
          // private_key_jwt by default in this mode: the client's public key is all it registers.
          jwks: { keys: [{ ...(await exportJWK(client.publicKey)), kid: 'rp-1', alg: 'PS256', use: 'sig' }] },
        },
      ],
    });
    discovery = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  });

  afterAll(async () => {
    await op?.close();
  });

  /** RFC 7523 2.2 / OIDC Core 9: the client assertion; FAPI 2.0 wants the issuer as its audience. */
  const clientAssertion = () =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'PS256', kid: 'rp-1' })
      .setIssuer(CLIENT_ID)
      .setSubject(CLIENT_ID)
      .setAudience(op.issuer)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(clientKey);

  /** RFC 9449 4.2: a DPoP proof for one request. */
  const dpopProof = (url: string, nonce?: string) =>
    new SignJWT({ htm: 'POST', htu: url, ...(nonce !== undefined && { nonce }) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopKey.jwk })
      .setJti(randomUUID())
      .setIssuedAt()
      .sign(dpopKey.privateKey);

  async function post(url: string, params: Record<string, string>, opts: { auth?: boolean; dpopNonce?: string | null } = {}): Promise<Answer> {
    const body = new URLSearchParams(params);
    if (opts.auth !== false) {
      body.set('client_id', CLIENT_ID);
      body.set('client_assertion_type', ASSERTION_TYPE);
      body.set('client_assertion', await clientAssertion());
    }
    const headers: Record<string, string> = {};
    if (opts.dpopNonce !== undefined) headers.dpop = await dpopProof(url, opts.dpopNonce ?? undefined);
    const res = await fetch(url, { method: 'POST', body, headers });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }

  /** A DPoP-protected request: the first proof has no nonce, the server answers use_dpop_nonce with one (RFC 9449 8). */
  async function postWithDpop(url: string, params: Record<string, string>): Promise<Answer & { challenged: boolean }> {
    const first = await post(url, params, { dpopNonce: null });
    if (first.status !== 400 || first.body.error !== 'use_dpop_nonce') return { ...first, challenged: false };
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toBeTruthy();
    return { ...(await post(url, params, { dpopNonce: nonce as string })), challenged: true };
  }

  function authorizationParams() {
    const verifier = randomBytes(32).toString('base64url');
    const params = {
      response_type: 'code',
      scope: 'openid email offline_access',
      redirect_uri: REDIRECT_URI,
      state: randomBytes(16).toString('base64url'),
      nonce: randomBytes(16).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    };
    return { params, verifier };
  }

  it('discovery says what the profile requires', async () => {
    expect(discovery).toMatchObject({
      issuer: op.issuer,
      pushed_authorization_request_endpoint: `${op.issuer}/request`,
      require_pushed_authorization_requests: true,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
    for (const key of ['dpop_signing_alg_values_supported', 'id_token_signing_alg_values_supported', 'token_endpoint_auth_signing_alg_values_supported']) {
      const algs = discovery[key] as string[];
      expect(algs, key).toEqual(expect.arrayContaining(['PS256', 'ES256']));
      expect(
        algs.filter((a) => a.startsWith('RS') || a.startsWith('HS')),
        key,
      ).toEqual([]);
    }
    // The signing keys behind PS256 and ES256 ID tokens.
    const jwks = (await (await fetch(String(discovery.jwks_uri))).json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => (k.kty === 'EC' ? `EC ${k.crv}` : k.kty))).toEqual(expect.arrayContaining(['RSA', 'EC P-256']));
  });

  it('accepts a pushed authorization request authenticated by a private_key_jwt assertion (RFC 9126 2)', async () => {
    const par = await post(String(discovery.pushed_authorization_request_endpoint), authorizationParams().params);
    expect(par.status, JSON.stringify(par.body)).toBe(201);
    expect(par.body.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(par.body.expires_in).toBeGreaterThan(0);
  });

  it('refuses an unauthenticated pushed request, and an authorization request that was not pushed', async () => {
    const { params } = authorizationParams();
    const par = await post(String(discovery.pushed_authorization_request_endpoint), { ...params, client_id: CLIENT_ID }, { auth: false });
    expect(par.status).toBe(401);
    expect(par.body.error).toBe('invalid_client');

    const direct = new URL(String(discovery.authorization_endpoint));
    direct.search = new URLSearchParams({ ...params, client_id: CLIENT_ID }).toString();
    const back = new URL(await completeProviderLogin(direct.href));
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/Pushed Authorization Request must be used/);
  });

  it('a DPoP proof without the server nonce is answered use_dpop_nonce with a DPoP-Nonce header (RFC 9449 8)', async () => {
    const url = String(discovery.pushed_authorization_request_endpoint);
    const first = await post(url, authorizationParams().params, { dpopNonce: null });
    expect(first.status).toBe(400);
    expect(first.body.error).toBe('use_dpop_nonce');
    expect(first.headers.get('dpop-nonce')).toBeTruthy();
  });

  it('completes the code flow: PAR, login, DPoP-bound tokens with a PS256 ID token, a rotating refresh token', async () => {
    const { params, verifier } = authorizationParams();
    const par = await postWithDpop(String(discovery.pushed_authorization_request_endpoint), params);
    expect(par.status, JSON.stringify(par.body)).toBe(201);

    const authorize = new URL(String(discovery.authorization_endpoint));
    authorize.search = new URLSearchParams({ client_id: CLIENT_ID, request_uri: String(par.body.request_uri) }).toString();
    const back = new URL(await completeProviderLogin(authorize.href, { login: 'alice' }));
    expect(back.searchParams.get('error'), back.href).toBeNull();
    expect(back.searchParams.get('state')).toBe(params.state);
    expect(back.searchParams.get('iss')).toBe(op.issuer);
    const code = back.searchParams.get('code') as string;

    const tokenUrl = String(discovery.token_endpoint);
    const grant = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
    // dpop_bound_access_tokens (on by default in this mode), and the code is bound to the DPoP key
    // of the pushed request (RFC 9449 10): no proof, no tokens.
    const bare = await post(tokenUrl, grant);
    expect(bare.status).toBe(400);
    expect(bare.body.error).toBe('invalid_grant');

    const tokens = await postWithDpop(tokenUrl, grant);
    expect(tokens.challenged).toBe(true);
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
    expect(tokens.body.token_type).toBe('DPoP');
    const idToken = String(tokens.body.id_token);
    expect(decodeProtectedHeader(idToken).alg).toBe('PS256');
    expect(jwtPayload(idToken)).toMatchObject({ iss: op.issuer, aud: CLIENT_ID, sub: 'alice', nonce: params.nonce });
    expect(tokens.body.refresh_token).toBeTruthy();

    const refreshed = await postWithDpop(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(refreshed.body.token_type).toBe('DPoP');
    expect(refreshed.body.refresh_token).toBeTruthy();
    expect(refreshed.body.refresh_token).not.toBe(tokens.body.refresh_token);
  });
});
