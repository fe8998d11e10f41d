/**
 * Public types: options, hooks, and the request context (`req.oidc`).
 */
import type { Request } from 'express';
import type { JWTPayload } from 'jose';
import type { OidcError } from './errors.js';
import type { SIGNING_ALGS } from './algorithms.js';

/** OIDC Core 5.1.1: the address claim. */
export interface OidcAddressClaim {
  formatted?: string;
  street_address?: string;
  locality?: string;
  region?: string;
  postal_code?: string;
  country?: string;
}

/**
 * Claims of the signed-in user: ID token claims merged with userinfo (userinfo wins). The standard
 * claims (OIDC Core 2 and 5.1) are typed; a provider's own claims are `unknown` until checked.
 */
export interface OidcClaims extends JWTPayload {
  sub: string;
  iss: string;
  // OIDC Core 2: ID token claims kept in the session.
  auth_time?: number;
  acr?: string;
  amr?: string[];
  azp?: string;
  /** OpenID Connect Front-/Back-Channel Logout: the provider's session id. */
  sid?: string;
  // OIDC Core 5.1: standard claims.
  name?: string;
  given_name?: string;
  family_name?: string;
  middle_name?: string;
  nickname?: string;
  preferred_username?: string;
  profile?: string;
  picture?: string;
  website?: string;
  email?: string;
  email_verified?: boolean;
  gender?: string;
  birthdate?: string;
  zoneinfo?: string;
  locale?: string;
  phone_number?: string;
  phone_number_verified?: boolean;
  address?: OidcAddressClaim;
  updated_at?: number;
  [claim: string]: unknown;
}

/** The app's user object. Augment `Express.User` to give it a shape. */
export type OidcUser = Express.User;

export interface UserHookContext {
  req: Request;
  /** `login`: the callback of a browser login; `bearer`: an API request through bearerAuth(). */
  source: 'login' | 'bearer';
  /** Claims of the validated ID token alone. */
  idTokenClaims: OidcClaims;
  /** The userinfo response, when it was fetched. */
  userinfo: Record<string, unknown> | undefined;
}

/**
 * User hooks, modelled on mozilla-django-oidc's `OIDCAuthenticationBackend` methods.
 * Every hook may be async. Defaults: see README "User hooks".
 */
export interface OidcHooks {
  /** Return false to refuse the login (mozilla-django-oidc `verify_claims`). */
  verifyClaims?: (claims: OidcClaims, ctx: UserHookContext) => boolean | Promise<boolean>;
  /** Return the users matching these claims (mozilla-django-oidc `filter_users_by_claims`). */
  filterUsersByClaims?: (claims: OidcClaims, ctx: UserHookContext) => OidcUser[] | Promise<OidcUser[]>;
  /** Create a user when none matched and OIDC_CREATE_USER is on. */
  createUser?: (claims: OidcClaims, ctx: UserHookContext) => OidcUser | Promise<OidcUser>;
  /** Update the one matching user with fresh claims. */
  updateUser?: (user: OidcUser, claims: OidcClaims, ctx: UserHookContext) => OidcUser | Promise<OidcUser>;
  /**
   * Where to send the browser after the local session is destroyed (mozilla-django-oidc
   * `OIDC_OP_LOGOUT_URL_METHOD`). Return undefined to fall back to the default logic.
   */
  getLogoutUrl?: (ctx: LogoutUrlContext) => string | undefined | Promise<string | undefined>;
  /**
   * What to keep in the session for the user (default: the user object itself, which must then be
   * JSON-serialisable). Pair with `deserializeUser` to keep only an id.
   */
  serializeUser?: (user: OidcUser) => unknown;
  /** Turn what `serializeUser` stored back into the user, once per request that needs it. */
  deserializeUser?: (stored: unknown, req: Request) => OidcUser | undefined | Promise<OidcUser | undefined>;
  /**
   * Called once per refresh grant (not once per waiting request), with the new tokens, for apps
   * that mirror tokens elsewhere. Errors are logged, never fail the request.
   */
  onTokensRefreshed?: (tokens: StoredTokens, req: Request) => void | Promise<void>;
  /**
   * Called when sessionRefresh could not refresh: `ended` true when the session was ended
   * (invalid_grant...), false for a temporary failure (the request got 503).
   */
  onRefreshError?: (error: OidcError, req: Request, info: { ended: boolean }) => void | Promise<void>;
}

