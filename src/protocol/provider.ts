/**
 * The OpenID Provider as this client sees it: the one HTTP client, discovery, the verification
 * keys, the client's credentials, and ID token validation with this client's expectations.
 * Built once per createOidcAuth(); holds no per-user state.
 */
import { createHttpClient, type HttpClient } from '../http/client.js';
import { createKeyResolver, type KeyResolver } from '../keys/jwks.js';
import { createDiscovery, endpointFor, type Discovery, type MtlsAliasedEndpoint, type ProviderMetadata } from './discovery.js';
import { clientAuthenticator, isMtlsMethod, type ClientAuthenticator, type ClientCredentials } from './client-auth.js';
import { DpopNonces, type DpopContext, type DpopKey } from './dpop.js';
import type { TokenEndpointCall } from './token-endpoint.js';
import { clientAssertionKey } from '../keys/client-assertion-key.js';
import { optionRef, type ResolvedConfig } from '../config.js';
import { validateIdToken, type PreviousIdToken } from './id-token.js';
import { allowedIdTokenAlgorithms } from './jwt-verification.js';
import type { OidcClaims } from '../types.js';

/** What the provider needs from the configuration (ResolvedConfig has all of it). */
export type ProviderSettings = Parameters<typeof createDiscovery>[0] & {
  clientId: string;
  clientSecret: string | undefined;
  clientAssertionSigningKey: string | undefined;
  security: ResolvedConfig['security'];
  signAlgo: string | undefined;
  idpSignKey: string | undefined;
  allowUnsecuredJwt: boolean;
  clockToleranceSeconds: number;
  timeoutMs: number;
  proxy: string | undefined;
  verifySsl: boolean;
  maxResponseBytes: number;
  /** Mutual TLS (RFC 8705) and a private CA: passed to the HTTP client. */
  clientCertificate: string | undefined;
  clientKey: string | undefined;
  caCertificates: string | undefined;
  /** OIDC_OP_ALLOWED_TENANTS (Entra multi-tenant). */
  allowedTenants: readonly string[];
};

export interface Provider {
  http: HttpClient;
  discovery: Discovery;
  /** How the client authenticates at this provider (the method is chosen once per metadata). */
  clientFor(meta: ProviderMetadata): ClientAuthenticator;
  /**
   * An endpoint's URL for this client: its RFC 8705 5 mTLS alias when the client presents a
   * certificate and the provider publishes one, else the endpoint itself.
   */
  endpoint(meta: ProviderMetadata, name: 'token'): string;
  endpoint(meta: ProviderMetadata, name: MtlsAliasedEndpoint): string | undefined;
  /** The token endpoint, authenticated, with the login's DPoP key when it has one. */
  tokenCall(meta: ProviderMetadata, dpopKey: DpopKey | undefined): TokenEndpointCall;
  /** The login's DPoP key with this process's nonce cache (RFC 9449 8, 9). */
  dpop(key: DpopKey): DpopContext;
  /** The verification keys of this provider (JWKS, pinned key, or the client secret for HS*). */
  keysFor(meta: ProviderMetadata): KeyResolver;
  /** An ID token from the token endpoint (code or refresh grant), OIDC Core 3.1.3.7 / 12.2. */
  validateIdToken(idToken: string, meta: ProviderMetadata, nonce: string | undefined, previous?: PreviousIdToken): Promise<OidcClaims>;
  /** Release the connection pool (tests, graceful shutdown). */
  close(): Promise<void>;
}

export function createProvider(settings: ProviderSettings): Provider {
  const http = createHttpClient({
    timeoutMs: settings.timeoutMs,
    proxy: settings.proxy,
    verifySsl: settings.verifySsl,
    maxResponseBytes: settings.maxResponseBytes,
    clientCertificate: settings.clientCertificate,
    clientKey: settings.clientKey,
    caCertificates: settings.caCertificates,
  });
  const discovery = createDiscovery(settings, http);

  // One key resolver per JWKS URL (the URL only becomes known after discovery).
  let keys: { uri: string | undefined; resolver: KeyResolver } | undefined;
  const keysFor = (meta: ProviderMetadata): KeyResolver => {
    if (!keys || keys.uri !== meta.jwksUri) {
      keys = {
        uri: meta.jwksUri,
        resolver: createKeyResolver({
          clientSecret: settings.clientSecret,
          idpSignKey: settings.idpSignKey,
          jwksUri: meta.jwksUri,
          http,
          timeoutMs: settings.timeoutMs,
        }),
      };
    }
    return keys.resolver;
  };

  const { security } = settings;
  const creds: ClientCredentials = {
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    assertionKey:
      settings.clientAssertionSigningKey !== undefined && security.assertionAlg !== undefined
        ? clientAssertionKey(settings.clientAssertionSigningKey, security.assertionAlg)
        : undefined,
    // RFC 8705 2: the HTTP client presents it (clientCertificate / clientKey, checked together at start-up).
    hasCertificate: settings.clientCertificate !== undefined,
    method: security.clientAuthMethod,
    audience: security.assertionAudience,
  };
  // The method depends on the metadata (token_endpoint_auth_methods_supported): decided once per document.
  let client: { meta: ProviderMetadata; authenticator: ClientAuthenticator } | undefined;
  const clientFor = (meta: ProviderMetadata): ClientAuthenticator => {
    if (client?.meta !== meta) {
      const authenticator = clientAuthenticator(
        creds,
        { issuer: meta.issuer, tokenEndpoint: meta.tokenEndpoint, supportedMethods: meta.tokenEndpointAuthMethods },
        optionRef('clientAuthMethod'),
      );
      client = { meta, authenticator };
    }
    return client.authenticator;
  };
  const nonces = new DpopNonces();
  const dpop = (key: DpopKey): DpopContext => ({ key, nonces });

  return {
    http,
    discovery,
    clientFor,
    endpoint: ((meta: ProviderMetadata, name: MtlsAliasedEndpoint) => endpointFor(meta, name, creds.hasCertificate)) as Provider['endpoint'],
    tokenCall: (meta, dpopKey) => ({
      http,
      endpoint: endpointFor(meta, 'token', creds.hasCertificate),
      client: clientFor(meta),
      dpop: dpopKey ? dpop(dpopKey) : undefined,
      // FAPI 2.0: sender-constrained tokens only; with mTLS the certificate binds them instead.
      requireBound: security.fapi2 && !isMtlsMethod(clientFor(meta).method),
    }),
    dpop,
    keysFor,
    validateIdToken(idToken, meta, nonce, previous) {
      return validateIdToken(idToken, {
        issuer: meta.issuer,
        tenantTemplate: meta.tenantTemplate,
        allowedTenants: settings.allowedTenants,
        clientId: settings.clientId,
        nonce,
        clockTolerance: settings.clockToleranceSeconds,
        algorithms: restrictAlgorithms(
          allowedIdTokenAlgorithms(settings.signAlgo, meta.idTokenSigningAlgValues, settings.allowUnsecuredJwt),
          security.idTokenAlgs,
        ),
        getKey: keysFor(meta),
        allowUnsecured: settings.allowUnsecuredJwt,
        previous,
      });
    },
    close: () => http.close(),
  };
}

/** A profile's allow-list (FAPI 2.0 5.4) over the usual choice; the profile's list when nothing is left. */
function restrictAlgorithms(algs: string[], only: readonly string[] | undefined): string[] {
  if (only === undefined) return algs;
  const kept = algs.filter((a) => only.includes(a));
  return kept.length > 0 ? kept : [...only];
}
