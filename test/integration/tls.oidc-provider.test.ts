/**
 * The RP against oidc-provider served over HTTPS with a certificate from a private CA
 * (test/support/tls.ts): `caCertificates` makes it trusted with verification left on; without it
 * every provider call fails; and with `clientCertificate` / `clientKey` the provider sees the
 * client certificate on the token request (mutual TLS, RFC 8705), so certificate-bound access
 * tokens (RFC 8705 3) are issued at the provider's own endpoints. No mocks.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request as undiciRequest } from 'undici';
import { startDevProvider, type DevProvider } from '../../examples/dev-provider.js';
import { createHttpClient } from '../../src/http/client.js';
import { createDiscovery, endpointFor } from '../../src/protocol/discovery.js';
import { completeProviderLogin } from '../support/provider-login.js';
import { startDevProviderWithRp, type DevProviderWithRpOptions } from '../support/oidc-provider.js';
import { reservePort, startRpApp, type RpApp } from '../support/rp-app.js';
import { expectLoggedOut, loginThrough, startLogin } from '../support/login.js';
import { certificateThumbprint, clientCertificateAgent, testPki, trustInGlobalFetch, type TestPki } from '../support/tls.js';

const CLIENT = { client_id: 'rp-tls', client_secret: 'rp-tls-secret-0123456789abcdef0123456789' };

describe('the RP against an HTTPS provider behind a private CA', () => {
  let pki: TestPki;
  let untrust: () => Promise<void>;
  const running: Array<{ op: DevProvider; rp: RpApp }> = [];

  beforeAll(async () => {
    pki = await testPki();
    // The "browser" (global fetch) trusts the test CA; the RP trusts only what it is configured with.
    untrust = trustInGlobalFetch(pki.ca);
  });

  afterEach(async () => {
    for (const { op, rp } of running.splice(0)) {
      await rp.close();
      await op.close();
    }
  });

  afterAll(async () => {
    await untrust?.();
  });

  async function start(opts: Omit<DevProviderWithRpOptions, 'client'>) {
    const started = await startDevProviderWithRp({ client: CLIENT, ...opts });
    running.push(started);
    return started;
  }

  const tls = () => ({ key: pki.server.key, cert: pki.server.cert });

  it('logs in with caCertificates set to the CA, certificate verification on', async () => {
    const { op, rp } = await start({ provider: { tls: tls() }, oidc: { caCertificates: pki.ca } });
    expect(op.issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(rp.oidc).toBeDefined();

    const cb = await loginThrough(rp.agent, (url) => completeProviderLogin(url, { login: 'alice' }));
    expect(cb.status).toBe(302);
    expect(cb.headers.location, JSON.stringify(rp.logs)).toBe('/');
    const me = await rp.agent.get('/me').set('accept', 'application/json');
    expect(me.status).toBe(200);
    expect(me.body.claims).toMatchObject({ sub: 'alice', iss: op.issuer, email: 'alice@example.com' });
  });

  it('without caCertificates the provider is not trusted: discovery fails with the TLS error, no login starts', async () => {
    const { op, rp } = await start({ provider: { tls: tls() } });
    const res = await rp.agent.get('/oidc/authenticate');
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('OIDC_DISCOVERY_FAILED');
    // The HTTP client's OIDC_HTTP_NETWORK, with the TLS error code, is the cause (the server sends
    // its certificate alone, issued by a CA Node does not know).
    expect(res.body.message).toContain(`request to ${op.issuer}/.well-known/openid-configuration failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE`);
    await expectLoggedOut(rp.agent);
  });

  it('without caCertificates and without discovery the code exchange fails with OIDC_HTTP_NETWORK; no session is created', async () => {
    // By hand: the RP's explicit endpoints name the provider's port, known only once it listens.
    const reserved = await reservePort();
    const op = await startDevProvider({ tls: tls(), clients: [{ ...CLIENT, redirect_uris: [`${reserved.url}/oidc/callback`] }] });
    const rp = await startRpApp({
      reserved,
      oidc: {
        issuer: op.issuer,
        clientId: CLIENT.client_id,
        clientSecret: CLIENT.client_secret,
        loginRedirectUrlFailure: '/login-failed',
        // Every endpoint and a key source given: nothing is fetched before the token request.
        authorizationEndpoint: `${op.issuer}/auth`,
        tokenEndpoint: `${op.issuer}/token`,
        jwksUri: `${op.issuer}/jwks`,
      },
    });
    running.push({ op, rp });

    const cb = await loginThrough(rp.agent, (url) => completeProviderLogin(url));
    expect(cb.status).toBe(302);
    expect(cb.headers.location).toBe('/login-failed');
    const failed = rp.logs.find((l) => l.message === 'login failed');
    expect(failed?.meta).toMatchObject({ code: 'OIDC_HTTP_NETWORK', reason: expect.stringContaining('UNABLE_TO_VERIFY_LEAF_SIGNATURE') as unknown });
    await expectLoggedOut(rp.agent);
  });

  it('with clientCertificate and clientKey the token request carries the certificate; the tokens are bound to it (RFC 8705 3)', async () => {
    const { op, rp } = await start({
      provider: { tls: { ...tls(), ca: pki.ca, requestClientCert: true } },
      clientMetadata: () => ({ tls_client_certificate_bound_access_tokens: true }),
      oidc: { caCertificates: pki.ca, clientCertificate: pki.client.cert, clientKey: pki.client.key },
    });
    // What oidc-provider's features.mTLS sees: the certificate of the connection each grant came on.
    const granted: Array<string | undefined> = [];
    op.provider.on('grant.success', ((ctx: { req: IncomingMessage }) => {
      const socket = ctx.req.socket;
      const raw = socket instanceof TLSSocket ? socket.getPeerCertificate().raw : undefined;
      granted.push(raw ? createHash('sha256').update(raw).digest('base64url') : undefined);
    }) as (...args: never[]) => void);

    const cb = await loginThrough(rp.agent, (url) => completeProviderLogin(url, { login: 'bob' }));
    expect(cb.headers.location, JSON.stringify(rp.logs)).toBe('/');
    expect(granted).toEqual([certificateThumbprint(pki.client.cert)]);

    // Userinfo at login worked (the RP presents the certificate there too): its claims are in.
    const me = await rp.agent.get('/me').set('accept', 'application/json');
    expect(me.body.claims).toMatchObject({ sub: 'bob', name: 'Bob Example' });
    // The access token is bound: useless without the certificate, fine with it.
    const userinfo = `${op.issuer}/me`;
    const bearer = { authorization: `Bearer ${me.body.accessToken}` };
    expect((await fetch(userinfo, { headers: bearer })).status).toBe(401);
    const agent = clientCertificateAgent(pki.ca, pki.client);
    try {
      const withCert = await undiciRequest(userinfo, { headers: bearer, dispatcher: agent });
      expect(withCert.statusCode).toBe(200);
      expect(await withCert.body.json()).toMatchObject({ sub: 'bob' });
      // Another certificate is not the one the token is bound to.
      const other = clientCertificateAgent(pki.ca, pki.selfSigned);
      const withOther = await undiciRequest(userinfo, { headers: bearer, dispatcher: other });
      await withOther.body.dump();
      await other.close();
      expect(withOther.statusCode).toBe(401);
    } finally {
      await agent.close();
    }
  });

  it('a login starts without any certificate from the browser: the provider only asks for one', async () => {
    const { rp } = await start({ provider: { tls: { ...tls(), ca: pki.ca, requestClientCert: true } }, oidc: { caCertificates: pki.ca } });
    const login = await startLogin(rp.agent);
    // The browser (global fetch, no certificate) gets the provider's login page and through it.
    const back = await completeProviderLogin(login.headers.location as string);
    expect(new URL(back).searchParams.get('code')).toBeTruthy();
  });

  it('discovery of the TLS provider exposes its mtls_endpoint_aliases (RFC 8705 5), read by the RP client', async () => {
    const { op } = await start({ provider: { tls: { ...tls(), ca: pki.ca, requestClientCert: true } }, oidc: { caCertificates: pki.ca } });
    expect(op.mtlsOrigin).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(op.mtlsOrigin).not.toBe(op.issuer);
    const http = createHttpClient({ timeoutMs: 5000, verifySsl: true, maxResponseBytes: 1 << 20, caCertificates: pki.ca });
    try {
      const discovery = createDiscovery(
        {
          issuer: op.issuer,
          discovery: { url: `${op.issuer}/.well-known/openid-configuration`, issuerSetting: 'issuer' },
          endpoints: {
            authorization: undefined,
            token: undefined,
            userinfo: undefined,
            jwks: undefined,
            revocation: undefined,
            endSession: undefined,
            introspection: undefined,
          },
          logger: { info() {} },
        },
        http,
      );
      const meta = await discovery.get();
      expect(meta.tlsClientCertificateBoundAccessTokens).toBe(true);
      expect(meta.mtlsEndpointAliases).toEqual({
        token: `${op.mtlsOrigin}/token`,
        revocation: `${op.mtlsOrigin}/token/revocation`,
        introspection: `${op.mtlsOrigin}/token/introspection`,
        userinfo: `${op.mtlsOrigin}/me`,
        pushedAuthorizationRequest: `${op.mtlsOrigin}/request`,
      });
      expect(endpointFor(meta, 'token', true)).toBe(`${op.mtlsOrigin}/token`);
      expect(endpointFor(meta, 'token', false)).toBe(`${op.issuer}/token`);
      expect(meta.raw.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']));
    } finally {
      await http.close();
    }
  });
});
