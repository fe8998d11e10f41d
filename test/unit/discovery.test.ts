/**
 * src/protocol/discovery.ts: OpenID Connect Discovery 1.0 metadata, merged with explicit
 * endpoints; whether a document is fetched at all (discoveryUrl, explicit endpoints); lazy
 * single-flight fetch whose failures are not cached.
 */
import { describe, it, expect } from 'vitest';
import { buildProviderMetadata, createDiscovery, endpointFor } from '../../src/protocol/discovery.js';
import { resolveConfig, type ResolvedConfig } from '../../src/config.js';
import { wellKnownUrl } from '../../src/config/discovery-plan.js';
import { OidcError } from '../../src/errors.js';
import type { HttpClient, HttpRequest } from '../../src/http/client.js';
import { codeOf } from '../support/error-code.js';
import { generateKeyPairSync } from 'node:crypto';

/** A real public key: idpSignKey is parsed at start-up. */
const PUBLIC_JWK = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }));

const ISS = 'https://op.example.com';
/** How messages name the issuer option, carried by the plan to protocol/discovery.ts. */
const ISSUER_SETTING = '"issuer" (env OIDC_OP_ISSUER)';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

function config(overrides: Record<string, unknown> = {}): ResolvedConfig {
  return resolveConfig({
    clientId: 'client-1',
    clientSecret: 'secret-1',
    baseUrl: 'https://app.example.com',
    issuer: ISS,
    logger: silent,
    env: {},
    ...overrides,
  });
}

const DOC = {
  issuer: ISS,
  authorization_endpoint: `${ISS}/authorize`,
  token_endpoint: `${ISS}/token`,
  userinfo_endpoint: `${ISS}/userinfo`,
  jwks_uri: `${ISS}/jwks`,
  revocation_endpoint: `${ISS}/revoke`,
  end_session_endpoint: `${ISS}/logout`,
  id_token_signing_alg_values_supported: ['RS256', 'ES256', 42],
  authorization_response_iss_parameter_supported: true,
};

/** Every endpoint and a key source given explicitly: nothing left for discovery to fill. */
const EXPLICIT = { authorizationEndpoint: `${ISS}/authorize`, tokenEndpoint: `${ISS}/token`, jwksUri: `${ISS}/jwks` };

describe('wellKnownUrl (OIDC Discovery 4)', () => {
  it.each([
    ['https://op.example.com', 'https://op.example.com/.well-known/openid-configuration'],
    ['https://op.example.com/', 'https://op.example.com/.well-known/openid-configuration'],
    ['https://op.example.com/tenant', 'https://op.example.com/tenant/.well-known/openid-configuration'],
    ['https://op.example.com/tenant/', 'https://op.example.com/tenant/.well-known/openid-configuration'],
  ])('%s -> %s (trailing slash stripped)', (issuer, url) => {
    expect(wellKnownUrl(issuer)).toBe(url);
  });
});

