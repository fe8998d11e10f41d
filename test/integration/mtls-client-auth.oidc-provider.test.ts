/**
 * Mutual TLS client authentication (RFC 8705 2) end to end, against oidc-provider over HTTPS with
 * features.mTLS (examples/dev-provider.ts): a client with no secret at all logs in, refreshes and
 * revokes its tokens at logout, each token and revocation request authenticated by the
 * certificate alone, for both methods:
 *
 * - tls_client_auth (2.1): a certificate from the provider's trusted CA, the subject DN registered;
 * - self_signed_tls_client_auth (2.2): a self-signed certificate, registered in the client's JWKS (x5c).
 *
 * The access tokens are certificate-bound (3, `cnf.x5t#S256`): userinfo takes them only on a
 * connection presenting the same certificate. Every request the provider answers is recorded by a
 * Koa middleware on the provider: its route, status, authentication method, the certificate of
 * its connection, and whether it carried any other credential.
 */
import { createHash } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as undiciRequest } from 'undici';
import { startDevProvider, type DevProvider, type DevProviderClient, type DevProviderMiddleware } from '../../examples/dev-provider.js';
import { completeProviderLogin } from '../support/provider-login.js';
import { reservePort, startRpApp, type RpApp } from '../support/rp-app.js';
import { expectLoggedOut, loginThrough } from '../support/login.js';
import {
  certificateJwk,
  certificateThumbprint,
  clientCertificateAgent,
  testPki,
  trustInGlobalFetch,
  type KeyAndCertificate,
  type TestPki,
} from '../support/tls.js';

/** One request the provider answered. */
interface Seen {
  route: string | undefined;
  /** Which listener: the issuer's own port, or the mTLS alias port. */
  origin: string;
  status: number;
  grantType: string | undefined;
  authMethod: string | undefined;
  /** x5t#S256 of the certificate presented on the connection, if any. */
  certificate: string | undefined;
  /** Any credential besides the certificate: a Basic header, a client_secret, a client_assertion. */
  otherCredential: boolean;
  /** Sent by this test itself (userinfoStatus), not by the RP. */
  probe: boolean;
}

/** A middleware recording every request the provider answers into `seen`. */
function recorder(seen: Seen[]): DevProviderMiddleware {
  return async (ctx, next) => {
    await next();
    const socket = ctx.req.socket;
    const raw = socket instanceof TLSSocket ? socket.getPeerCertificate().raw : undefined;
    const body = ctx.oidc?.body ?? {};
    seen.push({
      route: ctx.oidc?.route,
      // The port the request came in on (the issuer's, or the mTLS alias'); TLS on both.
      origin: `https://127.0.0.1:${socket.localPort}`,
      status: ctx.status,
      grantType: typeof ctx.oidc?.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : undefined,
      authMethod: ctx.oidc?.client?.clientAuthMethod,
      certificate: raw ? createHash('sha256').update(raw).digest('base64url') : undefined,
      otherCredential: ctx.get('authorization') !== '' || 'client_secret' in body || 'client_assertion' in body,
      probe: ctx.get(PROBE) !== '',
    });
  };
}

/** The header marking the test's own requests. */
const PROBE = 'x-test-probe';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Me {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: number;
  claims: { sub: string };
}