export interface LogoutUrlContext {
  req: Request;
  idToken: string | undefined;
  claims: OidcClaims | undefined;
  /** The provider's end_session_endpoint URL this library would use, when there is one. */
  endSessionUrl: string | undefined;
}

/** Minimal logger contract (console, pino, winston all fit). */
export interface OidcLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface OidcRoutes {
  login?: string | undefined;
  callback?: string | undefined;
  logout?: string | undefined;
  backchannelLogout?: string | undefined;
  frontchannelLogout?: string | undefined;
}

/** A node-redis client (v4/v5, `createClient()`), as far as this library uses it: raw commands. */
export interface NodeRedisLike {
  sendCommand(args: string[]): Promise<unknown>;
}
/** A node-redis Cluster client (`createCluster()`): raw commands, routed by their first key. */
export interface NodeRedisClusterLike {
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  readonly masters: readonly unknown[];
}
/** A node-redis Sentinel client (`createSentinel()`): raw commands, to the master. */
export interface NodeRedisSentinelLike {
  sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  getMasterNode(): unknown;
}
/** An ioredis client, `new Redis()` (also with `sentinels`) or `new Cluster()`: raw commands. */
export interface IoRedisLike {
  call(command: string, ...args: string[]): Promise<unknown>;
}
/** The `redis` option: any of these clients, told apart by shape (redisClientKind in src/config/validators.ts). */
export type RedisClientLike = NodeRedisLike | NodeRedisClusterLike | NodeRedisSentinelLike | IoRedisLike;

/**
 * Options of `createOidcAuth()`. Every non-function option also reads an environment variable
 * (named in its doc); an explicit option wins over the env var.
 */