describe('buildProviderMetadata', () => {
  it('maps the discovery document', () => {
    const meta = buildProviderMetadata(config(), DOC);
    expect(meta).toMatchObject({
      issuer: ISS,
      authorizationEndpoint: `${ISS}/authorize`,
      tokenEndpoint: `${ISS}/token`,
      userinfoEndpoint: `${ISS}/userinfo`,
      jwksUri: `${ISS}/jwks`,
      revocationEndpoint: `${ISS}/revoke`,
      endSessionEndpoint: `${ISS}/logout`,
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      authorizationResponseIssParameterSupported: true,
    });
    expect(meta.raw).toBe(DOC);
  });

  it('4.3: issuer must be identical: a trailing slash difference -> OIDC_DISCOVERY_ISSUER_MISMATCH', () => {
    expect(codeOf(() => buildProviderMetadata(config(), { ...DOC, issuer: `${ISS}/` }))).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
    expect(codeOf(() => buildProviderMetadata(config({ issuer: `${ISS}/` }), DOC))).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
  });

  it('4.3: another issuer or no issuer in the document -> OIDC_DISCOVERY_ISSUER_MISMATCH', () => {
    expect(codeOf(() => buildProviderMetadata(config(), { ...DOC, issuer: 'https://evil.example.com' }))).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
    expect(codeOf(() => buildProviderMetadata(config(), { ...DOC, issuer: undefined }))).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
    // The message names the option and its env var as the configuration's plan spells them.
    expect(() => buildProviderMetadata(config(), { ...DOC, issuer: 'https://evil.example.com' }, ISSUER_SETTING)).toThrow(
      /option "issuer" \(env OIDC_OP_ISSUER\)/,
    );
  });

  it('explicitly configured endpoints override the discovered ones', () => {
    const cfg = config({
      authorizationEndpoint: 'https://login.example.com/auth',
      tokenEndpoint: 'https://login.example.com/token',
      userinfoEndpoint: 'https://login.example.com/me',
      jwksUri: 'https://login.example.com/keys',
      revocationEndpoint: 'https://login.example.com/revoke',
      endSessionEndpoint: 'https://login.example.com/bye',
    });
    expect(buildProviderMetadata(cfg, DOC)).toMatchObject({
      authorizationEndpoint: 'https://login.example.com/auth',
      tokenEndpoint: 'https://login.example.com/token',
      userinfoEndpoint: 'https://login.example.com/me',
      jwksUri: 'https://login.example.com/keys',
      revocationEndpoint: 'https://login.example.com/revoke',
      endSessionEndpoint: 'https://login.example.com/bye',
    });
  });

  it('a missing token endpoint -> OIDC_DISCOVERY_FAILED', () => {
    expect(codeOf(() => buildProviderMetadata(config(), { ...DOC, token_endpoint: undefined }))).toBe('OIDC_DISCOVERY_FAILED');
    expect(codeOf(() => buildProviderMetadata(config(), { ...DOC, token_endpoint: '' }))).toBe('OIDC_DISCOVERY_FAILED');
  });

  it('a missing authorization endpoint -> OIDC_DISCOVERY_FAILED', () => {
    expect(codeOf(() => buildProviderMetadata(config(), { ...DOC, authorization_endpoint: 42 }))).toBe('OIDC_DISCOVERY_FAILED');
  });

  it('a missing token endpoint in the document is fine when configured explicitly', () => {
    const cfg = config({ tokenEndpoint: 'https://login.example.com/token' });
    expect(buildProviderMetadata(cfg, { ...DOC, token_endpoint: undefined }).tokenEndpoint).toBe('https://login.example.com/token');
  });

  it('without an issuer, explicit endpoints alone make the metadata', () => {
    const cfg = config({
      issuer: undefined,
      authorizationEndpoint: `${ISS}/a`,
      tokenEndpoint: `${ISS}/t`,
      jwksUri: `${ISS}/k`,
    });
    const meta = buildProviderMetadata(cfg, {});
    expect(meta).toMatchObject({ issuer: undefined, authorizationEndpoint: `${ISS}/a`, tokenEndpoint: `${ISS}/t`, jwksUri: `${ISS}/k` });
    expect(meta.idTokenSigningAlgValues).toBeUndefined();
    expect(meta.authorizationResponseIssParameterSupported).toBe(false);
  });

  it('4.3: a fetched document, even an empty one, is checked against the issuer', () => {
    expect(codeOf(() => buildProviderMetadata(config(EXPLICIT), {}))).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
  });

  it('without a fetched document the configured issuer is the metadata issuer (for iss checks)', () => {
    const meta = buildProviderMetadata(config(EXPLICIT), undefined);
    expect(meta).toMatchObject({ issuer: ISS, authorizationEndpoint: `${ISS}/authorize`, tokenEndpoint: `${ISS}/token`, jwksUri: `${ISS}/jwks` });
    expect(meta.raw).toEqual({});
  });

  it('RFC 9207: authorization_response_iss_parameter_supported must be exactly true', () => {
    expect(buildProviderMetadata(config(), { ...DOC, authorization_response_iss_parameter_supported: 'true' }).authorizationResponseIssParameterSupported).toBe(
      false,
    );
  });
});

