/**
 * OpenID Connect Discovery 1.0: the provider metadata, merged with explicitly configured
 * endpoints (which win, as in mozilla-django-oidc where they are the only source).
 *
 * Whether the document is fetched at all, and from where, is decided by the configuration
 * (discoveryPlan in src/config/discovery-plan.ts); this module carries the decision out. The
 * document is fetched lazily on the first request that needs it and cached; a failed fetch is not
 * cached, so a provider that is down at boot does not take the app down with it.
 */
import { providerUrlProblem } from '../config/validators.js';
import { OidcError } from '../errors.js';
import { tenantTemplateFor } from './issuer.js';
import type { HttpClient } from '../http/client.js';
import type { OidcLogger } from '../types.js';

/**
 * Redirects followed to the document, within its URL's origin (http/redirects.ts):
 * django-oauth-toolkit answers the well-known URL with a 301 to the same URL plus "/" (Django's
 * APPEND_SLASH), and a moved document may take a hop or two more.
 */
const MAX_DISCOVERY_REDIRECTS = 3;

/** What the rest of the library needs to know about the provider. */
export interface ProviderMetadata {
  issuer: string | undefined;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint: string | undefined;
  jwksUri: string | undefined;
  revocationEndpoint: string | undefined;
  endSessionEndpoint: string | undefined;
  introspectionEndpoint: string | undefined;
  idTokenSigningAlgValues: string[] | undefined;
  /** token_endpoint_auth_methods_supported (OIDC Discovery 3); undefined when not advertised. */
  tokenEndpointAuthMethods: string[] | undefined;
  /** RFC 9126 5: the pushed authorization request endpoint. */
  pushedAuthorizationRequestEndpoint: string | undefined;
  /** RFC 9126 5: the provider accepts authorization requests only through PAR. */
  requirePushedAuthorizationRequests: boolean;
  /** RFC 9449 5.1: dpop_signing_alg_values_supported. */
  dpopSigningAlgValues: string[] | undefined;
  /** RFC 9207 section 3: the provider always sends `iss` in authorization responses. */
  authorizationResponseIssParameterSupported: boolean;
  /**
   * RFC 8705 5: where to send the requests made with a client certificate, for providers that
   * request certificates only on a separate host or port. Empty when the provider has none, and
   * never for an endpoint configured explicitly (that one wins, as over the document's).
   */
  mtlsEndpointAliases: MtlsEndpointAliases;
  /** RFC 8705 3.3: the provider issues access tokens bound to the client certificate (`cnf.x5t#S256`). */
  tlsClientCertificateBoundAccessTokens: boolean;
  /**
   * Microsoft Entra multi-tenant: the discovered issuer template with `{tenantid}`, by which each
   * token's `iss` is checked against its `tid` (protocol/issuer.ts). Undefined for every other provider.
   */
  tenantTemplate: string | undefined;
  /** Raw discovery document (empty without discovery). */
  raw: Record<string, unknown>;
}

/** The endpoints a client using mutual TLS calls, and their RFC 8705 5 alias names. */
const MTLS_ALIASED = {
  token: 'token_endpoint',
  revocation: 'revocation_endpoint',
  introspection: 'introspection_endpoint',
  userinfo: 'userinfo_endpoint',
  pushedAuthorizationRequest: 'pushed_authorization_request_endpoint',
} as const;

export type MtlsAliasedEndpoint = keyof typeof MTLS_ALIASED;

/** RFC 8705 5 `mtls_endpoint_aliases`, for the endpoints this library calls. */
export type MtlsEndpointAliases = { [E in MtlsAliasedEndpoint]?: string };

/**
 * The aliases of the document, each a provider URL (https, http on loopback only); an alias that is
 * not one is left out, as is the alias of an explicitly configured endpoint.
 */
