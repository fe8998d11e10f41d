/**
 * The OpenID Provider as this client sees it: the one HTTP client, discovery, the verification
 * keys, the client's credentials, and ID token validation with this client's expectations.
 * Built once per createOidcAuth(); holds no per-user state.
 */
import { createHttpClient, type HttpClient } from '../http/client.js';
import { createKeyResolver, type KeyResolver } from '../keys/jwks.js';
import { createDiscovery, type Discovery, type ProviderMetadata } from './discovery.js';
import type { ClientCredentials } from './client-auth.js';
import { validateIdToken, type PreviousIdToken } from './id-token.js';
import { allowedIdTokenAlgorithms } from './jwt-verification.js';
import type { OidcClaims } from '../types.js';

/** What the provider needs from the configuration (ResolvedConfig has all of it). */
export type ProviderSettings = Parameters<typeof createDiscovery>[0] & {
  clientId: string;
  clientSecret: string;
  tokenUseBasicAuth: boolean;
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
  creds: ClientCredentials;
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

  return {
    http,
    discovery,
    creds: { clientId: settings.clientId, clientSecret: settings.clientSecret, useBasicAuth: settings.tokenUseBasicAuth },
    keysFor,
    validateIdToken(idToken, meta, nonce, previous) {
      return validateIdToken(idToken, {
        issuer: meta.issuer,
        tenantTemplate: meta.tenantTemplate,
        allowedTenants: settings.allowedTenants,
        clientId: settings.clientId,
        nonce,
        clockTolerance: settings.clockToleranceSeconds,
        algorithms: allowedIdTokenAlgorithms(settings.signAlgo, meta.idTokenSigningAlgValues, settings.allowUnsecuredJwt),
        getKey: keysFor(meta),
        allowUnsecured: settings.allowUnsecuredJwt,
        previous,
      });
    },
    close: () => http.close(),
  };
}
