/**
 * Whether the provider's discovery document is fetched, and from where: decided once from the
 * configuration, so that protocol/discovery.ts only carries out the decision.
 *
 * Discovery only fills what is not configured: with the authorization and token endpoints and a
 * key source all given (mozilla-django-oidc's explicit settings), the document is not fetched at
 * all unless discoveryUrl asks for it, so providers without one work.
 */
import { ref } from './options.js';

/** The discovery document to fetch, or why none is fetched. */
/** `issuerSetting`: how messages name the issuer option (protocol/discovery.ts does not read the option table). */
export type DiscoveryPlan = { url: string; issuerSetting: string } | { url: undefined; reason: string };

type KeySourceOrEndpoint = 'authorizationEndpoint' | 'tokenEndpoint' | 'jwksUri' | 'idpSignKey';

/**
 * What a login needs that only discovery could otherwise supply: the authorization and token
 * endpoints and a way to verify ID tokens (a JWKS URL, a pinned key, or an HS* algorithm whose
 * key is the client secret; OIDC Core 10.1). Empty when discovery is not needed.
 */
export function missingWithoutDiscovery(
  has: (name: KeySourceOrEndpoint) => boolean,
  signAlgo: string | undefined,
): Array<'authorizationEndpoint' | 'tokenEndpoint' | 'jwksUri'> {
  const missing: Array<'authorizationEndpoint' | 'tokenEndpoint' | 'jwksUri'> = [];
  if (!has('authorizationEndpoint')) missing.push('authorizationEndpoint');
  if (!has('tokenEndpoint')) missing.push('tokenEndpoint');
  const hasKeySource = has('jwksUri') || has('idpSignKey') || (signAlgo ?? '').startsWith('HS') || signAlgo === 'none';
  if (!hasKeySource) missing.push('jwksUri');
  return missing;
}

/** `<issuer>/.well-known/openid-configuration` (OIDC Discovery 4: any trailing "/" removed first). */
export function wellKnownUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/** The settings the decision rests on, as the resolved configuration holds them. */
export interface DiscoveryInputs {
  issuer: string | undefined;
  discoveryUrl: string | undefined;
  signAlgo: string | undefined;
  idpSignKey: string | undefined;
  endpoints: { authorization: string | undefined; token: string | undefined; jwks: string | undefined };
}

/** Whether and where to fetch the discovery document. Pure. */
export function discoveryPlan(config: DiscoveryInputs): DiscoveryPlan {
  if (config.discoveryUrl !== undefined) return { url: config.discoveryUrl, issuerSetting: ref('issuer') };
  if (config.issuer === undefined) {
    return { url: undefined, reason: `no issuer is configured (option ${ref('issuer')}); the explicit endpoints are used` };
  }
  const present = {
    authorizationEndpoint: config.endpoints.authorization,
    tokenEndpoint: config.endpoints.token,
    jwksUri: config.endpoints.jwks,
    idpSignKey: config.idpSignKey,
  };
  if (missingWithoutDiscovery((name) => present[name] !== undefined, config.signAlgo).length === 0) {
    return {
      url: undefined,
      reason:
        'the authorization endpoint, the token endpoint and the ID token key source are configured explicitly; ' +
        `set ${ref('discoveryUrl')} to fetch it anyway`,
    };
  }
  return { url: wellKnownUrl(config.issuer), issuerSetting: ref('issuer') };
}
