/**
 * Client authentication, PAR, DPoP and `profile: 'fapi2'` as the configuration decides them
 * (src/config/security-profile.ts): the credentials each method needs, nothing configured going
 * unused, and every explicit setting weaker than FAPI 2.0 refused by name.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import type { OidcError } from '../../src/errors.js';
import type { OidcAuthOptions } from '../../src/types.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const p384Pem = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const edJwk = JSON.stringify(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
const publicPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string;

/** test/fixtures' certificate and key (the mTLS methods need a client certificate). */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

const BASE: OidcAuthOptions = { clientId: 'client-1', baseUrl: 'https://app.example.com', issuer: 'https://op.example.com', logger: silent };

function resolve(options: OidcAuthOptions, env: Record<string, string> = {}) {
  return resolveConfig({ ...BASE, ...options, env });
}

function problems(options: OidcAuthOptions, env: Record<string, string> = {}): readonly string[] {
  try {
    resolve(options, env);
  } catch (err) {
    return (err as OidcError).problems ?? [];
  }
  return [];
}

describe('client authentication settings', () => {
  it('a secret alone: the method is left to the provider metadata (client_secret_basic unless it says otherwise)', () => {
    const c = resolve({ clientSecret: 's' });
    expect(c.security.clientAuthMethod).toBeUndefined();
    expect(c.security.assertionAudience).toBe('token_endpoint');
  });

  it('no secret, key nor method: clientSecret is required, and the message says what else would do', () => {
    expect(problems({})).toEqual([
      expect.stringContaining('option "clientSecret" (env OIDC_RP_CLIENT_SECRET) is required (or authenticate with "clientAssertionSigningKey"'),
    ]);
  });

  it('clientAuthMethod none is a public client: no secret needed, a secret given is refused as unused', () => {
    expect(resolve({ clientAuthMethod: 'none' }).security.clientAuthMethod).toBe('none');
    expect(problems({ clientAuthMethod: 'none', clientSecret: 's' })).toEqual([expect.stringContaining('none sends no secret')]);
  });

  it('each method names what it lacks', () => {
    expect(problems({ clientAuthMethod: 'client_secret_jwt' })).toEqual([
      expect.stringContaining('"clientSecret" (env OIDC_RP_CLIENT_SECRET) is required for'),
    ]);
    expect(problems({ clientAuthMethod: 'private_key_jwt' })).toEqual([
      expect.stringContaining('"clientAssertionSigningKey" (env OIDC_RP_CLIENT_ASSERTION_KEY) is required for'),
    ]);
  });

  it('a key with a secret method is refused as unused; an assertion setting without a key too', () => {
    expect(problems({ clientSecret: 's', clientAuthMethod: 'client_secret_basic', clientAssertionSigningKey: rsaPem })).toEqual([
      expect.stringContaining('is set but "clientAuthMethod" (env OIDC_RP_CLIENT_AUTH_METHOD) client_secret_basic does not use it'),
    ]);
    expect(problems({ clientSecret: 's', clientAssertionSigningAlg: 'ES256' })).toEqual([expect.stringContaining('needs "clientAssertionSigningKey"')]);
    expect(problems({ clientSecret: 's', clientAuthMethod: 'client_secret_post', clientAssertionAudience: 'issuer' })).toEqual([
      expect.stringContaining('sends no assertion'),
    ]);
  });

  it('tokenUseBasicAuth maps to a method, and contradicting clientAuthMethod is refused', () => {
    expect(resolve({ clientSecret: 's', tokenUseBasicAuth: false }).security.clientAuthMethod).toBe('client_secret_post');
    expect(problems({ clientSecret: 's', tokenUseBasicAuth: true, clientAuthMethod: 'client_secret_post' })).toEqual([
      expect.stringContaining('says client_secret_basic but "clientAuthMethod"'),
    ]);
  });

  it('an empty OIDC_TOKEN_USE_BASIC_AUTH / OIDC_PAR / OIDC_DPOP leaves the choice to the library', () => {
    const c = resolve({ clientSecret: 's' }, { OIDC_TOKEN_USE_BASIC_AUTH: '', OIDC_PAR: '', OIDC_DPOP: '' });
    expect(c.security).toMatchObject({ clientAuthMethod: undefined, par: undefined, dpop: false });
  });

  it('the assertion algorithm defaults from the key and must fit it', () => {
    expect(resolve({ clientAssertionSigningKey: rsaPem }).security.assertionAlg).toBe('RS256');
    expect(resolve({ clientAssertionSigningKey: p384Pem }).security.assertionAlg).toBe('ES384');
    expect(resolve({ clientAssertionSigningKey: edJwk }).security.assertionAlg).toBe('EdDSA');
    expect(resolve({ clientAssertionSigningKey: rsaPem, clientAssertionSigningAlg: 'PS384' }).security.assertionAlg).toBe('PS384');
    expect(problems({ clientAssertionSigningKey: rsaPem, clientAssertionSigningAlg: 'ES256' })).toEqual([
      expect.stringContaining('is ES256, which this key cannot sign with; it can sign RS256'),
    ]);
  });

  it('a PEM given in the env with literal \\n escapes is read as PEM', () => {
    const oneLine = rsaPem.trim().replace(/\n/g, '\\n');
    expect(resolve({}, { OIDC_RP_CLIENT_ASSERTION_KEY: oneLine }).security.assertionAlg).toBe('RS256');
  });

  it.each([
    ['a public key', publicPem, 'not a private key'],
    ['a public JWK', JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })), 'is a public JWK'],
    ['a JWKS', JSON.stringify({ keys: [] }), 'is a JWKS'],
    ['a symmetric JWK', JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }), 'symmetric'],
    ['text', 'hello', 'neither a PEM private key'],
    [
      'a 1024-bit RSA key',
      generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
      'under 2048 bits',
    ],
  ])('clientAssertionSigningKey refuses %s', (_what, key, why) => {
    expect(problems({ clientAssertionSigningKey: key })).toEqual([
      expect.stringMatching(new RegExp(`^option "clientAssertionSigningKey" \\(env OIDC_RP_CLIENT_ASSERTION_KEY\\) .*${why}`)),
    ]);
  });

  it('clientAssertionAudience: a fixed URL, or one of the words', () => {
    expect(resolve({ clientAssertionSigningKey: rsaPem, clientAssertionAudience: 'https://op.example.com/' }).security.assertionAudience).toEqual({
      fixed: 'https://op.example.com/',
    });
    expect(problems({ clientAssertionSigningKey: rsaPem, clientAssertionAudience: 'the-op' })).toEqual([
      expect.stringContaining('must be token_endpoint, issuer, endpoint or a URL'),
    ]);
  });
});