describe('mutual TLS metadata (RFC 8705)', () => {
  const MTLS = 'https://mtls.op.example.com';
  const ALIASES = {
    token_endpoint: `${MTLS}/token`,
    revocation_endpoint: `${MTLS}/revoke`,
    introspection_endpoint: `${MTLS}/introspect`,
    userinfo_endpoint: `${MTLS}/userinfo`,
    pushed_authorization_request_endpoint: `${MTLS}/par`,
    device_authorization_endpoint: `${MTLS}/device`,
  };
  const WITH_ALIASES = {
    ...DOC,
    introspection_endpoint: `${ISS}/introspect`,
    pushed_authorization_request_endpoint: `${ISS}/par`,
    mtls_endpoint_aliases: ALIASES,
    tls_client_certificate_bound_access_tokens: true,
  };

  it('5: reads mtls_endpoint_aliases for the endpoints this library calls; 3.3: certificate-bound tokens', () => {
    const meta = buildProviderMetadata(config(), WITH_ALIASES);
    expect(meta.mtlsEndpointAliases).toEqual({
      token: `${MTLS}/token`,
      revocation: `${MTLS}/revoke`,
      introspection: `${MTLS}/introspect`,
      userinfo: `${MTLS}/userinfo`,
      pushedAuthorizationRequest: `${MTLS}/par`,
    });
    expect(meta.tlsClientCertificateBoundAccessTokens).toBe(true);
  });

  it('without aliases, or with something else than an object, there are none', () => {
    for (const aliases of [undefined, null, 'https://mtls.op.example.com/token', [ALIASES.token_endpoint], 42]) {
      expect(buildProviderMetadata(config(), { ...DOC, mtls_endpoint_aliases: aliases }).mtlsEndpointAliases).toEqual({});
    }
    const meta = buildProviderMetadata(config(), DOC);
    expect(meta.tlsClientCertificateBoundAccessTokens).toBe(false);
    expect(buildProviderMetadata(config(), { ...DOC, tls_client_certificate_bound_access_tokens: 'true' }).tlsClientCertificateBoundAccessTokens).toBe(false);
  });

  it('an alias that is not a provider URL (https; http on loopback only) is left out', () => {
    const meta = buildProviderMetadata(config(), {
      ...DOC,
      mtls_endpoint_aliases: {
        token_endpoint: 'http://mtls.op.example.com/token',
        revocation_endpoint: '/revoke',
        introspection_endpoint: 42,
        userinfo_endpoint: '',
        pushed_authorization_request_endpoint: 'http://127.0.0.1:8443/par',
      },
    });
    expect(meta.mtlsEndpointAliases).toEqual({ pushedAuthorizationRequest: 'http://127.0.0.1:8443/par' });
  });

  it('an explicitly configured endpoint wins over its alias too', () => {
    const meta = buildProviderMetadata(config({ tokenEndpoint: 'https://login.example.com/token' }), WITH_ALIASES);
    expect(meta.mtlsEndpointAliases.token).toBeUndefined();
    expect(endpointFor(meta, 'token', true)).toBe('https://login.example.com/token');
    expect(endpointFor(meta, 'userinfo', true)).toBe(`${MTLS}/userinfo`);
  });

  it('endpointFor: the alias with mutual TLS, the endpoint itself without', () => {
    const meta = buildProviderMetadata(config(), WITH_ALIASES);
    expect(endpointFor(meta, 'token', true)).toBe(`${MTLS}/token`);
    expect(endpointFor(meta, 'revocation', true)).toBe(`${MTLS}/revoke`);
    expect(endpointFor(meta, 'introspection', true)).toBe(`${MTLS}/introspect`);
    expect(endpointFor(meta, 'userinfo', true)).toBe(`${MTLS}/userinfo`);
    expect(endpointFor(meta, 'pushedAuthorizationRequest', true)).toBe(`${MTLS}/par`);
    expect(endpointFor(meta, 'token', false)).toBe(`${ISS}/token`);
    expect(endpointFor(meta, 'revocation', false)).toBe(`${ISS}/revoke`);
    expect(endpointFor(meta, 'introspection', false)).toBe(`${ISS}/introspect`);
    expect(endpointFor(meta, 'userinfo', false)).toBe(`${ISS}/userinfo`);
    expect(endpointFor(meta, 'pushedAuthorizationRequest', false)).toBe(`${ISS}/par`);
  });

  it('endpointFor: with mutual TLS but no alias, the endpoint itself (or none)', () => {
    const meta = buildProviderMetadata(config(), { ...DOC, mtls_endpoint_aliases: { token_endpoint: `${MTLS}/token` } });
    expect(endpointFor(meta, 'token', true)).toBe(`${MTLS}/token`);
    expect(endpointFor(meta, 'revocation', true)).toBe(`${ISS}/revoke`);
    expect(endpointFor(meta, 'introspection', true)).toBeUndefined();
    expect(endpointFor(meta, 'pushedAuthorizationRequest', true)).toBeUndefined();
  });
});

