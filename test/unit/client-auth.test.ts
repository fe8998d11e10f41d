/**
 * src/protocol/client-auth.ts: every client authentication method (OIDC Core 9, RFC 6749 2.3.1,
 * RFC 7523, RFC 8705), the automatic choice, and the assertion's audience and claims.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import {
  JWT_BEARER_ASSERTION,
  assertionAudience,
  authenticateClient,
  chooseClientAuthMethod,
  type ClientAuthMethod,
  type ClientCredentials,
  type ClientAuthTarget,
} from '../../src/protocol/client-auth.js';
import { clientAssertionKey, publicJwkFor } from '../../src/keys/client-assertion-key.js';

const TARGET: ClientAuthTarget = { issuer: 'https://op.example', tokenEndpoint: 'https://op.example/token', supportedMethods: undefined };

function creds(over: Partial<ClientCredentials> = {}): ClientCredentials {
  return {
    clientId: 'client-1',
    clientSecret: 'secret-1',
    assertionKey: undefined,
    hasCertificate: false,
    method: undefined,
    audience: 'token_endpoint',
    ...over,
  };
}

/** The old two-method call: basic (true) or post (false), to the token endpoint. */
function secretAuth(c: { clientId: string; clientSecret: string; useBasicAuth: boolean }, form: Record<string, string>) {
  const method: ClientAuthMethod = c.useBasicAuth ? 'client_secret_basic' : 'client_secret_post';
  return authenticateClient(creds({ clientId: c.clientId, clientSecret: c.clientSecret }), method, TARGET, TARGET.tokenEndpoint, form);
}

function decodeBasic(header: string | undefined): [string, string] {
  expect(header).toMatch(/^Basic [A-Za-z0-9+/]+=*$/);
  const decoded = Buffer.from((header as string).slice('Basic '.length), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return [decoded.slice(0, i), decoded.slice(i + 1)];
}

describe('authenticateClient: client_secret_basic (RFC 6749 2.3.1)', () => {
  it('puts id:secret base64 in the Authorization header and leaves the form alone', async () => {
    const form = { grant_type: 'authorization_code', code: 'c' };
    const r = await secretAuth({ clientId: 'client-1', clientSecret: 'secret-1', useBasicAuth: true }, form);
    expect(decodeBasic(r.headers.authorization)).toEqual(['client-1', 'secret-1']);
    expect(r.form).toEqual({ grant_type: 'authorization_code', code: 'c' });
    expect(r.form).not.toHaveProperty('client_secret');
    expect(r.form).not.toHaveProperty('client_id');
  });

  it('2.3.1: the secret "a:b%c d" is form-urlencoded before base64 -> "a%3Ab%25c+d"', async () => {
    const r = await secretAuth({ clientId: 'client-1', clientSecret: 'a:b%c d', useBasicAuth: true }, {});
    const [id, secret] = decodeBasic(r.headers.authorization);
    expect(id).toBe('client-1');
    expect(secret).toBe('a%3Ab%25c+d');
  });

  it('2.3.1: the client id is form-urlencoded too (a ":" in it cannot split the pair)', async () => {
    const r = await secretAuth({ clientId: 'urn:client 1', clientSecret: 's', useBasicAuth: true }, {});
    expect(decodeBasic(r.headers.authorization)).toEqual(['urn%3Aclient+1', 's']);
  });

  it('2.3.1: the encoded pair decodes back to the original values with form decoding', async () => {
    const id = 'id:ü+&=/';
    const secret = 'sé cret:%+&=?#/';
    const r = await secretAuth({ clientId: id, clientSecret: secret, useBasicAuth: true }, {});
    const [encId, encSecret] = decodeBasic(r.headers.authorization);
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    expect(formDecode(encId)).toBe(id);
    expect(formDecode(encSecret)).toBe(secret);
  });
});

describe('authenticateClient: client_secret_post (OIDC Core 9)', () => {
  it('puts client_id and client_secret in the form, sends no Authorization header', async () => {
    const form = { grant_type: 'refresh_token', refresh_token: 'rt' };
    const r = await secretAuth({ clientId: 'client-1', clientSecret: 'a:b%c d', useBasicAuth: false }, form);
    expect(r.form).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt', client_id: 'client-1', client_secret: 'a:b%c d' });
    expect(r.headers).toEqual({});
  });

  it("does not mutate the caller's form object", async () => {
    const form = { grant_type: 'refresh_token' };
    await secretAuth({ clientId: 'c', clientSecret: 's', useBasicAuth: false }, form);
    expect(form).toEqual({ grant_type: 'refresh_token' });
  });
});

const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const ecJwk = { ...(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JWK), kid: 'my-key-1' };

describe('private_key_jwt (RFC 7523 2.2, 3; OIDC Core 9)', () => {
  it('sends client_id, the jwt-bearer assertion type and an assertion signed with the key, verifiable with the public JWK to register', async () => {
    const c = creds({ clientSecret: undefined, assertionKey: clientAssertionKey(rsaPem, 'PS256') });
    const r = await authenticateClient(c, 'private_key_jwt', TARGET, TARGET.tokenEndpoint, { grant_type: 'refresh_token' });
    expect(r.headers).toEqual({});
    expect(r.form).toMatchObject({ grant_type: 'refresh_token', client_id: 'client-1', client_assertion_type: JWT_BEARER_ASSERTION });
    expect(r.form).not.toHaveProperty('client_secret');
    const pub = await publicJwkFor(rsaPem, 'PS256');
    expect(pub).not.toHaveProperty('d');
    const header = decodeProtectedHeader(r.form.client_assertion as string);
    // A PEM key's kid is its RFC 7638 thumbprint, as publicJwkFor prints it for registration.
    expect(header).toEqual({ alg: 'PS256', kid: pub.kid });
    const { payload } = await jwtVerify(r.form.client_assertion as string, await importJWK(pub, 'PS256'), { audience: TARGET.tokenEndpoint });
    expect(payload.iss).toBe('client-1');
    expect(payload.sub).toBe('client-1');
    expect(typeof payload.jti).toBe('string');
    expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(60);
    expect(typeof payload.aud).toBe('string');
  });

  it('a JWK keeps its own kid; every assertion has a new jti', async () => {
    const c = creds({ assertionKey: clientAssertionKey(JSON.stringify(ecJwk), 'ES256') });
    const [a, b] = await Promise.all([
      authenticateClient(c, 'private_key_jwt', TARGET, TARGET.tokenEndpoint, {}),
      authenticateClient(c, 'private_key_jwt', TARGET, TARGET.tokenEndpoint, {}),
    ]);
    expect(decodeProtectedHeader(a.form.client_assertion as string)).toEqual({ alg: 'ES256', kid: 'my-key-1' });
    expect(decodeJwt(a.form.client_assertion as string).jti).not.toBe(decodeJwt(b.form.client_assertion as string).jti);
  });

  it('aud: token endpoint by default, the issuer, the endpoint called, or a fixed value', () => {
    expect(assertionAudience('token_endpoint', TARGET, 'https://op.example/par')).toBe('https://op.example/token');
    expect(assertionAudience('issuer', TARGET, 'https://op.example/par')).toBe('https://op.example');
    expect(assertionAudience('endpoint', TARGET, 'https://op.example/par')).toBe('https://op.example/par');
    expect(assertionAudience({ fixed: 'https://op.example/' }, TARGET, 'https://op.example/par')).toBe('https://op.example/');
  });
});

describe('client_secret_jwt (RFC 7523 2.2 with HS256, OIDC Core 9)', () => {
  it('signs the assertion with the secret; no secret is sent', async () => {
    const r = await authenticateClient(creds(), 'client_secret_jwt', TARGET, 'https://op.example/revoke', {});
    expect(r.form).not.toHaveProperty('client_secret');
    const { payload, protectedHeader } = await jwtVerify(r.form.client_assertion as string, new TextEncoder().encode('secret-1'));
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.aud).toBe(TARGET.tokenEndpoint);
  });
});

