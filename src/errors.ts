/**
 * Typed errors with stable string codes.
 *
 * Match on `err.code`, not on `instanceof`: two copies of this package in one
 * dependency tree (the dual-package hazard) would make `instanceof` lie, while
 * the code strings are part of the public API and never change meaning.
 */

export type OidcErrorCode =
  // configuration and wiring
  | 'OIDC_CONFIG_INVALID' // an option or env var is missing or malformed
  | 'OIDC_SESSION_MISSING' // express-session is not mounted before the library
  // talking to the provider (http/client.ts)
  | 'OIDC_HTTP_TIMEOUT' // the provider did not answer within OIDC_TIMEOUT
  | 'OIDC_HTTP_NETWORK' // connection refused, reset, DNS, TLS failure
  | 'OIDC_HTTP_RESPONSE_TOO_LARGE' // body over OIDC_MAX_RESPONSE_BYTES
  | 'OIDC_HTTP_STATUS' // unexpected status without an OAuth error body
  | 'OIDC_HTTP_INVALID_BODY' // not JSON, or JSON of the wrong shape
  | 'OIDC_OP_ERROR' // an OAuth 2.0 error response (RFC 6749 5.2), `error` in `oauthError`
  // discovery
  | 'OIDC_DISCOVERY_FAILED'
  | 'OIDC_DISCOVERY_ISSUER_MISMATCH'
  // pushed authorization requests (RFC 9126)
  | 'OIDC_PAR_FAILED' // the PAR endpoint refused the request or answered malformed
  // authorization response (callback)
  | 'OIDC_STATE_MISSING'
  | 'OIDC_STATE_MISMATCH'
  | 'OIDC_STATE_EXPIRED'
  | 'OIDC_AUTHORIZATION_ERROR' // the provider redirected back with `error`
  | 'OIDC_ISS_MISMATCH' // RFC 9207
  | 'OIDC_CODE_MISSING'
  // token endpoint response
  | 'OIDC_TOKEN_RESPONSE_INVALID'
  // ID token validation (OIDC Core 3.1.3.7, 12.2)
  | 'OIDC_ID_TOKEN_MISSING'
  | 'OIDC_ID_TOKEN_INVALID' // malformed, or a claim check failed
  | 'OIDC_ID_TOKEN_SIGNATURE' // signature did not verify / no matching key
  | 'OIDC_ID_TOKEN_ALG' // algorithm not allowed
  | 'OIDC_ID_TOKEN_EXPIRED'
  | 'OIDC_ID_TOKEN_NONCE'
  | 'OIDC_TENANT_NOT_ALLOWED' // Entra multi-tenant: the token's tenant is not in OIDC_OP_ALLOWED_TENANTS
  // userinfo
  | 'OIDC_USERINFO_SUB_MISMATCH'
  // bearer access tokens (RFC 6750, RFC 9068, RFC 7662)
  | 'OIDC_ACCESS_TOKEN_INVALID' // malformed, bad signature, a claim check failed, inactive at introspection
  | 'OIDC_INSUFFICIENT_SCOPE' // valid token without the scopes the route requires
  // user resolution (hooks)
  | 'OIDC_CLAIMS_REJECTED' // verifyClaims returned false
  | 'OIDC_USER_NOT_FOUND' // no user and creation disabled
  | 'OIDC_USER_AMBIGUOUS' // several users matched the claims
  // back-channel / front-channel logout
  | 'OIDC_LOGOUT_TOKEN_INVALID'
  | 'OIDC_LOGOUT_TOKEN_REPLAYED'
  // session refresh
  | 'OIDC_REFRESH_FAILED' // temporary: nothing changed, try again later
  | 'OIDC_SESSION_ENDED' // the credential is dead (invalid_grant...)
  // req.oidc.fetch
  | 'OIDC_NOT_AUTHENTICATED'; // no signed-in session (or no access token kept) to call an API with

export interface OidcErrorOptions {
  cause?: unknown;
  /** OAuth 2.0 `error` value when the provider sent one (RFC 6749 5.2). */
  oauthError?: string;
  /** HTTP status of the provider response, when there was one. */
  status?: number;
  /** HTTP status this library answers with when the error ends a request (read by Express's error handler). */
  statusCode?: number;
  /** OIDC_CONFIG_INVALID: every invalid setting, one message each. */
  problems?: readonly string[];
}

export class OidcError extends Error {
  readonly code: OidcErrorCode;
  readonly oauthError: string | undefined;
  readonly status: number | undefined;
  statusCode: number | undefined;
  /**
   * OIDC_CONFIG_INVALID from createOidcAuth(): every invalid setting found, each naming the option
   * and its env var (the message lists them too). Undefined for other errors.
   */
  readonly problems: readonly string[] | undefined;

  constructor(code: OidcErrorCode, message: string, options: OidcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OidcError';
    this.code = code;
    this.oauthError = options.oauthError;
    this.status = options.status;
    this.statusCode = options.statusCode;
    this.problems = options.problems;
  }
}

/** True for any OidcError, also one from another copy of this package. */
export function isOidcError(err: unknown): err is OidcError {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'OidcError' && typeof (err as { code?: unknown }).code === 'string';
}

/**
 * Provider failures come in two kinds (docs/design.md "Failure semantics"): the attempt failed but
 * the stored credential may still be good (network, timeout, 5xx), or the credential is dead.
 * Decided here once so refresh and logout agree.
 */
export function isTransientProviderError(err: unknown): boolean {
  if (!isOidcError(err)) return false;
  switch (err.code) {
    case 'OIDC_HTTP_TIMEOUT':
    case 'OIDC_HTTP_NETWORK':
    case 'OIDC_DISCOVERY_FAILED':
    case 'OIDC_REFRESH_FAILED':
      return true;
    case 'OIDC_HTTP_STATUS':
    case 'OIDC_PAR_FAILED':
    case 'OIDC_HTTP_INVALID_BODY':
    case 'OIDC_HTTP_RESPONSE_TOO_LARGE':
      // A 5xx (or a proxy's HTML error page) says nothing about the token itself.
      return err.status === undefined || err.status >= 500 || err.status === 429;
    case 'OIDC_OP_ERROR':
      // RFC 6749 5.2 errors are about the request; `temporarily_unavailable` and 5xx are not.
      // A rate limit (429, e.g. `slow_down`) is about timing too, never about the token.
      return err.oauthError === 'temporarily_unavailable' || err.status === 429 || (err.status ?? 0) >= 500;
    default:
      return false;
  }
}