describe("profile: 'fapi2'", () => {
  const fapi = (over: OidcAuthOptions = {}) => ({ profile: 'fapi2' as const, clientAssertionSigningKey: rsaPem, ...over });

  it('turns on PAR, DPoP, the iss check, issuer-audience PS256 assertions and FAPI ID token algorithms', () => {
    expect(resolve(fapi()).security).toEqual({
      fapi2: true,
      clientAuthMethod: 'private_key_jwt',
      assertionAlg: 'PS256',
      assertionAudience: 'issuer',
      par: true,
      dpop: true,
      requireIssParameter: true,
      idTokenAlgs: ['PS256', 'ES256', 'EdDSA', 'Ed25519'],
    });
  });

  it('mTLS client authentication binds the tokens: DPoP is then not turned on by default', () => {
    const certificate = { clientCertificate: fixture('localhost-cert.pem'), clientKey: fixture('localhost-key.pem') };
    expect(resolve(fapi({ clientAssertionSigningKey: undefined, clientAuthMethod: 'tls_client_auth', ...certificate })).security).toMatchObject({
      dpop: false,
    });
  });

  it.each([
    [
      'clientAuthMethod',
      { clientAssertionSigningKey: undefined, clientSecret: 's', clientAuthMethod: 'client_secret_basic' as const },
      'private_key_jwt or mTLS only',
    ],
    ['tokenUseBasicAuth', { tokenUseBasicAuth: true, clientAssertionSigningKey: undefined, clientSecret: 's' }, 'private_key_jwt or mTLS only'],
    ['clientSecret', { clientSecret: 's' }, 'no client_secret_* authentication'],
    ['pushedAuthorizationRequests', { pushedAuthorizationRequests: false }, 'authorization requests are pushed'],
    ['usePkce', { usePkce: false }, 'PKCE with S256 is required'],
    ['dpop', { dpop: false }, 'must be sender-constrained'],
    ['signAlgo', { signAlgo: 'RS256' }, 'only PS256, ES256, EdDSA, Ed25519'],
    ['clientAssertionSigningAlg', { clientAssertionSigningAlg: 'RS256' as const }, 'only PS256, ES256, EdDSA, Ed25519'],
    ['clientAssertionSigningKey', { clientAssertionSigningKey: p384Pem }, 'signs with ES384'],
    ['dpopSigningAlg', { dpopSigningAlg: 'RS256' as const }, 'only PS256, ES256, EdDSA, Ed25519'],
    ['clientAssertionAudience', { clientAssertionAudience: 'token_endpoint' }, 'must be issuer'],
    ['allowUnsecuredJwt', { allowUnsecuredJwt: true, signAlgo: 'none' }, "must not be true under profile 'fapi2'"],
    ['verifySsl', { verifySsl: false }, 'TLS server certificates are checked'],
    [
      'issuer',
      { issuer: undefined, authorizationEndpoint: 'https://op.example.com/a', tokenEndpoint: 'https://op.example.com/t', jwksUri: 'https://op.example.com/j' },
      'is required',
    ],
  ] as const)('a weaker explicit %s fails at start-up, naming it and the FAPI 2.0 requirement', (name, over, why) => {
    const found = problems(fapi(over as OidcAuthOptions));
    expect(
      found.some((p) => p.startsWith(`option "${name}" `) && p.includes(why) && p.includes("profile 'fapi2'")),
      found.join('\n'),
    ).toBe(true);
  });

  it('without a key or an mTLS method the client cannot authenticate as FAPI 2.0 asks', () => {
    expect(problems({ profile: 'fapi2' })).toContainEqual(
      expect.stringContaining('"clientAssertionSigningKey" (env OIDC_RP_CLIENT_ASSERTION_KEY) is required under'),
    );
  });

  it('OIDC_PROFILE=fapi2 from the env works the same', () => {
    expect(resolve({ clientAssertionSigningKey: rsaPem }, { OIDC_PROFILE: 'fapi2' }).security.fapi2).toBe(true);
    expect(problems({ clientAssertionSigningKey: rsaPem }, { OIDC_PROFILE: 'fapi1' })).toEqual([expect.stringContaining('must be fapi2')]);
  });
});
