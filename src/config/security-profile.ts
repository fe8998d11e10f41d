/**
 * How the client proves who it is and how its tokens are bound, decided once from several
 * options: the client authentication method and its credentials (OIDC Core 9, RFC 7523, RFC 8705),
 * pushed authorization requests (RFC 9126), DPoP (RFC 9449), and `profile: 'fapi2'`, which turns
 * the FAPI 2.0 Security Profile's requirements on and refuses any explicit setting weaker than
 * them, naming the setting and the requirement it breaks.
 */
import { FAPI2_ALGS } from '../algorithms.js';
import { MTLS_METHODS, type ClientAuthMethod } from '../client-auth-methods.js';
import { ref, type OptionName, type OptionValues } from './options.js';
import { signingAlgsFor } from './validators.js';

export type AssertionAudienceSetting = 'token_endpoint' | 'issuer' | 'endpoint' | { fixed: string };

/** The decisions, as the rest of the library reads them (`config.security`). */
export interface SecuritySettings {
  /** `profile: 'fapi2'`. */
  fapi2: boolean;
  /** The configured method (tokenUseBasicAuth mapped); undefined: chosen from the provider's metadata. */
  clientAuthMethod: ClientAuthMethod | undefined;
  /** private_key_jwt's algorithm, when a key is configured. */
  assertionAlg: string | undefined;
  assertionAudience: AssertionAudienceSetting;
  /** true / false as configured (fapi2: true); undefined: only when the provider requires it. */
  par: boolean | undefined;
  dpop: boolean;
  /** RFC 9207: the authorization response must carry `iss` whatever the metadata says (fapi2). */
  requireIssParameter: boolean;
  /** The only ID token algorithms accepted (fapi2: PS256, ES256, EdDSA); undefined: no restriction here. */
  idTokenAlgs: readonly string[] | undefined;
}

type Report = (name: OptionName, problem: string) => void;
type Given = (name: OptionName) => boolean;

const SECRET_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'];
const FAPI2_METHODS: readonly ClientAuthMethod[] = ['private_key_jwt', ...MTLS_METHODS];
const FAPI = "under profile 'fapi2'";

/** The method the options name: clientAuthMethod, else mozilla-django-oidc's tokenUseBasicAuth. */
function configuredMethod(values: OptionValues, report: Report): ClientAuthMethod | undefined {
  const basic = values.tokenUseBasicAuth;
  const fromBasic: ClientAuthMethod | undefined = basic === undefined ? undefined : basic ? 'client_secret_basic' : 'client_secret_post';
  const method = values.clientAuthMethod;
  if (method !== undefined && fromBasic !== undefined && method !== fromBasic) {
    report('tokenUseBasicAuth', `says ${fromBasic} but ${ref('clientAuthMethod')} is ${method}; remove one`);
  }
  return method ?? fromBasic;
}

/** Checks that the credentials the method needs are there, and that nothing configured goes unused. */
function clientAuthProblems(values: OptionValues, given: Given, method: ClientAuthMethod | undefined, report: Report): void {
  // Presence as given (valid or not): an invalid value is reported once, as itself.
  const secret = given('clientSecret');
  const key = given('clientAssertionSigningKey');
  // A client certificate is a credential too: the mTLS methods (RFC 8705 2) can be chosen from discovery.
  const certificate = given('clientCertificate');
  if (method === undefined) {
    if (!secret && !key && !certificate) {
      report(
        'clientSecret',
        `is required (or authenticate with ${ref('clientAssertionSigningKey')} for private_key_jwt, ${ref('clientCertificate')} for mTLS, or set ${ref('clientAuthMethod')}: none for a public client)`,
      );
    }
  } else if (SECRET_METHODS.includes(method) && !secret) {
    report('clientSecret', `is required for ${ref('clientAuthMethod')} ${method}`);
  } else if (method === 'private_key_jwt' && !key) {
    report('clientAssertionSigningKey', `is required for ${ref('clientAuthMethod')} private_key_jwt`);
  } else if (method === 'none' && secret) {
    report('clientSecret', `is set but ${ref('clientAuthMethod')} none sends no secret; remove one`);
  }
  if (key && method !== undefined && method !== 'private_key_jwt') {
    report('clientAssertionSigningKey', `is set but ${ref('clientAuthMethod')} ${method} does not use it`);
  }
  if (values.clientAssertionSigningAlg !== undefined && !key) report('clientAssertionSigningAlg', `needs ${ref('clientAssertionSigningKey')}`);
  if (values.clientAssertionAudience !== undefined && method !== undefined && method !== 'private_key_jwt' && method !== 'client_secret_jwt') {
    report('clientAssertionAudience', `is set but ${ref('clientAuthMethod')} ${method} sends no assertion`);
  }
}

/** The assertion algorithm: the configured one if the key can sign with it, else the key's default. */
function assertionAlgorithm(values: OptionValues, fapi2: boolean, report: Report): string | undefined {
  const material = values.clientAssertionSigningKey;
  if (material === undefined) return undefined;
  const possible = signingAlgsFor(material, fapi2);
  const alg = values.clientAssertionSigningAlg;
  if (alg !== undefined && !possible.includes(alg)) {
    report('clientAssertionSigningAlg', `is ${alg}, which this key cannot sign with; it can sign ${possible.join(', ')}`);
    return undefined;
  }
  return alg ?? possible[0];
}