function mtlsAliasesOf(doc: Record<string, unknown>, explicit: ExplicitEndpoints): MtlsEndpointAliases {
  const aliases = doc.mtls_endpoint_aliases;
  if (typeof aliases !== 'object' || aliases === null || Array.isArray(aliases)) return {};
  const out: MtlsEndpointAliases = {};
  for (const [name, key] of Object.entries(MTLS_ALIASED) as Array<[MtlsAliasedEndpoint, string]>) {
    const url = optionalString(aliases as Record<string, unknown>, key);
    if (url === undefined || providerUrlProblem(url) !== undefined) continue;
    if (name !== 'pushedAuthorizationRequest' && explicit[name] !== undefined) continue;
    out[name] = url;
  }
  return out;
}

/**
 * The URL of `name` for a request made with (`useMtls`) or without a client certificate: its
 * RFC 8705 5 alias when the provider has one and mutual TLS is in use, else the endpoint itself.
 * "In use" is for the caller: a client certificate is configured (tls_client_auth,
 * self_signed_tls_client_auth, or certificate-bound tokens, RFC 8705 2 and 3). Pure.
 */
export function endpointFor(meta: ProviderMetadata, name: 'token', useMtls: boolean): string;
export function endpointFor(meta: ProviderMetadata, name: MtlsAliasedEndpoint, useMtls: boolean): string | undefined;
export function endpointFor(meta: ProviderMetadata, name: MtlsAliasedEndpoint, useMtls: boolean): string | undefined {
  const alias = useMtls ? meta.mtlsEndpointAliases[name] : undefined;
  if (alias !== undefined) return alias;
  switch (name) {
    case 'token':
      return meta.tokenEndpoint;
    case 'revocation':
      return meta.revocationEndpoint;
    case 'introspection':
      return meta.introspectionEndpoint;
    case 'userinfo':
      return meta.userinfoEndpoint;
    case 'pushedAuthorizationRequest':
      return meta.pushedAuthorizationRequestEndpoint;
  }
}

/** The discovery document to fetch, or why none is fetched. */
/** `issuerSetting`: how messages name the issuer option, e.g. `"issuer" (env OIDC_OP_ISSUER)`. */
export type DiscoveryPlan = { url: string; issuerSetting: string } | { url: undefined; reason: string };

/** Explicitly configured endpoints: each wins over the document's. */
export interface ExplicitEndpoints {
  authorization: string | undefined;
  token: string | undefined;
  userinfo: string | undefined;
  jwks: string | undefined;
  revocation: string | undefined;
  endSession: string | undefined;
  introspection: string | undefined;
}

/** What discovery needs from the configuration (the resolved configuration is one). */
export interface DiscoverySettings {
  issuer: string | undefined;
  discovery: DiscoveryPlan;
  endpoints: ExplicitEndpoints;
  logger: Pick<OidcLogger, 'info'>;
}

