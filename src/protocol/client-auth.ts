/**
 * Client authentication wherever the client talks to the provider as itself: the token endpoint
 * (code and refresh grants), pushed authorization requests, revocation and introspection.
 *
 * The methods are OIDC Core 9's, with RFC 8705's two mTLS methods and `none`:
 * - client_secret_basic (RFC 6749 2.3.1), client_secret_post (RFC 6749 2.3.1, second form);
 * - client_secret_jwt and private_key_jwt: a signed assertion (RFC 7521 4.2, RFC 7523 2.2 and 3);
 * - tls_client_auth and self_signed_tls_client_auth (RFC 8705 2.1, 2.2): the TLS client certificate
 *   authenticates (the HTTP client presents it); the form carries the client id only;
 * - none: a public client (RFC 6749 2.1), protected by PKCE, sends its client id only.
 *
 * Choosing the method (`chooseClientAuthMethod`) is pure; so is building the assertion's claims.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { OidcError } from '../errors.js';
import type { SigningKey } from '../keys/client-assertion-key.js';
import { MTLS_METHODS, type ClientAuthMethod } from '../client-auth-methods.js';

export { CLIENT_AUTH_METHODS, type ClientAuthMethod } from '../client-auth-methods.js';

/** RFC 7521 4.2: the client_assertion_type of a JWT assertion (RFC 7523 2.2). */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The assertion's lifetime: short, as each is made for one request (RFC 7523 3 item 4). */
const ASSERTION_LIFETIME_SECONDS = 60;

/**
 * What the `aud` of an assertion is: the token endpoint URL (OIDC Core 9 "SHOULD"; what Okta,
 * Entra ID, Keycloak and oidc-provider accept), the issuer identifier (RFC 9126 2 "SHOULD", and
 * required of FAPI 2.0 clients), the URL of the endpoint called, or a fixed value.
 */
export type AssertionAudience = 'token_endpoint' | 'issuer' | 'endpoint' | { fixed: string };

/** What the client holds to authenticate (from the configuration). */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string | undefined;
  /** private_key_jwt's key (keys/client-assertion-key.ts), loaded on first use. */
  assertionKey: (() => Promise<SigningKey>) | undefined;
  /** A client certificate is configured (tls_client_auth, self_signed_tls_client_auth). */
  hasCertificate: boolean;
  /** The configured method; undefined: chosen from the provider's metadata. */
  method: ClientAuthMethod | undefined;
  audience: AssertionAudience;
}

/** What the assertion's audience and the automatic choice need to know of the provider. */
export interface ClientAuthTarget {
  issuer: string | undefined;
  tokenEndpoint: string;
  /** token_endpoint_auth_methods_supported (OIDC Discovery 3); undefined when not advertised. */
  supportedMethods: readonly string[] | undefined;
}

/** Methods the configured credentials can perform. */
export function possibleMethods(creds: Pick<ClientCredentials, 'clientSecret' | 'assertionKey' | 'hasCertificate'>): ClientAuthMethod[] {
  const out: ClientAuthMethod[] = [];
  // Preference when several fit: a key configured for private_key_jwt is there for that; then
  // today's default, client_secret_basic.
  if (creds.assertionKey) out.push('private_key_jwt');
  if (creds.clientSecret !== undefined) out.push('client_secret_basic', 'client_secret_post', 'client_secret_jwt');
  if (creds.hasCertificate) out.push('tls_client_auth', 'self_signed_tls_client_auth');
  return out;
}

/**
 * The method to use. A configured method is used as is. Otherwise the first of the methods the
 * credentials allow that the provider advertises (OIDC Discovery 3: when
 * token_endpoint_auth_methods_supported is omitted, the default is client_secret_basic). Pure.
 */
export function chooseClientAuthMethod(creds: ClientCredentials, target: ClientAuthTarget, setting: string): ClientAuthMethod {
  if (creds.method !== undefined) return creds.method;
  const possible = possibleMethods(creds);
  const supported = target.supportedMethods ?? ['client_secret_basic'];
  const fit = possible.find((m) => supported.includes(m));
  if (fit) return fit;
  throw new OidcError(
    'OIDC_CONFIG_INVALID',
    `express-oidc-rp: no client authentication method fits: the provider supports ${supported.join(', ') || 'none'}, the configured credentials allow ${possible.join(', ') || 'none'}; set option ${setting} and its credentials`,
    { statusCode: 500 },
  );
}