/**
 * FAPI 2.0 Security Profile (Final, 2025), the client's side: each explicit setting weaker than it
 * is one problem naming the requirement (section 5.3.2 lists the client requirements, 5.4 the
 * cryptography).
 */
function fapi2Problems(values: OptionValues, method: ClientAuthMethod | undefined, assertionAlg: string | undefined, report: Report): void {
  // With a certificate and neither a key nor a method, the method comes from discovery: under
  // fapi2 only the mTLS ones fit (protocol/client-auth.ts, the credentials allow nothing else).
  if (values.issuer === undefined) report('issuer', `is required ${FAPI}: discovery, PAR and the RFC 9207 iss check need it`);
  if (method !== undefined && !FAPI2_METHODS.includes(method)) {
    report(
      values.clientAuthMethod === undefined ? 'tokenUseBasicAuth' : 'clientAuthMethod',
      `is ${method}; ${FAPI} the client authenticates with private_key_jwt or mTLS only (FAPI 2.0 5.3.2: no client secrets)`,
    );
  }
  if (values.clientSecret !== undefined) {
    report('clientSecret', `must not be set ${FAPI}: no client_secret_* authentication and no HS* ID tokens (FAPI 2.0 5.3.2, 5.4)`);
  }
  if (method === undefined && values.clientAssertionSigningKey === undefined && values.clientCertificate === undefined) {
    report('clientAssertionSigningKey', `is required ${FAPI} (or set ${ref('clientAuthMethod')} to tls_client_auth or self_signed_tls_client_auth for mTLS)`);
  }
  if (values.pushedAuthorizationRequests === false)
    report('pushedAuthorizationRequests', `must not be false ${FAPI}: authorization requests are pushed (FAPI 2.0 5.3.2, RFC 9126)`);
  if (values.usePkce === false) report('usePkce', `must not be false ${FAPI}: PKCE with S256 is required (FAPI 2.0 5.3.2, RFC 7636)`);
  const mtlsBound = method !== undefined && MTLS_METHODS.includes(method);
  if (values.dpop === false && !mtlsBound) {
    report('dpop', `must not be false ${FAPI} unless mTLS binds the tokens: access tokens must be sender-constrained (FAPI 2.0 5.3.2, RFC 9449 or RFC 8705)`);
  }
  const fapiAlg = (alg: string | undefined) => alg === undefined || (FAPI2_ALGS as readonly string[]).includes(alg);
  if (!fapiAlg(values.signAlgo)) report('signAlgo', `is ${values.signAlgo}; ${FAPI} only ${FAPI2_ALGS.join(', ')} are allowed (FAPI 2.0 5.4)`);
  if (values.clientAssertionSigningKey !== undefined && !fapiAlg(assertionAlg)) {
    report(
      values.clientAssertionSigningAlg === undefined ? 'clientAssertionSigningKey' : 'clientAssertionSigningAlg',
      `signs with ${assertionAlg}; ${FAPI} only ${FAPI2_ALGS.join(', ')} are allowed (FAPI 2.0 5.4): use an RSA (PS256), P-256 (ES256) or Ed25519 key`,
    );
  }
  if (!fapiAlg(values.dpopSigningAlg))
    report('dpopSigningAlg', `is ${values.dpopSigningAlg}; ${FAPI} only ${FAPI2_ALGS.join(', ')} are allowed (FAPI 2.0 5.4)`);
  if (values.clientAssertionAudience !== undefined && values.clientAssertionAudience !== 'issuer') {
    report('clientAssertionAudience', `must be issuer ${FAPI}: assertions name the issuer identifier (FAPI 2.0 5.3.2, RFC 9126 2)`);
  }
  if (values.allowUnsecuredJwt) report('allowUnsecuredJwt', `must not be true ${FAPI} (FAPI 2.0 5.4)`);
  if (values.verifySsl === false) report('verifySsl', `must not be false ${FAPI}: TLS server certificates are checked (FAPI 2.0 5.2)`);
}

/** Check the options together and decide; every problem goes to `report`. */
export function resolveSecurity(values: OptionValues, given: Given, report: Report): SecuritySettings {
  const fapi2 = values.profile === 'fapi2';
  const method = configuredMethod(values, report);
  clientAuthProblems(values, given, method, report);
  const assertionAlg = assertionAlgorithm(values, fapi2, report);
  if (fapi2) fapi2Problems(values, method, assertionAlg, report);
  const aud = values.clientAssertionAudience;
  const mtlsBound = method !== undefined && MTLS_METHODS.includes(method);
  return {
    fapi2,
    clientAuthMethod: method ?? (fapi2 && values.clientAssertionSigningKey !== undefined ? 'private_key_jwt' : undefined),
    assertionAlg,
    assertionAudience:
      aud === undefined ? (fapi2 ? 'issuer' : 'token_endpoint') : aud === 'token_endpoint' || aud === 'issuer' || aud === 'endpoint' ? aud : { fixed: aud },
    par: fapi2 ? true : values.pushedAuthorizationRequests,
    dpop: values.dpop ?? (fapi2 && !mtlsBound),
    requireIssParameter: fapi2,
    idTokenAlgs: fapi2 ? FAPI2_ALGS : undefined,
  };
}