const optionalString = (doc: Record<string, unknown>, key: string): string | undefined => {
  const v = doc[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/**
 * Validate a fetched discovery document against the configured issuer and merge explicit
 * endpoints; `fetched` is undefined when discovery is not used. Pure: no I/O.
 */
export function buildProviderMetadata(
  config: Pick<DiscoverySettings, 'issuer' | 'endpoints'>,
  fetched: Record<string, unknown> | undefined,
  issuerSetting = 'issuer',
): ProviderMetadata {
  const doc = fetched ?? {};
  // Entra's documented exception to 4.3: common/organizations/consumers discover a template.
  const tenantTemplate = fetched !== undefined && config.issuer !== undefined ? tenantTemplateFor(config.issuer, doc.issuer) : undefined;
  if (fetched !== undefined && config.issuer !== undefined && tenantTemplate === undefined) {
    // OIDC Discovery 4.3: the issuer value returned MUST be identical to the issuer URL used
    // to fetch the document; otherwise an attacker-controlled document could name any issuer.
    if (doc.issuer !== config.issuer) {
      throw new OidcError(
        'OIDC_DISCOVERY_ISSUER_MISMATCH',
        `discovery document issuer "${String(doc.issuer)}" does not equal the configured issuer "${config.issuer}" (option ${issuerSetting})`,
      );
    }
  }
  const e = config.endpoints;
  const authorizationEndpoint = e.authorization ?? optionalString(doc, 'authorization_endpoint');
  const tokenEndpoint = e.token ?? optionalString(doc, 'token_endpoint');
  if (!authorizationEndpoint || !tokenEndpoint) {
    throw new OidcError('OIDC_DISCOVERY_FAILED', 'provider metadata has no authorization_endpoint or token_endpoint');
  }
  const algs = doc.id_token_signing_alg_values_supported;
  const strings = (key: string): string[] | undefined => {
    const v = doc[key];
    return Array.isArray(v) ? v.filter((a): a is string => typeof a === 'string') : undefined;
  };
  return {
    issuer: config.issuer,
    authorizationEndpoint,
    tokenEndpoint,
    userinfoEndpoint: e.userinfo ?? optionalString(doc, 'userinfo_endpoint'),
    jwksUri: e.jwks ?? optionalString(doc, 'jwks_uri'),
    revocationEndpoint: e.revocation ?? optionalString(doc, 'revocation_endpoint'),
    endSessionEndpoint: e.endSession ?? optionalString(doc, 'end_session_endpoint'),
    introspectionEndpoint: e.introspection ?? optionalString(doc, 'introspection_endpoint'),
    idTokenSigningAlgValues: Array.isArray(algs) ? algs.filter((a): a is string => typeof a === 'string') : undefined,
    tokenEndpointAuthMethods: strings('token_endpoint_auth_methods_supported'),
    pushedAuthorizationRequestEndpoint: optionalString(doc, 'pushed_authorization_request_endpoint'),
    requirePushedAuthorizationRequests: doc.require_pushed_authorization_requests === true,
    dpopSigningAlgValues: strings('dpop_signing_alg_values_supported'),
    authorizationResponseIssParameterSupported: doc.authorization_response_iss_parameter_supported === true,
    mtlsEndpointAliases: mtlsAliasesOf(doc, e),
    tlsClientCertificateBoundAccessTokens: doc.tls_client_certificate_bound_access_tokens === true,
    tenantTemplate,
    raw: doc,
  };
}

export interface Discovery {
  /** Provider metadata; fetches discovery once (single flight), retries on a later call after a failure. */
  get(): Promise<ProviderMetadata>;
  /** Cached metadata if already known, without I/O. */
  peek(): ProviderMetadata | undefined;
}

export function createDiscovery(config: DiscoverySettings, http: HttpClient): Discovery {
  let cached: ProviderMetadata | undefined;
  let pending: Promise<ProviderMetadata> | undefined;

  const plan = config.discovery;
  if (plan.url === undefined) {
    // Explicit settings are all there is (mozilla-django-oidc style); the issuer, when configured,
    // still checks the ID token's iss (ProviderMetadata.issuer is config.issuer).
    config.logger.info('discovery is not used', { reason: plan.reason });
    cached = buildProviderMetadata(config, undefined);
  }

  async function load(fetchPlan: { url: string; issuerSetting: string }): Promise<ProviderMetadata> {
    const { url } = fetchPlan;
    let doc: Record<string, unknown>;
    try {
      doc = await http.json(url, { redirects: { max: MAX_DISCOVERY_REDIRECTS } });
    } catch (err) {
      throw new OidcError('OIDC_DISCOVERY_FAILED', `could not load the discovery document of ${String(config.issuer)} from ${url}: ${(err as Error).message}`, {
        cause: err,
        statusCode: 503,
      });
    }
    return buildProviderMetadata(config, doc, fetchPlan.issuerSetting);
  }

  return {
    peek: () => cached,
    get() {
      if (cached) return Promise.resolve(cached);
      if (!pending) {
        pending = load(plan as { url: string; issuerSetting: string }).then(
          (meta) => {
            cached = meta;
            pending = undefined;
            return meta;
          },
          (err: unknown) => {
            pending = undefined; // not cached: the next request tries again
            throw err;
          },
        );
      }
      return pending;
    },
  };
}
