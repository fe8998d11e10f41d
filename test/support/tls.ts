/**
 * Throwaway TLS material for tests, made with the `openssl` CLI into a temp dir once per test
 * process (P-256 keys: each command takes milliseconds):
 *
 * - a CA (the "private CA" an enterprise provider sits behind, and the issuer of client certificates);
 * - a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1), issued by that CA;
 * - a client certificate issued by the CA, with a subject DN (RFC 8705 2.1, tls_client_auth);
 * - a self-signed client certificate (RFC 8705 2.2, self_signed_tls_client_auth);
 * - a second key, matching neither certificate (for configuration tests).
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createHash, type JsonWebKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { promisify } from 'node:util';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';

const run = promisify(execFile);

export interface KeyAndCertificate {
  /** PEM private key (PKCS#8). */
  key: string;
  /** PEM certificate. */
  cert: string;
}

export interface TestPki {
  /** The CA certificate, PEM: trust it for the server certificate, and it issued `client`. */
  ca: string;
  /** For https://127.0.0.1:PORT. */
  server: KeyAndCertificate;
  /** CA-issued client certificate (tls_client_auth). */
  client: KeyAndCertificate & { subjectDn: string };
  /** Self-signed client certificate (self_signed_tls_client_auth). */
  selfSigned: KeyAndCertificate;
  /** A private key that belongs to no certificate here. */
  strayKey: string;
}

/**
 * The subject DN of the CA-issued client certificate, in RFC 4514 string form (last RDN first),
 * as RFC 8705 2.1.2 registers it in `tls_client_auth_subject_dn`.
 */
export const CLIENT_SUBJECT_DN = 'CN=rp-client,O=express-oidc-rp tests,C=DE';
const CLIENT_SUBJECT = '/C=DE/O=express-oidc-rp tests/CN=rp-client';

let pki: Promise<TestPki> | undefined;

/** The test PKI, made on first use and shared by every test of this process. */
export function testPki(): Promise<TestPki> {
  pki ??= makePki();
  return pki;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function makePki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-rp-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const read = (name: string) => readFileSync(path(name), 'utf8');
  writeFileSync(path('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  writeFileSync(path('client.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  // -days 2: enough for any test run; nobody should mistake these for long-lived material.
  const sign = (name: string) =>
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );

  await openssl('req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/O=express-oidc-rp tests/CN=Test CA');
  await Promise.all([
    openssl('req', '-new', ...EC, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'),
    openssl('req', '-new', ...EC, '-keyout', 'client.key', '-out', 'client.csr', '-subj', CLIENT_SUBJECT),
    openssl('req', '-x509', ...EC, '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=rp-self-signed'),
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'stray.key'),
  ]);
  // One after the other: both write the CA's serial file.
  await sign('server');
  await sign('client');

  return {
    ca: read('ca.pem'),
    server: { key: read('server.key'), cert: read('server.pem') },
    client: { key: read('client.key'), cert: read('client.pem'), subjectDn: CLIENT_SUBJECT_DN },
    selfSigned: { key: read('self.key'), cert: read('self.pem') },
    strayKey: read('stray.key'),
  };
}

/**
 * The public JWK of a certificate with the certificate as `x5c`: how a client registers a
 * self-signed certificate in its `jwks` (RFC 8705 2.2.2).
 */
export function certificateJwk(certPem: string): JsonWebKey & { x5c: string[] } {
  const x509 = new X509Certificate(certPem);
  return { ...x509.publicKey.export({ format: 'jwk' }), x5c: [x509.raw.toString('base64')] };
}

/** The certificate's SHA-256 thumbprint, base64url: `x5t#S256` (RFC 8705 3.1). */
export function certificateThumbprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('base64url');
}

/**
 * Make this process's global fetch trust `ca` besides the default roots, as a browser on a
 * machine with the CA installed would: provider-login.ts drives the provider's pages with it.
 * Returns the undo (call it in afterAll). The library's own client is not affected: it has its
 * own dispatcher, which trusts only what `caCertificates` says.
 */
export function trustInGlobalFetch(ca: string): () => Promise<void> {
  const previous = getGlobalDispatcher();
  const agent = new Agent({ connect: { ca: [...rootCertificates, ca] } });
  setGlobalDispatcher(agent);
  return async () => {
    setGlobalDispatcher(previous);
    await agent.close();
  };
}

/** An undici dispatcher trusting `ca` and presenting `client` when given, for requests made by hand. */
export function clientCertificateAgent(ca: string, client?: KeyAndCertificate): Agent {
  return new Agent({ connect: { ca: [...rootCertificates, ca], ...(client && { cert: client.cert, key: client.key }) } });
}
