/**
 * The TLS options of src/config.ts: the client certificate and key of mutual TLS (RFC 8705) and
 * the extra CA bundle, parsed with node:crypto at start-up; every problem names option and env var.
 * The certificate and key are test/fixtures' self-signed pair for 127.0.0.1.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { isOidcError, type OidcError } from '../../src/errors.js';
import type { OidcAuthOptions } from '../../src/types.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const CERT = fixture('localhost-cert.pem');
const KEY = fixture('localhost-key.pem');
const OTHER_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const BASE: OidcAuthOptions = {
  clientId: 'client-1',
  clientSecret: 'secret-1',
  baseUrl: 'https://app.example.com',
  issuer: 'https://op.example.com',
  logger: silent,
};

const resolve = (options: OidcAuthOptions = {}, env: Record<string, string | undefined> = {}) => resolveConfig({ ...BASE, ...options, env });

/** The problems resolveConfig reports (it must throw OIDC_CONFIG_INVALID). */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(isOidcError(err)).toBe(true);
    expect((err as OidcError).code).toBe('OIDC_CONFIG_INVALID');
    return (err as OidcError & { problems: string[] }).problems;
  }
  throw new Error('expected resolveConfig to throw');
}

const CERT_REF = 'option "clientCertificate" (env OIDC_RP_CLIENT_CERTIFICATE)';
const KEY_REF = 'option "clientKey" (env OIDC_RP_CLIENT_KEY)';
const CA_REF = 'option "caCertificates" (env OIDC_CA_CERTIFICATES)';

/** A PEM on one line with literal \n escapes, as PaaS env settings hold it. */
const oneLine = (pem: string) => pem.trim().replaceAll('\n', '\\n');