describe('mutual TLS client authentication and certificate-bound tokens against oidc-provider', () => {
  let pki: TestPki;
  let untrust: () => Promise<void>;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    pki = await testPki();
    untrust = trustInGlobalFetch(pki.ca);
  });

  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
    await untrust?.();
  });

  /**
   * The provider over HTTPS with mTLS (`tls` adds to the defaults) and one client without a
   * secret, and an RP with only its certificate: no clientSecret, no assertion key.
   */
  async function setUp(
    method: 'tls_client_auth' | 'self_signed_tls_client_auth',
    certificate: KeyAndCertificate,
    registration: Partial<DevProviderClient>,
    tls: { requestClientCert?: boolean; mtlsAliases?: boolean } = { requestClientCert: true },
  ): Promise<{ op: DevProvider; rp: RpApp; seen: Seen[] }> {
    const reserved = await reservePort();
    const clientId = `rp-${method}`;
    const seen: Seen[] = [];
    const op = await startDevProvider({
      middleware: [recorder(seen)],
      // 4 s: a refresh is due 2 s after login (the leeway is half the lifetime).
      accessTokenTtl: 4,
      tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca, ...tls },
      clients: [
        {
          client_id: clientId,
          redirect_uris: [`${reserved.url}/oidc/callback`],
          post_logout_redirect_uris: [`${reserved.url}/bye`],
          token_endpoint_auth_method: method,
          tls_client_certificate_bound_access_tokens: true,
          ...registration,
        },
      ],
    });
    cleanup.push(() => op.close());
    const rp = await startRpApp({
      reserved,
      oidc: {
        issuer: op.issuer,
        clientId,
        clientAuthMethod: method,
        clientCertificate: certificate.cert,
        clientKey: certificate.key,
        caCertificates: pki.ca,
        scopes: ['openid', 'email', 'profile', 'offline_access'],
        logoutRedirectUrl: '/bye',
      },
    });
    cleanup.push(() => rp.close());
    return { op, rp, seen };
  }

  /** GET /me as JSON. */
  async function me(rp: RpApp): Promise<Me> {
    const res = await rp.agent.get('/me').set('accept', 'application/json');
    expect(res.status, JSON.stringify(rp.logs.slice(-3))).toBe(200);
    return res.body as Me;
  }

  /** The provider's userinfo with `accessToken`, on a connection presenting `certificate` (or none). */
  async function userinfoStatus(op: DevProvider, accessToken: string, certificate?: KeyAndCertificate): Promise<number> {
    const agent = clientCertificateAgent(pki.ca, certificate);
    try {
      // With a certificate, where the provider asks for one: its mTLS alias when it publishes one.
      const origin = certificate && op.mtlsOrigin ? op.mtlsOrigin : op.issuer;
      const res = await undiciRequest(`${origin}/me`, { headers: { authorization: `Bearer ${accessToken}`, [PROBE]: '1' }, dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    } finally {
      await agent.close();
    }
  }

  /** Login, refresh, logout with revocation: every step's provider requests authenticated by `certificate` alone. */
  async function loginRefreshLogout(op: DevProvider, rp: RpApp, all: Seen[], certificate: KeyAndCertificate, method: string): Promise<void> {
    const thumbprint = certificateThumbprint(certificate.cert);
    const seen = { filter: (pick: (s: Seen) => boolean) => all.filter((s) => !s.probe && pick(s)) };

    // Login: the code exchange, then userinfo with the new (bound) access token.
    const cb = await loginThrough(rp.agent, (url) => completeProviderLogin(url, { login: 'alice' }));
    expect(cb.headers.location, JSON.stringify(rp.logs.slice(-3))).toBe('/');
    const first = await me(rp);
    expect(first.claims).toMatchObject({ sub: 'alice', name: 'Alice Example' }); // from userinfo
    const code = seen.filter((s) => s.route === 'token' && s.grantType === 'authorization_code');
    expect(code).toEqual([expect.objectContaining({ status: 200, authMethod: method, certificate: thumbprint, otherCredential: false })]);
    expect(seen.filter((s) => s.route === 'userinfo')).toEqual([expect.objectContaining({ status: 200, certificate: thumbprint })]);

    // RFC 8705 3: bound to the certificate, refused without it or with another one.
    expect(await userinfoStatus(op, first.accessToken)).toBe(401);
    expect(await userinfoStatus(op, first.accessToken, certificate === pki.client ? pki.selfSigned : pki.client)).toBe(401);
    expect(await userinfoStatus(op, first.accessToken, certificate)).toBe(200);

    // Refresh: due 2 s after issue (whole seconds: wait for the later bound).
    await sleep(Math.max(0, (first.accessTokenExpiresAt - 1) * 1000 - Date.now()) + 100);
    const second = await me(rp);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken); // rotated
    const refresh = seen.filter((s) => s.route === 'token' && s.grantType === 'refresh_token');
    expect(refresh).toEqual([expect.objectContaining({ status: 200, authMethod: method, certificate: thumbprint, otherCredential: false })]);
    expect(await userinfoStatus(op, second.accessToken)).toBe(401);
    expect(await userinfoStatus(op, second.accessToken, certificate)).toBe(200);

    // Logout: both tokens revoked (RFC 7009), each request authenticated by the certificate.
    const logout = await rp.agent.post('/oidc/logout');
    expect(logout.status).toBe(303);
    expect(rp.logs.filter((l) => l.message.includes('revocation failed'))).toEqual([]);
    const revocations = seen.filter((s) => s.route === 'revocation');
    expect(revocations).toHaveLength(2);
    for (const r of revocations) expect(r).toMatchObject({ status: 200, authMethod: method, certificate: thumbprint, otherCredential: false });
    expect(await userinfoStatus(op, second.accessToken, certificate)).toBe(401);
    await expectLoggedOut(rp.agent);
  }

  it('tls_client_auth (RFC 8705 2.1): a CA-issued certificate with the registered subject DN', async () => {
    const { op, rp, seen } = await setUp('tls_client_auth', pki.client, { tls_client_auth_subject_dn: pki.client.subjectDn });
    await loginRefreshLogout(op, rp, seen, pki.client, 'tls_client_auth');
  });

  it('self_signed_tls_client_auth (RFC 8705 2.2): a self-signed certificate registered in the client JWKS', async () => {
    const { op, rp, seen } = await setUp('self_signed_tls_client_auth', pki.selfSigned, { jwks: { keys: [certificateJwk(pki.selfSigned.cert)] } });
    await loginRefreshLogout(op, rp, seen, pki.selfSigned, 'self_signed_tls_client_auth');
  });

  it('tls_client_auth refuses a certificate with another subject: the login fails at the code exchange', async () => {
    const { rp, seen } = await setUp('tls_client_auth', pki.client, { tls_client_auth_subject_dn: 'CN=another-client,O=express-oidc-rp tests,C=DE' });
    const cb = await loginThrough(rp.agent, (url) => completeProviderLogin(url));
    expect(cb.headers.location).toBe('/');
    expect(rp.logs.find((l) => l.message === 'login failed')?.meta).toMatchObject({ code: 'OIDC_OP_ERROR' });
    expect(seen.filter((s) => s.route === 'token')).toEqual([expect.objectContaining({ status: 401 })]);
    await expectLoggedOut(rp.agent);
  });

  // RFC 8705 5: with the certificate asked for only on the alias port, every request made with it
  // goes to mtls_endpoint_aliases (provider.endpoint, src/protocol/provider.ts); the issuer's own
  // port does not ask for a certificate and would refuse the client (invalid_client).
  it('with mtls_endpoint_aliases, token, userinfo and revocation requests go to the aliases', async () => {
    const { op, rp, seen } = await setUp(
      'tls_client_auth',
      pki.client,
      { tls_client_auth_subject_dn: pki.client.subjectDn },
      { requestClientCert: false, mtlsAliases: true },
    );
    await loginRefreshLogout(op, rp, seen, pki.client, 'tls_client_auth');
    const calls = seen.filter((s) => !s.probe && (s.route === 'token' || s.route === 'userinfo' || s.route === 'revocation'));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((s) => s.origin !== op.mtlsOrigin)).toEqual([]);
  });
});
