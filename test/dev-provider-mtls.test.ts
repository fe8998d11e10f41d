// The dev provider's mutual TLS (examples/dev-provider.ts, `tls`), driven by hand before any RP
// side exists for it: tls_client_auth (RFC 8705 2.1) trusts a certificate from the configured CA
// with the registered subject DN, self_signed_tls_client_auth (RFC 8705 2.2) the certificate
// registered in the client's JWKS, and the mtls_endpoint_aliases (RFC 8705 5) are another port
// that asks for certificates where the issuer's own port need not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Dispatcher } from 'undici';
import { startDevProvider, type DevProvider, type DevProviderClient } from '../examples/dev-provider.js';
import { certificateJwk, clientCertificateAgent, testPki, type KeyAndCertificate, type TestPki } from './support/tls.js';

const REDIRECT_URI = 'http://127.0.0.1:9/cb';

describe('dev provider, mutual TLS', () => {
  let pki: TestPki;
  const providers: DevProvider[] = [];
  const agents: Dispatcher[] = [];

  beforeAll(async () => {
    pki = await testPki();
  });

  afterAll(async () => {
    await Promise.all([...providers.map((p) => p.close()), ...agents.map((a) => a.close())]);
  });

  async function start(tls: { requestClientCert?: boolean; mtlsAliases?: boolean }, clients: DevProviderClient[]): Promise<DevProvider> {
    const op = await startDevProvider({ tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca, ...tls }, clients });
    providers.push(op);
    return op;
  }

  /** A dispatcher trusting the test CA, presenting `cert` when given. */
  function agent(cert?: KeyAndCertificate): Dispatcher {
    const a = clientCertificateAgent(pki.ca, cert);
    agents.push(a);
    return a;
  }

  /**
   * Whether the token endpoint at `url` authenticates `clientId` on this connection: a refresh
   * grant with a made-up token fails with invalid_grant after successful client authentication,
   * with invalid_client before.
   */
  async function authenticates(url: string, clientId: string, dispatcher: Dispatcher): Promise<string> {
    const res = await request(url, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'made-up', client_id: clientId }).toString(),
    });
    const body = (await res.body.json()) as { error?: string };
    return body.error ?? `HTTP ${res.statusCode}`;
  }

  const client = (id: string, extra: Partial<DevProviderClient>): DevProviderClient => ({ client_id: id, redirect_uris: [REDIRECT_URI], ...extra });

  it('tls_client_auth: a CA-issued certificate with the registered subject DN authenticates the client; nothing else does', async () => {
    const op = await start({ requestClientCert: true }, [
      client('dn', { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: pki.client.subjectDn }),
      client('other-dn', { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=someone-else,O=express-oidc-rp tests,C=DE' }),
    ]);
    const token = `${op.issuer}/token`;
    expect(await authenticates(token, 'dn', agent(pki.client))).toBe('invalid_grant');
    expect(await authenticates(token, 'dn', agent())).toBe('invalid_client'); // no certificate
    expect(await authenticates(token, 'dn', agent(pki.selfSigned))).toBe('invalid_client'); // not from the CA
    expect(await authenticates(token, 'other-dn', agent(pki.client))).toBe('invalid_client'); // another subject
  });

  it('self_signed_tls_client_auth: the certificate registered (x5c) in the client JWKS authenticates it; another does not', async () => {
    const op = await start({ requestClientCert: true }, [
      client('self', { token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [certificateJwk(pki.selfSigned.cert)] } }),
    ]);
    const token = `${op.issuer}/token`;
    expect(await authenticates(token, 'self', agent(pki.selfSigned))).toBe('invalid_grant');
    expect(await authenticates(token, 'self', agent(pki.client))).toBe('invalid_client');
    expect(await authenticates(token, 'self', agent())).toBe('invalid_client');
  });

  it('mtls_endpoint_aliases: another port asking for certificates; with requestClientCert off only the aliases see them', async () => {
    const op = await start({ requestClientCert: false, mtlsAliases: true }, [
      client('dn', { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: pki.client.subjectDn }),
    ]);
    const doc = (await (await request(`${op.issuer}/.well-known/openid-configuration`, { dispatcher: agent() })).body.json()) as {
      token_endpoint: string;
      mtls_endpoint_aliases: Record<string, string>;
    };
    expect(doc.mtls_endpoint_aliases).toEqual({
      token_endpoint: `${op.mtlsOrigin}/token`,
      revocation_endpoint: `${op.mtlsOrigin}/token/revocation`,
      introspection_endpoint: `${op.mtlsOrigin}/token/introspection`,
      userinfo_endpoint: `${op.mtlsOrigin}/me`,
      pushed_authorization_request_endpoint: `${op.mtlsOrigin}/request`,
    });
    const withCert = agent(pki.client);
    expect(await authenticates(doc.token_endpoint, 'dn', withCert)).toBe('invalid_client');
    expect(await authenticates(doc.mtls_endpoint_aliases.token_endpoint as string, 'dn', withCert)).toBe('invalid_grant');
  });

  it('without tls the provider stays plain http, without mTLS methods or aliases (the default)', async () => {
    const op = await startDevProvider({ clients: [client('plain', { client_secret: 'plain-secret-plain-secret-plain-secret' })] });
    providers.push(op);
    expect(op.issuer).toMatch(/^http:\/\//);
    expect(op.mtlsOrigin).toBeUndefined();
    const doc = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(doc.mtls_endpoint_aliases).toBeUndefined();
    expect(doc.token_endpoint_auth_methods_supported).not.toContain('tls_client_auth');
    expect(doc.require_pushed_authorization_requests).toBeUndefined();
  });
});