describe('mTLS and public clients (RFC 8705 2, RFC 6749 2.1)', () => {
  it.each(['tls_client_auth', 'self_signed_tls_client_auth', 'none'] as const)('%s sends the client id only', async (method) => {
    const r = await authenticateClient(creds({ clientSecret: undefined }), method, TARGET, TARGET.tokenEndpoint, { token: 't' });
    expect(r).toEqual({ form: { token: 't', client_id: 'client-1' }, headers: {} });
  });
});

describe('chooseClientAuthMethod', () => {
  const pick = (c: ClientCredentials, supported?: string[]) => chooseClientAuthMethod(c, { ...TARGET, supportedMethods: supported }, 'clientAuthMethod');

  it('a configured method is used as is', () => {
    expect(pick(creds({ method: 'client_secret_post' }), ['client_secret_basic'])).toBe('client_secret_post');
  });
  it('with a secret and no advertised methods: client_secret_basic (OIDC Discovery 3 default)', () => {
    expect(pick(creds())).toBe('client_secret_basic');
  });
  it('with a secret, the first the provider lists among basic, post, jwt', () => {
    expect(pick(creds(), ['client_secret_post', 'private_key_jwt'])).toBe('client_secret_post');
  });
  it('a configured key is for private_key_jwt, when the provider supports it', () => {
    expect(pick(creds({ assertionKey: clientAssertionKey(rsaPem, 'RS256') }), ['client_secret_basic', 'private_key_jwt'])).toBe('private_key_jwt');
  });
  it('nothing fits: a configuration error naming the option, the supported and the possible methods', () => {
    expect(() => pick(creds({ clientSecret: undefined, assertionKey: clientAssertionKey(rsaPem, 'RS256') }), ['client_secret_basic'])).toThrow(
      /no client authentication method fits: the provider supports client_secret_basic, the configured credentials allow private_key_jwt; set option clientAuthMethod/,
    );
  });
});