export interface OidcAuthOptions {
  /**
   * OIDC_OP_ISSUER: issuer identifier; discovery is fetched from `<issuer>/.well-known/openid-configuration`
   * unless the authorization and token endpoints and a key source (jwksUri, idpSignKey or an HS* signAlgo)
   * are all configured explicitly.
   */
  issuer?: string | undefined;
  /**
   * OIDC_OP_DISCOVERY_ENDPOINT: URL of the discovery document when it is not at the well-known path
   * of the issuer; always fetched when set. Its `issuer` must still equal `issuer`.
   */
  discoveryUrl?: string | undefined;
  /**
   * OIDC_OP_ALLOWED_TENANTS: with a Microsoft Entra multi-tenant issuer (`common`, `organizations`),
   * the tenant ids (GUIDs) allowed to sign in. Without it any Entra account of any organisation can.
   */
  allowedTenants?: readonly string[] | string | undefined;
  /** OIDC_RP_CLIENT_ID (required). */
  clientId?: string | undefined;
  /** OIDC_RP_CLIENT_SECRET: required unless the client authenticates with a key or a certificate. */
  clientSecret?: string | undefined;
  /**
   * OIDC_RP_CLIENT_AUTH_METHOD (OIDC Core 9, RFC 8705): how the client authenticates at the
   * provider. Default: chosen from the configured credentials and the provider's
   * `token_endpoint_auth_methods_supported`.
   */
  clientAuthMethod?:
    | 'client_secret_basic'
    | 'client_secret_post'
    | 'client_secret_jwt'
    | 'private_key_jwt'
    | 'tls_client_auth'
    | 'self_signed_tls_client_auth'
    | 'none';
  /** OIDC_RP_CLIENT_ASSERTION_KEY: private_key_jwt's private key, PEM (PKCS#8) or a JWK as JSON. */
  clientAssertionSigningKey?: string | undefined;
  /** OIDC_RP_CLIENT_ASSERTION_ALG: default from the key (RS256 / PS256 under fapi2, ES256, EdDSA...). */
  clientAssertionSigningAlg?: (typeof SIGNING_ALGS)[number] | undefined;
  /** OIDC_RP_CLIENT_ASSERTION_AUDIENCE: `token_endpoint` (default), `issuer` (default under fapi2), `endpoint`, or a URL. */
  clientAssertionAudience?: string | undefined;
  /** OIDC_RP_BASE_URL (required): public origin of the app; redirect_uri = baseUrl + routes.callback. */
  baseUrl?: string | undefined;
  /** OIDC_RP_SCOPES, default `openid email`; must contain `openid`. */
  scopes?: string[] | string | undefined;
  /** OIDC_RP_SIGN_ALGO: pin one ID token algorithm (default: the provider's advertised ones, RS256 when absent). */
  signAlgo?: string | undefined;
  /** OIDC_RP_IDP_SIGN_KEY: the provider's public key (PEM SPKI or JWK JSON); takes precedence over the JWKS. */
  idpSignKey?: string | undefined;
  /** OIDC_OP_AUTHORIZATION_ENDPOINT */
  authorizationEndpoint?: string | undefined;
  /** OIDC_OP_TOKEN_ENDPOINT */
  tokenEndpoint?: string | undefined;
  /** OIDC_OP_USER_ENDPOINT */
  userinfoEndpoint?: string | undefined;
  /** OIDC_OP_JWKS_ENDPOINT */
  jwksUri?: string | undefined;
  /** OIDC_OP_TOKEN_REVOKE_ENDPOINT */
  revocationEndpoint?: string | undefined;
  /** OIDC_OP_LOGOUT_ENDPOINT: the provider's end_session_endpoint. */
  endSessionEndpoint?: string | undefined;
  /** OIDC_STORE_ACCESS_TOKEN, default true. */
  storeAccessToken?: boolean | undefined;
  /** OIDC_STORE_ID_TOKEN, default false: expose the ID token as req.oidc.idToken (kept in the session). */
  storeIdToken?: boolean | undefined;
  /** OIDC_STORE_REFRESH_TOKEN, default true. */
  storeRefreshToken?: boolean | undefined;
  /** OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS, default 900. */
  renewIdTokenExpirySeconds?: number | undefined;
  /** OIDC_REFRESH_LEEWAY_SECONDS, default 30. */
  refreshLeewaySeconds?: number | undefined;
  /** OIDC_CREATE_USER, default true: create a user when none matches. */
  createUser?: boolean | undefined;
  /** OIDC_USE_NONCE, default true. */
  useNonce?: boolean | undefined;
  /** OIDC_USE_PKCE, default true (S256). */
  usePkce?: boolean | undefined;
  /** OIDC_MAX_STATES, default 50: logins in flight per session; the oldest is dropped. */
  maxStates?: number | undefined;
  /** OIDC_STATE_TTL_SECONDS, default 600: how long a login may take at the provider. */
  stateTtlSeconds?: number | undefined;
  /** OIDC_EXEMPT_URLS: paths or RegExps that sessionRefresh leaves alone (comma-separated in the env). */
  exemptUrls?: Array<string | RegExp> | undefined;
  /** OIDC_AUTH_REQUEST_EXTRA_PARAMS: extra authorization request parameters (JSON object or query string in the env). */
  authRequestExtraParams?: Record<string, string> | undefined;
  /** OIDC_TIMEOUT: seconds for each provider request, default 5. */
  timeout?: number | undefined;
  /** OIDC_PROXY: HTTP(S) proxy URL for provider requests. */
  proxy?: string | undefined;
  /** OIDC_VERIFY_SSL, default true. */
  verifySsl?: boolean | undefined;
  /**
   * OIDC_RP_CLIENT_CERTIFICATE: PEM client certificate (intermediates after it), presented in every
   * TLS handshake with the provider (mutual TLS, RFC 8705). Needs `clientKey`. In the env, a PEM on
   * one line with literal `\n` escapes is accepted.
   */
  clientCertificate?: string | undefined;
  /** OIDC_RP_CLIENT_KEY: PEM private key of `clientCertificate`, unencrypted. */
  clientKey?: string | undefined;
  /** OIDC_CA_CERTIFICATES: PEM bundle of CAs trusted for the provider's TLS certificate, besides Node's default roots. */
  caCertificates?: string | undefined;
  /** OIDC_MAX_RESPONSE_BYTES, default 1048576: cap on any provider response body. */
  maxResponseBytes?: number | undefined;
  /** OIDC_TOKEN_USE_BASIC_AUTH (mozilla-django-oidc): true = client_secret_basic, false = client_secret_post. */
  tokenUseBasicAuth?: boolean | undefined;
  /** OIDC_PAR: pushed authorization requests (RFC 9126); default: when the provider requires them, or under fapi2. */
  pushedAuthorizationRequests?: boolean | undefined;
  /** OIDC_DPOP: DPoP-bound tokens (RFC 9449); default false (true under fapi2 unless mTLS binds the tokens). */
  dpop?: boolean | undefined;
  /** OIDC_DPOP_ALG, default ES256: the algorithm of each login's DPoP key. */
  dpopSigningAlg?: 'ES256' | 'ES384' | 'ES512' | 'PS256' | 'RS256' | 'EdDSA' | undefined;
  /** OIDC_PROFILE: `fapi2` turns on and enforces the FAPI 2.0 Security Profile. */
  profile?: 'fapi2' | undefined;
  /** OIDC_ALLOW_UNSECURED_JWT, default false: accept `alg: none` ID tokens from the token endpoint. */
  allowUnsecuredJwt?: boolean | undefined;
  /**
   * OIDC_FETCH_USERINFO, default true: call the userinfo endpoint at login when the provider has
   * one. `'auto'`: only when the ID token lacks the claims of a requested scope (OIDC Core 5.4;
   * README, login step 6); false: never.
   */
  fetchUserinfo?: boolean | 'auto' | undefined;
  /** OIDC_CLOCK_TOLERANCE_SECONDS, default 60. */
  clockToleranceSeconds?: number | undefined;
  /** OIDC_REDIRECT_ALLOWED_HOSTS: hosts (besides the app's own) that `next` may point to. */
  redirectAllowedHosts?: string[] | undefined;
  /** LOGIN_REDIRECT_URL, default `/`. */
  loginRedirectUrl?: string | undefined;
  /** LOGIN_REDIRECT_URL_FAILURE, default `/`. */
  loginRedirectUrlFailure?: string | undefined;
  /** LOGOUT_REDIRECT_URL, default `/`. */
  logoutRedirectUrl?: string | undefined;
  /** ALLOW_LOGOUT_GET_METHOD, default false (logout is POST only, against logout CSRF). */
  allowLogoutGetMethod?: boolean | undefined;
  /** OIDC_REVOKE_TOKENS_ON_LOGOUT, default true (RFC 7009, when the provider has a revocation endpoint). */
  revokeTokensOnLogout?: boolean | undefined;
  /** OIDC_OP_LOGOUT, default true: RP-initiated logout at the provider's end_session_endpoint. */
  providerLogout?: boolean | undefined;
  /** Route paths; env OIDC_ROUTE_LOGIN, OIDC_ROUTE_CALLBACK, OIDC_ROUTE_LOGOUT. */
  routes?: OidcRoutes | undefined;
  /** OIDC_OP_INTROSPECTION_ENDPOINT: RFC 7662 introspection, for opaque bearer tokens. */
  introspectionEndpoint?: string | undefined;
  /** OIDC_BEARER_AUDIENCE: expected `aud` of JWT access tokens (default: the client id). */
  bearerAudience?: string | undefined;
  /** OIDC_BEARER_ACCEPT_JWT_TYP, default false: also accept JWT access tokens typed `JWT` instead of `at+jwt`. */
  bearerAcceptJwtTyp?: boolean | undefined;
  /** OIDC_BEARER_OPAQUE_TOKENS, default `auto`: how opaque bearer tokens are checked (`introspection`, `userinfo`, `reject`). */
  bearerOpaqueTokens?: 'auto' | 'introspection' | 'userinfo' | 'reject' | undefined;
  /** OIDC_BEARER_CACHE_MAX_ENTRIES, default 10000: bearer validation results kept in memory. */
  bearerCacheMaxEntries?: number | undefined;
  /** OIDC_BEARER_CACHE_TTL_SECONDS, default 300: longest a bearer result is cached (never past the token's expiry). */
  bearerCacheTtlSeconds?: number | undefined;
  /**
   * OIDC_BEARER_DPOP, default `allowed`: DPoP-bound access tokens (RFC 9449) at bearerAuth():
   * `allowed` (Bearer or DPoP), `required` (DPoP only), `off` (Bearer only). A DPoP-bound token is
   * never accepted with the Bearer scheme. `bearerAuth({ dpop })` overrides it per route.
   */
  bearerDpop?: 'allowed' | 'required' | 'off' | undefined;
  /** OIDC_DPOP_PROOF_MAX_AGE_SECONDS, default 60: how old a DPoP proof's `iat` may be (plus the clock tolerance). */
  dpopProofMaxAgeSeconds?: number | undefined;
  /** OIDC_DPOP_NONCE, default false: require server-provided nonces in DPoP proofs (RFC 9449 9); `bearerAuth({ dpopNonce })` per route. */
  dpopNonce?: boolean | undefined;
  /** OIDC_DPOP_NONCE_SECRET: secret the DPoP nonces are derived from (32+ characters, the same on every instance); default: the client secret. */
  dpopNonceSecret?: string | undefined;
  /** OIDC_BACKCHANNEL_LOGOUT, default true: serve routes.backchannelLogout. */
  backchannelLogout?: boolean | undefined;
  /** OIDC_FRONTCHANNEL_LOGOUT, default false: serve routes.frontchannelLogout. */
  frontchannelLogout?: boolean | undefined;
  /** OIDC_LOGOUT_TOKEN_MAX_AGE_SECONDS, default 300: a logout token whose `iat` is older is refused, whatever its `exp`. */
  logoutTokenMaxAgeSeconds?: number | undefined;
  /**
   * OIDC_STRICT_REFRESH_AUTH_TIME, default false: end the session when a refreshed ID token's
   * `auth_time` differs from the login's. By default the change is tolerated (Azure AD B2C, AWS
   * Cognito and others re-stamp it), logged once, and the original authentication time is kept.
   */
  strictRefreshAuthTime?: boolean | undefined;
  /** OIDC_REDIS_PREFIX, default `oidc:`: prefix of every key this library writes to Redis. */
  redisPrefix?: string | undefined;
  /** OIDC_TOKEN_STORE_TTL_SECONDS, default 2592000 (30 days): how long a login's token set is kept unused. */
  tokenStoreTtlSeconds?: number | undefined;
  /**
   * OIDC_STORE_ENCRYPTION_KEYS (comma separated), default none: keys of 32 random bytes, base64url
   * or base64 (`openssl rand -base64 32`), that encrypt token sets in the shared store (Redis or
   * memory) as JWEs (`dir`, `A256GCM`). The first encrypts; every key decrypts, for rotation.
   * Without keys, token sets are stored as JSON. README "Tokens at rest".
   */
  storeEncryptionKeys?: readonly string[] | string | undefined;
  /**
   * A connected node-redis or ioredis client. With it, token sets and refresh locks are shared by
   * every instance; without it they live in this process. (connect-redis 9, for the sessions,
   * takes node-redis only: README "Several instances (Redis)".)
   */
  redis?: RedisClientLike | undefined;
  hooks?: OidcHooks | undefined;
  logger?: OidcLogger | undefined;
  /** Environment to read instead of `process.env` (tests, multi-tenant setups). */
  env?: Record<string, string | undefined> | undefined;
}