/** The `aud` of an assertion sent to `endpoint`. Pure. */
export function assertionAudience(audience: AssertionAudience, target: ClientAuthTarget, endpoint: string): string {
  if (typeof audience === 'object') return audience.fixed;
  if (audience === 'endpoint') return endpoint;
  if (audience === 'issuer') {
    if (target.issuer === undefined)
      throw new OidcError('OIDC_CONFIG_INVALID', 'express-oidc-rp: a client assertion for the issuer needs the issuer configured', { statusCode: 500 });
    return target.issuer;
  }
  return target.tokenEndpoint;
}

/**
 * RFC 7523 3: iss and sub are the client id (item 1, 2), aud identifies the provider (item 3), a
 * short exp (item 4), iat, and a jti the provider can use against replay (item 7). `aud` is a
 * single string: FAPI 2.0 servers compare it as one. Pure.
 */
export function assertionClaims(clientId: string, aud: string, now: number): Record<string, unknown> {
  return { iss: clientId, sub: clientId, aud, jti: randomBytes(16).toString('base64url'), iat: now, exp: now + ASSERTION_LIFETIME_SECONDS };
}

export interface AuthenticatedRequest {
  form: Record<string, string>;
  headers: Record<string, string>;
}

/** RFC 6749 2.3.1: id and secret are form-urlencoded BEFORE base64 (a ':' or '%' in a secret then survives). */
function basicHeader(clientId: string, clientSecret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
}

/** Add the client's authentication to a request to `endpoint` with this `form`. */
export async function authenticateClient(
  creds: ClientCredentials,
  method: ClientAuthMethod,
  target: ClientAuthTarget,
  endpoint: string,
  form: Record<string, string>,
): Promise<AuthenticatedRequest> {
  const secret = (): string => {
    if (creds.clientSecret === undefined) throw new OidcError('OIDC_CONFIG_INVALID', `express-oidc-rp: ${method} needs the client secret`, { statusCode: 500 });
    return creds.clientSecret;
  };
  switch (method) {
    case 'client_secret_basic':
      return { form, headers: { authorization: basicHeader(creds.clientId, secret()) } };
    case 'client_secret_post':
      return { form: { ...form, client_id: creds.clientId, client_secret: secret() }, headers: {} };
    case 'client_secret_jwt':
    case 'private_key_jwt': {
      const claims = assertionClaims(creds.clientId, assertionAudience(creds.audience, target, endpoint), Math.floor(Date.now() / 1000));
      let assertion: string;
      if (method === 'client_secret_jwt') {
        // RFC 7518 3.2: HS256 with the secret's octets as the key.
        assertion = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret()));
      } else {
        if (!creds.assertionKey)
          throw new OidcError('OIDC_CONFIG_INVALID', 'express-oidc-rp: private_key_jwt needs a client assertion signing key', { statusCode: 500 });
        const { key, alg, kid } = await creds.assertionKey();
        assertion = await new SignJWT(claims).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).sign(key);
      }
      // RFC 7521 4.2: client_id is optional with an assertion; sending it lets providers find the
      // client (and its keys) before verifying, which several require.
      return { form: { ...form, client_id: creds.clientId, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion }, headers: {} };
    }
    case 'tls_client_auth':
    case 'self_signed_tls_client_auth':
    case 'none':
      // RFC 8705 2: "the client_id parameter ... MUST" be sent; the certificate is the credential.
      return { form: { ...form, client_id: creds.clientId }, headers: {} };
  }
}

/** RFC 8705: these methods authenticate with the TLS client certificate. */
export const isMtlsMethod = (method: ClientAuthMethod): boolean => MTLS_METHODS.includes(method);

/**
 * A client authenticator bound to one provider: the method chosen once per metadata document.
 * Every endpoint that authenticates the client goes through `authenticate`.
 */
export interface ClientAuthenticator {
  readonly method: ClientAuthMethod;
  authenticate(endpoint: string, form: Record<string, string>): Promise<AuthenticatedRequest>;
}

export function clientAuthenticator(creds: ClientCredentials, target: ClientAuthTarget, setting: string): ClientAuthenticator {
  const method = chooseClientAuthMethod(creds, target, setting);
  return { method, authenticate: (endpoint, form) => authenticateClient(creds, method, target, endpoint, form) };
}