describe('clientCertificate and clientKey (RFC 8705 mutual TLS)', () => {
  it('are absent by default', () => {
    const cfg = resolve();
    expect(cfg.clientCertificate).toBeUndefined();
    expect(cfg.clientKey).toBeUndefined();
    expect(cfg.caCertificates).toBeUndefined();
  });

  it('a certificate with its key is accepted, in code or in the env', () => {
    expect(resolve({ clientCertificate: CERT, clientKey: KEY })).toMatchObject({ clientCertificate: CERT, clientKey: KEY });
    const fromEnv = resolve({}, { OIDC_RP_CLIENT_CERTIFICATE: CERT, OIDC_RP_CLIENT_KEY: KEY });
    expect(fromEnv).toMatchObject({ clientCertificate: CERT.trim(), clientKey: KEY.trim() });
  });

  it('in the env, a PEM written on one line with literal \\n escapes is accepted', () => {
    const cfg = resolve({}, { OIDC_RP_CLIENT_CERTIFICATE: oneLine(CERT), OIDC_RP_CLIENT_KEY: oneLine(KEY), OIDC_CA_CERTIFICATES: oneLine(CERT) });
    expect(cfg.clientCertificate).toBe(CERT.trim());
    expect(cfg.clientKey).toBe(KEY.trim());
    expect(cfg.caCertificates).toBe(CERT.trim());
    // \r\n escapes too (a PEM copied from a Windows file).
    expect(resolve({}, { OIDC_CA_CERTIFICATES: CERT.trim().replaceAll('\n', '\\r\\n') }).caCertificates).toBe(CERT.trim());
  });

  it('a certificate chain (leaf first) is accepted; the key must be the first certificate', () => {
    const chain = `${CERT}${CERT}`;
    expect(resolve({ clientCertificate: chain, clientKey: KEY }).clientCertificate).toBe(chain);
  });

  it('a certificate without its key, or a key without its certificate, is refused naming the other', () => {
    expect(problems(() => resolve({ clientCertificate: CERT }))).toEqual([`${KEY_REF} is required with "clientCertificate" (env OIDC_RP_CLIENT_CERTIFICATE)`]);
    expect(problems(() => resolve({}, { OIDC_RP_CLIENT_KEY: KEY }))).toEqual([`${CERT_REF} is required with "clientKey" (env OIDC_RP_CLIENT_KEY)`]);
  });

  it('a key that is not the certificate’s is refused', () => {
    const [problem] = problems(() => resolve({ clientCertificate: CERT, clientKey: OTHER_KEY }));
    expect(problem).toBe(
      `${KEY_REF} is not the private key of the certificate in option "clientCertificate" (env OIDC_RP_CLIENT_CERTIFICATE) (subject "CN=127.0.0.1")`,
    );
  });

  it('a public key given as clientKey is refused (as such, and not also as a mismatch)', () => {
    const publicPem = createPublicKey(createPrivateKey(KEY)).export({ format: 'pem', type: 'spki' }).toString();
    expect(problems(() => resolve({ clientCertificate: CERT, clientKey: publicPem }))).toEqual([
      `${KEY_REF} is a public key: give the certificate's private key`,
    ]);
  });

  it.each([
    ['not PEM', 'not a key', 'is not PEM'],
    ['a certificate', CERT, 'is a certificate'],
    ['a key and its certificate in one', `${KEY}${CERT}`, 'holds 2 PEM blocks'],
    ['an encrypted key', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n', 'is encrypted'],
    ['a broken key', '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n', 'is not a valid PEM private key'],
  ])('clientKey: %s is refused', (_what, key, why) => {
    const [problem, ...more] = problems(() => resolve({ clientCertificate: CERT, clientKey: key }));
    expect(problem).toContain(`${KEY_REF} ${why}`);
    expect(more).toEqual([]);
  });

  it.each([
    ['not PEM', 'MIIBmzCCAUGgAwIBAgIU', 'is not PEM'],
    ['a broken certificate', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n', 'holds a certificate that does not parse'],
    ['a private key (a combined file)', `${CERT}${KEY}`, 'holds a private key (its PEM block 2): the key goes in option "clientKey" (env OIDC_RP_CLIENT_KEY)'],
    ['a public key', createPublicKey(createPrivateKey(KEY)).export({ format: 'pem', type: 'spki' }).toString(), 'holds a PEM "PUBLIC KEY"'],
  ])('clientCertificate: %s is refused', (_what, cert, why) => {
    const [problem, ...more] = problems(() => resolve({ clientCertificate: cert, clientKey: KEY }));
    expect(problem).toContain(`${CERT_REF} ${why}`);
    expect(more).toEqual([]);
  });

  it('problems from the env name the option and the env var', () => {
    expect(problems(() => resolve({}, { OIDC_RP_CLIENT_CERTIFICATE: 'nope', OIDC_RP_CLIENT_KEY: KEY }))).toEqual([
      `${CERT_REF} is not PEM: "-----BEGIN CERTIFICATE-----" was expected`,
    ]);
  });

  it('the messages never contain the key material', () => {
    for (const key of [OTHER_KEY, `${KEY}${CERT}`]) {
      for (const problem of problems(() => resolve({ clientCertificate: CERT, clientKey: key }))) {
        expect(problem).not.toContain('-----BEGIN');
      }
    }
  });
});

describe('the mTLS client authentication methods need the certificate', () => {
  it.each(['tls_client_auth', 'self_signed_tls_client_auth'] as const)('%s without clientCertificate is refused; with it, accepted', (method) => {
    expect(problems(() => resolve({ clientSecret: undefined, clientAuthMethod: method }))).toEqual([
      `${CERT_REF} is required for "clientAuthMethod" (env OIDC_RP_CLIENT_AUTH_METHOD) ${method}`,
    ]);
    const cfg = resolve({ clientSecret: undefined, clientAuthMethod: method, clientCertificate: CERT, clientKey: KEY });
    expect(cfg.security.clientAuthMethod).toBe(method);
  });
});

describe('caCertificates (a private CA for the provider)', () => {
  it('a bundle of certificates is accepted', () => {
    expect(resolve({ caCertificates: `${CERT}\n${CERT}` }).caCertificates).toBe(`${CERT}\n${CERT}`);
  });

  it.each([
    ['not PEM', 'ca.pem', 'is not PEM'],
    ['a private key in the bundle', `${CERT}${KEY}`, 'holds a private key (its PEM block 2): only certificates belong here'],
    ['a broken certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'holds a certificate that does not parse'],
  ])('%s is refused', (_what, bundle, why) => {
    expect(problems(() => resolve({ caCertificates: bundle }))).toEqual([expect.stringContaining(`${CA_REF} ${why}`)]);
  });
});