/** Tokens and their expiry times as kept for a session. Times are epoch seconds. */
export interface StoredTokens {
  accessToken?: string;
  accessTokenExpiresAt?: number;
  idToken?: string;
  refreshToken?: string;
}

/**
 * `req.oidc` of a request known to be signed in (behind `requireAuth()`): what `authenticated(req)`
 * returns, without the `| undefined` of the general context.
 */
export interface AuthenticatedOidcContext extends OidcContext {
  isAuthenticated(): true;
  user: OidcUser;
  claims: OidcClaims;
}

/** A request known to be signed in: `authenticated(req)` (src/middleware/require-auth.ts). */
export type AuthenticatedRequest = Request & { user: OidcUser; oidc: AuthenticatedOidcContext };

/** `req.oidc`: the authentication state of this request. */
export interface OidcContext {
  isAuthenticated(): boolean;
  user: OidcUser | undefined;
  claims: OidcClaims | undefined;
  accessToken: string | undefined;
  idToken: string | undefined;
  refreshToken: string | undefined;
  /** Epoch seconds. */
  accessTokenExpiresAt: number | undefined;
  /** Granted scopes: the session's token response, or a bearer token's `scope` / `scp` claim. */
  scopes: string[];
  /**
   * Call an API with this session's access token: `Authorization: Bearer`, or for DPoP-bound tokens
   * `Authorization: DPoP` with a proof (retried once on a `use_dpop_nonce` challenge). On `401`
   * with `invalid_token` the tokens are refreshed once (single-flight, as sessionRefresh does) and
   * the call is retried. Returns the fetch `Response`. Rejects with OIDC_NOT_AUTHENTICATED when the
   * request has no signed-in session (bearerAuth requests included).
   */
  fetch(url: string | URL, init?: RequestInit): Promise<Response>;
  /**
   * Refresh the tokens now, whatever their expiry (one grant per login however many callers and
   * instances, as sessionRefresh); req.oidc then shows the new tokens. Rejects with
   * OIDC_REFRESH_FAILED when the session has no refresh token or the provider is unreachable, and
   * OIDC_SESSION_ENDED when the provider refused the refresh token (the session is over).
   */
  refresh(): Promise<void>;
}

declare global {
  // Express's own request types live in this global namespace: augmenting it is how req.oidc is typed.
  namespace Express {
    // Shared with passport's declaration on purpose: apps augment this one interface.
    interface User {}
    interface Request {
      oidc: OidcContext;
      user?: User;
    }
  }
}