describe('config.discovery: discovery only fills what is not configured', () => {
  it('by default the well-known URL of the issuer', () => {
    expect(config().discovery).toEqual({ url: `${ISS}/.well-known/openid-configuration`, issuerSetting: ISSUER_SETTING });
  });

  it.each([
    ['the authorization endpoint', { ...EXPLICIT, authorizationEndpoint: undefined }],
    ['the token endpoint', { ...EXPLICIT, tokenEndpoint: undefined }],
    ['a key source (an asymmetric algorithm pinned is not one)', { ...EXPLICIT, jwksUri: undefined, signAlgo: 'RS256' }],
  ])('fetched when %s is missing', (_what, overrides) => {
    expect(config(overrides).discovery.url).toBe(`${ISS}/.well-known/openid-configuration`);
  });

  it.each([
    ['jwksUri', EXPLICIT],
    ['idpSignKey', { ...EXPLICIT, jwksUri: undefined, idpSignKey: PUBLIC_JWK }],
    ['a pinned HS256 (the client secret is the key)', { ...EXPLICIT, jwksUri: undefined, signAlgo: 'HS256' }],
  ])('not fetched with both endpoints and %s configured, saying why', (_what, overrides) => {
    const plan = config(overrides).discovery;
    expect(plan.url).toBeUndefined();
    expect('reason' in plan && plan.reason).toContain('configured explicitly');
  });

  it('not fetched without an issuer', () => {
    const plan = config({ ...EXPLICIT, issuer: undefined }).discovery;
    expect(plan).toMatchObject({ url: undefined, reason: expect.stringContaining('no issuer') as unknown });
  });

  it('an explicit discoveryUrl is always fetched, even when everything is configured', () => {
    const url = 'https://op.example.com/o/openid-configuration';
    expect(config({ discoveryUrl: url }).discovery).toEqual({ url, issuerSetting: ISSUER_SETTING });
    expect(config({ ...EXPLICIT, discoveryUrl: url }).discovery).toEqual({ url, issuerSetting: ISSUER_SETTING });
  });
});

describe('createDiscovery', () => {
  /** A stub HttpClient whose json() the test controls. */
  function stubHttp(impl: (url: string) => Promise<Record<string, unknown>>) {
    const calls: string[] = [];
    const requests: Array<HttpRequest | undefined> = [];
    const http = {
      json: (url: string, req?: HttpRequest) => {
        calls.push(url);
        requests.push(req);
        return impl(url);
      },
      send: () => Promise.reject(new Error('not used')),
      fetch: () => Promise.reject(new Error('not used')),
      close: () => Promise.resolve(),
    } as unknown as HttpClient;
    return { http, calls, requests };
  }

  it('fetches <issuer>/.well-known/openid-configuration lazily (nothing before get()), following up to 3 redirects', async () => {
    const { http, calls, requests } = stubHttp(async () => DOC);
    const d = createDiscovery(config(), http);
    expect(calls).toHaveLength(0);
    expect(d.peek()).toBeUndefined();
    const meta = await d.get();
    expect(calls).toEqual([`${ISS}/.well-known/openid-configuration`]);
    expect(requests).toEqual([{ redirects: { max: 3 } }]);
    expect(meta.tokenEndpoint).toBe(`${ISS}/token`);
    expect(d.peek()).toBe(meta);
  });

  it('fetches discoveryUrl instead when set; its issuer must still be the configured one', async () => {
    const url = 'https://op.example.com/o/openid-configuration';
    const { http, calls, requests } = stubHttp(async () => ({ ...DOC, issuer: 'https://op.example.com/o' }));
    const d = createDiscovery(config({ discoveryUrl: url }), http);
    const err = (await d.get().catch((e: unknown) => e)) as OidcError;
    expect(err.code).toBe('OIDC_DISCOVERY_ISSUER_MISMATCH');
    expect(calls).toEqual([url]);
    expect(requests).toEqual([{ redirects: { max: 3 } }]);
  });

  it('a failure names the document URL', async () => {
    const url = 'https://op.example.com/o/openid-configuration';
    const { http } = stubHttp(async () => {
      throw new OidcError('OIDC_HTTP_STATUS', `${url} answered HTTP 302, a redirect to https://evil.example.com/; only redirects on the origin ...`);
    });
    const err = (await createDiscovery(config({ discoveryUrl: url }), http)
      .get()
      .catch((e: unknown) => e)) as OidcError;
    expect(err.code).toBe('OIDC_DISCOVERY_FAILED');
    expect(err.message).toContain(`could not load the discovery document of ${ISS} from ${url}: ${url} answered HTTP 302`);
  });

  it('with issuer, endpoints and key source configured: no fetch, the issuer kept, one info log saying why', async () => {
    const { http, calls } = stubHttp(async () => DOC);
    const logs: Array<[string, string, Record<string, unknown> | undefined]> = [];
    const logger = { ...silent, info: (m: string, meta?: Record<string, unknown>) => logs.push(['info', m, meta]) };
    const d = createDiscovery(config({ ...EXPLICIT, logger }), http);
    expect(d.peek()).toMatchObject({ issuer: ISS, tokenEndpoint: `${ISS}/token`, jwksUri: `${ISS}/jwks`, userinfoEndpoint: undefined });
    await d.get();
    await d.get();
    expect(calls).toHaveLength(0);
    expect(logs).toEqual([['info', 'discovery is not used', { reason: expect.stringContaining('configured explicitly') as unknown }]]);
  });

  it('single flight: two concurrent get() calls share one fetch', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { http, calls } = stubHttp(async () => {
      await gate;
      return DOC;
    });
    const d = createDiscovery(config(), http);
    const a = d.get();
    const b = d.get();
    release();
    const [ma, mb] = await Promise.all([a, b]);
    expect(calls).toHaveLength(1);
    expect(ma).toBe(mb);
  });

  it('success is cached: later get() calls do not fetch again', async () => {
    const { http, calls } = stubHttp(async () => DOC);
    const d = createDiscovery(config(), http);
    const first = await d.get();
    const second = await d.get();
    expect(second).toBe(first);
    expect(calls).toHaveLength(1);
  });

  it('a fetch failure becomes OIDC_DISCOVERY_FAILED (status 503) and is not cached: the next get() refetches', async () => {
    let n = 0;
    const { http, calls } = stubHttp(async () => {
      n++;
      if (n === 1) throw new OidcError('OIDC_HTTP_NETWORK', 'connection refused');
      return DOC;
    });
    const d = createDiscovery(config(), http);
    const err = await d.get().catch((e: unknown) => e as OidcError);
    expect(err).toMatchObject({ code: 'OIDC_DISCOVERY_FAILED', statusCode: 503 });
    expect((err as OidcError).cause).toMatchObject({ code: 'OIDC_HTTP_NETWORK' });
    expect(d.peek()).toBeUndefined();
    const meta = await d.get();
    expect(meta.tokenEndpoint).toBe(`${ISS}/token`);
    expect(calls).toHaveLength(2);
  });

  it('an issuer mismatch is not cached either', async () => {
    let n = 0;
    const { http, calls } = stubHttp(async () => (++n === 1 ? { ...DOC, issuer: 'https://evil.example.com' } : DOC));
    const d = createDiscovery(config(), http);
    await expect(d.get()).rejects.toMatchObject({ code: 'OIDC_DISCOVERY_ISSUER_MISMATCH' });
    await expect(d.get()).resolves.toMatchObject({ issuer: ISS });
    expect(calls).toHaveLength(2);
  });

  it('concurrent callers during a failure all see it; the following call starts a new fetch', async () => {
    let n = 0;
    const { http, calls } = stubHttp(async () => {
      n++;
      await Promise.resolve();
      if (n === 1) throw new Error('boom');
      return DOC;
    });
    const d = createDiscovery(config(), http);
    const results = await Promise.allSettled([d.get(), d.get()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toHaveLength(1);
    await d.get();
    expect(calls).toHaveLength(2);
  });

  it('without an issuer no fetch ever happens: metadata comes from explicit endpoints', async () => {
    const { http, calls } = stubHttp(async () => DOC);
    const cfg = config({ issuer: undefined, authorizationEndpoint: `${ISS}/a`, tokenEndpoint: `${ISS}/t`, jwksUri: `${ISS}/k` });
    const d = createDiscovery(cfg, http);
    expect(d.peek()?.tokenEndpoint).toBe(`${ISS}/t`);
    expect((await d.get()).authorizationEndpoint).toBe(`${ISS}/a`);
    expect(calls).toHaveLength(0);
  });
});
