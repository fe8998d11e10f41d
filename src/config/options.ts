/**
 * The option table: each option described once. Its entry gives the env var, the kind of value
 * (how the env string is parsed, how a value is checked and resolved: src/config/kinds.ts), the
 * default, further checks, where the value goes in the resolved configuration, and the one line
 * README's options table shows for it (test/docs.test.ts keeps the two in step).
 *
 * Everything else is derived from it: the resolved type of each option (OptionValues, and the
 * shape resolveConfig returns, ConfigFromOptions), the known option keys, the route names, and
 * how every message names an option: `"name" (env NAME)`.
 */
import { SIGNING_ALGS, SUPPORTED_ALGS } from '../algorithms.js';
import { CLIENT_AUTH_METHODS } from '../client-auth-methods.js';
import type { OidcAuthOptions, OidcHooks, OidcLogger, OidcRoutes } from '../types.js';
import {
  appUrl,
  boolean,
  booleanOr,
  hostList,
  integer,
  keyList,
  keyText,
  list,
  oneOf,
  params,
  pathsOrPatterns,
  providerUrl,
  proxyUrl,
  routePath,
  seconds,
  secondsAsMilliseconds,
  tenantList,
  text,
  type Kind,
  type Report,
} from './kinds.js';
import { certificatesProblem, isPlainObject, privateKeyProblem, privateSigningKeyProblem, redisClientKind, signKeyProblem } from './validators.js';

interface SpecFields<T, I> {
  /** The environment variable (mozilla-django-oidc's setting name where it has one). */
  env: string;
  /** Used when neither the option nor its env var is set; a value as code would pass it. */
  default?: I;
  /** Refused when absent. An option with a default is refused when given empty. */
  required?: true;
  /** When absent: the resolved value of this option (the bearer audience is the client id). */
  defaultFrom?: string;
  /** Where the resolved value goes when not under the option's name: `group.key` nests it. */
  at?: string;
  /** Checks of a valid value beyond its kind's; each report is one problem. (A method: the table's entries then fit OptionSpec<unknown>.) */
  check?(value: T, report: Report): void;
  /** The meaning, one line, as README's options table shows it. */
  doc: string;
}

export interface OptionSpec<T = unknown, I = unknown> extends SpecFields<T, I> {
  kind: Kind<T, I>;
}

/** One table entry; keeps the literal type of `spec` so that presence and place are known to the type system. */
function option<T, I, const S extends SpecFields<T, I>>(kind: Kind<T, I>, spec: S): S & { kind: Kind<T, I> } {
  return { ...spec, kind };
}

/**
 * Parameters the library sets per request (state, nonce, PKCE: RFC 6749 4.1.1, RFC 7636 4.3; the
 * DPoP key thumbprint, RFC 9449 10; a pushed request's reference, RFC 9126 4), and response_mode:
 * the callback route answers GET only (the query response mode, OAuth 2.0 Multiple Response Types
 * 2.1), so form_post (express-openid-connect's default) would land on the app's 404.
 */
const RESERVED_AUTH_PARAMS = [
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'redirect_uri',
  'client_id',
  'response_type',
  'response_mode',
  'dpop_jkt',
  'request_uri',
];

/** Every option that has an env var. */
export const OPTION_SPECS = {
  issuer: option(providerUrl(), { env: 'OIDC_OP_ISSUER', doc: 'Issuer identifier; discovery fills every endpoint not given explicitly.' }),
  discoveryUrl: option(providerUrl(), {
    env: 'OIDC_OP_DISCOVERY_ENDPOINT',
    doc: 'Where the discovery document lives, for providers that keep it elsewhere; always fetched when set.',
  }),
  allowedTenants: option(tenantList(), {
    env: 'OIDC_OP_ALLOWED_TENANTS',
    default: [],
    doc: 'Microsoft Entra multi-tenant issuers (`common`, `organizations`): the tenant ids allowed to sign in; empty lets any tenant in.',
  }),
  clientId: option(text(), { env: 'OIDC_RP_CLIENT_ID', required: true, doc: 'Client id.' }),
  clientSecret: option(text(), {
    env: 'OIDC_RP_CLIENT_SECRET',
    doc: 'Client secret (also the HS256 key). Required unless the client authenticates otherwise (`clientAuthMethod`, `clientAssertionSigningKey`, `clientCertificate`).',
  }),
  clientAuthMethod: option(oneOf(...CLIENT_AUTH_METHODS), {
    env: 'OIDC_RP_CLIENT_AUTH_METHOD',
    doc: "How the client authenticates at the token, PAR, revocation and introspection endpoints; by default the first the credentials allow (`private_key_jwt`, `client_secret_basic`, `client_secret_post`, `client_secret_jwt`, then the mTLS methods) that the provider's `token_endpoint_auth_methods_supported` lists.",
  }),
  clientAssertionSigningKey: option(keyText(privateSigningKeyProblem), {
    env: 'OIDC_RP_CLIENT_ASSERTION_KEY',
    doc: "private_key_jwt: the private key, PEM (PKCS#8) or JWK; its `kid` is the JWK's, else its RFC 7638 thumbprint.",
  }),
  clientAssertionSigningAlg: option(oneOf(...SIGNING_ALGS), {
    env: 'OIDC_RP_CLIENT_ASSERTION_ALG',
    doc: "private_key_jwt's algorithm; default from the key: the JWK's `alg`, RS256 for RSA (PS256 with `profile: 'fapi2'`), ES256/384/512 by curve, EdDSA.",
  }),
  clientAssertionAudience: option(text(), {
    env: 'OIDC_RP_CLIENT_ASSERTION_AUDIENCE',
    check: (aud, report): void => {
      if (!['token_endpoint', 'issuer', 'endpoint'].includes(aud) && !URL.canParse(aud))
        report(`must be token_endpoint, issuer, endpoint or a URL, got "${aud}"`);
    },
    doc: "`aud` of client assertions: `token_endpoint` (default; OIDC Core 9), `issuer` (default with `profile: 'fapi2'`; RFC 9126 2), `endpoint` (the URL called, as Okta wants) or a fixed URL.",
  }),
  baseUrl: option(appUrl(), { env: 'OIDC_RP_BASE_URL', required: true, doc: 'Public URL of the app (origin plus optional path prefix).' }),
  scopes: option(list(), {
    env: 'OIDC_RP_SCOPES',
    default: ['openid', 'email'],
    check: (scopes, report): void => {
      // OIDC Core 3.1.2.1: the scope MUST contain openid.
      if (!scopes.includes('openid')) report('must include "openid"');
    },
    doc: 'Must contain `openid`.',
  }),
  signAlgo: option(text(), {
    env: 'OIDC_RP_SIGN_ALGO',
    check: (alg, report): void => {
      if (!(SUPPORTED_ALGS as readonly string[]).includes(alg) && alg !== 'none') report(`"${alg}" is not supported; use one of ${SUPPORTED_ALGS.join(', ')}`);
    },
    doc: 'Pin one ID token algorithm (RS/PS/ES 256/384/512, EdDSA, HS256/384/512).',
  }),
  idpSignKey: option(text(), {
    env: 'OIDC_RP_IDP_SIGN_KEY',
    check: (key, report): void => {
      const problem = signKeyProblem(key, ref('clientSecret'));
      if (problem) report(problem);
    },
    doc: "The provider's public key, PEM (SPKI, `-----BEGIN PUBLIC KEY-----`) or JWK/JWKS JSON; wins over the JWKS endpoint.",
  }),
  authorizationEndpoint: option(providerUrl(), { env: 'OIDC_OP_AUTHORIZATION_ENDPOINT', at: 'endpoints.authorization', doc: 'Required without `issuer`.' }),
  tokenEndpoint: option(providerUrl(), { env: 'OIDC_OP_TOKEN_ENDPOINT', at: 'endpoints.token', doc: 'Required without `issuer`.' }),
  userinfoEndpoint: option(providerUrl(), {
    env: 'OIDC_OP_USER_ENDPOINT',
    at: 'endpoints.userinfo',
    doc: 'OIDC Core 5.3: claims at login (`fetchUserinfo`) and opaque bearer tokens (`bearerOpaqueTokens`).',
  }),
  jwksUri: option(providerUrl(), {
    env: 'OIDC_OP_JWKS_ENDPOINT',
    at: 'endpoints.jwks',
    doc: 'Without `issuer`, this or `idpSignKey` is required (unless HS* is pinned).',
  }),
  revocationEndpoint: option(providerUrl(), { env: 'OIDC_OP_TOKEN_REVOKE_ENDPOINT', at: 'endpoints.revocation', doc: 'RFC 7009, used at logout.' }),
  endSessionEndpoint: option(providerUrl(), { env: 'OIDC_OP_LOGOUT_ENDPOINT', at: 'endpoints.endSession', doc: 'RP-initiated logout.' }),
  storeAccessToken: option(boolean(), { env: 'OIDC_STORE_ACCESS_TOKEN', default: true, doc: 'Keep the access token in the session (`req.oidc.accessToken`).' }),
  storeIdToken: option(boolean(), { env: 'OIDC_STORE_ID_TOKEN', default: false, doc: 'Keep the ID token in the session (`req.oidc.idToken`).' }),
  storeRefreshToken: option(boolean(), { env: 'OIDC_STORE_REFRESH_TOKEN', default: true, doc: 'Keep the refresh token.' }),
  renewIdTokenExpirySeconds: option(seconds(0), {
    env: 'OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS',
    default: 900,
    doc: 'When a session without refresh token is re-checked with the provider.',
  }),
  refreshLeewaySeconds: option(seconds(0), {
    env: 'OIDC_REFRESH_LEEWAY_SECONDS',
    default: 30,
    doc: 'Refresh this long before the access token expires (at most half its lifetime).',
  }),
  createUser: option(boolean(), { env: 'OIDC_CREATE_USER', default: true, doc: 'Create a user when none matches.' }),
  useNonce: option(boolean(), { env: 'OIDC_USE_NONCE', default: true, doc: 'Send and check a nonce.' }),
  usePkce: option(boolean(), { env: 'OIDC_USE_PKCE', default: true, doc: 'PKCE with S256.' }),
  maxStates: option(integer(1), { env: 'OIDC_MAX_STATES', default: 50, doc: 'Logins in flight per session (tabs); the oldest is dropped.' }),
  stateTtlSeconds: option(seconds(1), { env: 'OIDC_STATE_TTL_SECONDS', default: 600, doc: 'How long a login may take at the provider.' }),
  exemptUrls: option(pathsOrPatterns(), {
    env: 'OIDC_EXEMPT_URLS',
    default: [],
    check: (entries, report): void => {
      for (const entry of entries) {
        // Route names, as mozilla-django-oidc accepts URL names: here the library's own routes.
        if (typeof entry === 'string' && !entry.startsWith('/') && !(ROUTE_NAMES as readonly string[]).includes(entry)) {
          report(`entry "${entry}" is neither a path starting with "/", a RegExp, nor one of the route names ${ROUTE_NAMES.join(', ')}`);
        }
        // RegExp#test with g or y advances lastIndex: the same path would alternate between exempt and not.
        if (entry instanceof RegExp && (entry.global || entry.sticky))
          report(`entry ${String(entry)} must not have the g or y flag (test() would then alternate)`);
      }
    },
    doc: 'Paths (or RegExps in code, without the `g` or `y` flag), or route names (`login`, `logout`...), that session refresh leaves alone.',
  }),
  authRequestExtraParams: option(params(), {
    env: 'OIDC_AUTH_REQUEST_EXTRA_PARAMS',
    default: {},
    check: (extra, report): void => {
      for (const reserved of RESERVED_AUTH_PARAMS) {
        if (reserved in extra) report(`must not set "${reserved}", which the library sets per request`);
      }
    },
    doc: 'Extra authorization request parameters: an object in code; JSON or a query string in the env.',
  }),
  timeout: option(secondsAsMilliseconds(0.001), { env: 'OIDC_TIMEOUT', default: 5, at: 'timeoutMs', doc: 'Seconds for each request to the provider.' }),
  proxy: option(proxyUrl(), { env: 'OIDC_PROXY', doc: 'HTTP(S) proxy URL for requests to the provider.' }),
  verifySsl: option(boolean(), { env: 'OIDC_VERIFY_SSL', default: true, doc: "Verify the provider's TLS certificate." }),
  clientCertificate: option(keyText(), {
    env: 'OIDC_RP_CLIENT_CERTIFICATE',
    check: (chain, report): void => {
      // Names clientKey, so a check of the entry (the kind's check cannot refer to the table).
      const problem = certificatesProblem(chain, ref('clientKey'));
      if (problem) report(problem);
    },
    doc: 'PEM client certificate (its chain after it), presented to the provider in every TLS handshake: mutual TLS (RFC 8705). Needs `clientKey`.',
  }),
  clientKey: option(keyText(privateKeyProblem), {
    env: 'OIDC_RP_CLIENT_KEY',
    doc: 'PEM private key of `clientCertificate` (unencrypted; keep it as secret as a client secret).',
  }),
  caCertificates: option(
    keyText((bundle) => certificatesProblem(bundle, undefined)),
    {
      env: 'OIDC_CA_CERTIFICATES',
      doc: "PEM bundle of CA certificates trusted for the provider's TLS certificate in addition to Node's default roots (a private CA).",
    },
  ),
  maxResponseBytes: option(integer(1024), { env: 'OIDC_MAX_RESPONSE_BYTES', default: 1024 * 1024, doc: 'Largest provider response accepted.' }),
  tokenUseBasicAuth: option(boolean(true), {
    env: 'OIDC_TOKEN_USE_BASIC_AUTH',
    doc: "mozilla-django-oidc's switch: `true` is `clientAuthMethod: 'client_secret_basic'`, `false` is `client_secret_post`.",
  }),
  pushedAuthorizationRequests: option(boolean(true), {
    env: 'OIDC_PAR',
    doc: "Send the authorization request to the provider's PAR endpoint first (RFC 9126); by default only when the provider requires it (`require_pushed_authorization_requests`) or `profile: 'fapi2'`.",
  }),
  dpop: option(boolean(true), {
    env: 'OIDC_DPOP',
    doc: "DPoP-bound tokens (RFC 9449): a key pair per login, proofs on every token, userinfo, revocation and `req.oidc.fetch` call; default off (on with `profile: 'fapi2'` unless mTLS binds the tokens).",
  }),
  dpopSigningAlg: option(oneOf('ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'), {
    env: 'OIDC_DPOP_ALG',
    default: 'ES256',
    doc: 'Algorithm of the per-login DPoP key.',
  }),
  profile: option(oneOf('fapi2'), {
    env: 'OIDC_PROFILE',
    doc: '`fapi2`: the FAPI 2.0 Security Profile: PAR, PKCE, RFC 9207 `iss`, private_key_jwt or mTLS, DPoP or mTLS-bound tokens, PS256/ES256/EdDSA only; a weaker explicit setting fails at start-up.',
  }),
  allowUnsecuredJwt: option(boolean(), {
    env: 'OIDC_ALLOW_UNSECURED_JWT',
    default: false,
    doc: 'Accept `alg: none` ID tokens, and only from the token endpoint.',
  }),
  fetchUserinfo: option(booleanOr('auto'), {
    env: 'OIDC_FETCH_USERINFO',
    default: true,
    doc: 'Call userinfo at login when the provider has the endpoint; `auto`: only when the ID token lacks the claims of a requested scope.',
  }),
  clockToleranceSeconds: option(seconds(0), { env: 'OIDC_CLOCK_TOLERANCE_SECONDS', default: 60, doc: 'Clock skew allowed for `exp`, `iat`, `nbf`.' }),
  redirectAllowedHosts: option(hostList(), {
    env: 'OIDC_REDIRECT_ALLOWED_HOSTS',
    default: [],
    doc: "Hosts other than the app's own that `next` may point to (https only when the app is https): `host` or `host:port`, not URLs.",
  }),
  loginRedirectUrl: option(text(), { env: 'LOGIN_REDIRECT_URL', default: '/', doc: 'After login when there is no `next`.' }),
  loginRedirectUrlFailure: option(text(), { env: 'LOGIN_REDIRECT_URL_FAILURE', default: '/', doc: 'After a failed login.' }),
  logoutRedirectUrl: option(text(), { env: 'LOGOUT_REDIRECT_URL', default: '/', doc: 'After logout; also `post_logout_redirect_uri` (made absolute).' }),
  allowLogoutGetMethod: option(boolean(), { env: 'ALLOW_LOGOUT_GET_METHOD', default: false, doc: 'Also accept GET at the logout route (otherwise 405).' }),
  revokeTokensOnLogout: option(boolean(), {
    env: 'OIDC_REVOKE_TOKENS_ON_LOGOUT',
    default: true,
    doc: 'Revoke refresh and access tokens at logout (RFC 7009).',
  }),
  providerLogout: option(boolean(), { env: 'OIDC_OP_LOGOUT', default: true, doc: 'Send the browser to the end-session endpoint at logout.' }),
  introspectionEndpoint: option(providerUrl(), {
    env: 'OIDC_OP_INTROSPECTION_ENDPOINT',
    at: 'endpoints.introspection',
    doc: 'RFC 7662, for opaque bearer tokens.',
  }),
  bearerAudience: option(text(), {
    env: 'OIDC_BEARER_AUDIENCE',
    defaultFrom: 'clientId',
    at: 'bearer.audience',
    doc: 'Expected `aud` of JWT access tokens (RFC 9068).',
  }),
  bearerAcceptJwtTyp: option(boolean(), {
    env: 'OIDC_BEARER_ACCEPT_JWT_TYP',
    default: false,
    at: 'bearer.acceptJwtTyp',
    doc: 'Also accept JWT access tokens typed `JWT` instead of `at+jwt` (providers that predate RFC 9068).',
  }),
  bearerOpaqueTokens: option(oneOf('auto', 'introspection', 'userinfo', 'reject'), {
    env: 'OIDC_BEARER_OPAQUE_TOKENS',
    default: 'auto',
    at: 'bearer.opaqueTokens',
    doc: "Opaque bearer tokens: `introspection`, `userinfo` (mozilla-django-oidc's DRF way), `reject`, or `auto` (introspection when the provider has it, else userinfo).",
  }),
  bearerCacheMaxEntries: option(integer(0), {
    env: 'OIDC_BEARER_CACHE_MAX_ENTRIES',
    default: 10000,
    at: 'bearer.cacheMaxEntries',
    doc: 'Bearer validation results kept in memory (Redis too, when configured).',
  }),
  bearerCacheTtlSeconds: option(seconds(0), {
    env: 'OIDC_BEARER_CACHE_TTL_SECONDS',
    default: 300,
    at: 'bearer.cacheTtlSeconds',
    doc: "Longest a bearer result is cached; never past the token's expiry.",
  }),
  bearerDpop: option(oneOf('allowed', 'required', 'off'), {
    env: 'OIDC_BEARER_DPOP',
    default: 'allowed',
    at: 'bearer.dpopMode',
    doc: 'DPoP-bound access tokens (RFC 9449) at `bearerAuth()`: `allowed` (Bearer or DPoP), `required` (DPoP only) or `off` (Bearer only).',
  }),
  dpopProofMaxAgeSeconds: option(seconds(1), {
    env: 'OIDC_DPOP_PROOF_MAX_AGE_SECONDS',
    default: 60,
    at: 'bearer.dpopProofMaxAgeSeconds',
    doc: "How old a DPoP proof's `iat` may be (plus the clock tolerance); each proof's `jti` is remembered that long.",
  }),
  dpopNonce: option(boolean(), {
    env: 'OIDC_DPOP_NONCE',
    default: false,
    at: 'bearer.dpopNonce',
    doc: 'Require server-provided nonces in DPoP proofs (RFC 9449 9).',
  }),
  dpopNonceSecret: option(text(), {
    env: 'OIDC_DPOP_NONCE_SECRET',
    at: 'bearer.dpopNonceSecret',
    check: (secret, report): void => {
      // The nonce key is derived from it (protocol/dpop-nonce.ts): a short one could be guessed offline from a nonce.
      if (secret.length < 32) report('must be at least 32 characters (e.g. `openssl rand -base64 32`)');
    },
    doc: 'Secret the DPoP nonces are derived from, the same on every instance; default: derived from the client secret.',
  }),
  backchannelLogout: option(boolean(), { env: 'OIDC_BACKCHANNEL_LOGOUT', default: true, doc: 'Serve the back-channel logout route' }),
  frontchannelLogout: option(boolean(), { env: 'OIDC_FRONTCHANNEL_LOGOUT', default: false, doc: 'Serve the front-channel logout route.' }),
  logoutTokenMaxAgeSeconds: option(seconds(1), {
    env: 'OIDC_LOGOUT_TOKEN_MAX_AGE_SECONDS',
    default: 300,
    doc: 'A logout token whose `iat` is older (plus the clock tolerance) is refused, whatever its `exp` (Back-Channel Logout 1.0 2.6 step 3).',
  }),
  strictRefreshAuthTime: option(boolean(), {
    env: 'OIDC_STRICT_REFRESH_AUTH_TIME',
    default: false,
    doc: "End the session when a refreshed ID token's `auth_time` differs from the login's.",
  }),
  redisPrefix: option(text(), { env: 'OIDC_REDIS_PREFIX', default: 'oidc:', doc: 'Prefix of every Redis key this library writes.' }),
  tokenStoreTtlSeconds: option(seconds(60), {
    env: 'OIDC_TOKEN_STORE_TTL_SECONDS',
    default: 30 * 24 * 3600,
    doc: "How long an unused login's token set is kept (30 days; each refresh renews it).",
  }),
  // 32 bytes: the content encryption key of A256GCM with `dir` (RFC 7518 4.5, 5.3; src/store/encryption.ts).
  storeEncryptionKeys: option(keyList(32), {
    env: 'OIDC_STORE_ENCRYPTION_KEYS',
    default: [],
    doc: 'Keys (32 bytes, base64url or base64) that encrypt token sets in the shared store (Redis or memory): the first encrypts, all decrypt (rotation).',
  }),
  'routes.login': option(routePath(), {
    env: 'OIDC_ROUTE_LOGIN',
    default: '/oidc/authenticate',
    doc: 'Starts a login; `?next=/path` comes back there afterwards.',
  }),
  'routes.callback': option(routePath(), {
    env: 'OIDC_ROUTE_CALLBACK',
    default: '/oidc/callback',
    doc: 'Register `baseUrl + routes.callback` at the provider.',
  }),
  'routes.logout': option(routePath(), {
    env: 'OIDC_ROUTE_LOGOUT',
    default: '/oidc/logout',
    doc: 'Ends the session (POST; GET too with `allowLogoutGetMethod`).',
  }),
  'routes.backchannelLogout': option(routePath(), {
    env: 'OIDC_ROUTE_BACKCHANNEL_LOGOUT',
    default: '/oidc/backchannel-logout',
    doc: "Register `baseUrl + routes.backchannelLogout` as the client's back-channel logout URI.",
  }),
  'routes.frontchannelLogout': option(routePath(), {
    env: 'OIDC_ROUTE_FRONTCHANNEL_LOGOUT',
    default: '/oidc/frontchannel-logout',
    doc: 'Register `baseUrl + routes.frontchannelLogout` as the front-channel logout URI.',
  }),
};

export type OptionName = keyof typeof OPTION_SPECS;

export interface CodeOnlySpec {
  /** Why a given value is refused, or undefined. */
  check?: (value: unknown) => string | undefined;
  doc: string;
}

/** Options given in code only: objects and functions, which no env var could hold. */
export const CODE_ONLY_OPTIONS = {
  redis: {
    check: (client) =>
      redisClientKind(client)
        ? undefined
        : 'must be a node-redis client (createClient, createCluster or createSentinel: with sendCommand) or an ioredis client (Redis or Cluster: with call)',
    doc: 'A connected node-redis or ioredis client: token sets and refresh locks shared by every instance.',
  },
  hooks: { doc: 'See [User hooks](#user-hooks) and [Session refresh](#session-refresh).' },
  logger: {
    check: (logger) =>
      isPlainObject(logger) && LOGGER_METHODS.every((m) => typeof logger[m] === 'function')
        ? undefined
        : `must have ${LOGGER_METHODS.join(', ')} functions (console, pino and winston do)`,
    doc: '`{ debug, info, warn, error }` (pino, winston and console fit).',
  },
  env: { doc: 'Where env vars are read from.' },
} satisfies Record<string, CodeOnlySpec>;

export type CodeOnlyName = keyof typeof CODE_ONLY_OPTIONS;

const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const satisfies ReadonlyArray<keyof OidcLogger>;

/** `"name" (env NAME)`, or `"name" (code only)`: how every message refers to an option. */
export function ref(name: OptionName | CodeOnlyName): string {
  return name in OPTION_SPECS ? `"${name}" (env ${(OPTION_SPECS[name as OptionName] as OptionSpec).env})` : `"${name}" (code only)`;
}

export type RouteOptionName = Extract<OptionName, `routes.${string}`>;
export type TopLevelOptionName = Exclude<OptionName, RouteOptionName>;
export type RouteName = RouteOptionName extends `routes.${infer R}` ? R : never;

export const OPTION_NAMES = Object.keys(OPTION_SPECS) as OptionName[];
export const TOP_LEVEL_OPTIONS = OPTION_NAMES.filter((n): n is TopLevelOptionName => !n.startsWith('routes.'));
/** The library's routes, as OIDC_EXEMPT_URLS may name them. */
export const ROUTE_NAMES: readonly RouteName[] = OPTION_NAMES.filter((n): n is RouteOptionName => n.startsWith('routes.')).map(
  (n) => n.slice('routes.'.length) as RouteName,
);
export const CODE_ONLY_NAMES = Object.keys(CODE_ONLY_OPTIONS) as CodeOnlyName[];

/** Every hook of OidcHooks (src/types.ts). */
export const HOOK_NAMES = [
  'verifyClaims',
  'filterUsersByClaims',
  'createUser',
  'updateUser',
  'getLogoutUrl',
  'serializeUser',
  'deserializeUser',
  'onTokensRefreshed',
  'onRefreshError',
] as const satisfies ReadonlyArray<keyof OidcHooks>;

export const isHookName = (key: string): key is (typeof HOOK_NAMES)[number] => (HOOK_NAMES as readonly string[]).includes(key);

// ---- Types derived from the table ----------------------------------------------------------

type SpecOf<N extends OptionName> = (typeof OPTION_SPECS)[N];

/** An option's resolved type: its kind's, and never undefined with a default, `required` or `defaultFrom`. */
type ResolvedValue<S> = S extends { kind: Kind<infer T, unknown> }
  ? S extends { default: unknown } | { required: true } | { defaultFrom: string }
    ? T
    : T | undefined
  : never;

/** What code may pass for an option: its kind's input type. */
type InputValue<S> = S extends { kind: Kind<unknown, infer I> } ? I : never;

/** Every option's resolved value, by option name. */
export type OptionValues = { [N in OptionName]: ResolvedValue<SpecOf<N>> };

/** Where an option's value goes: `at`, else its own name. */
type Place<N extends OptionName> = SpecOf<N> extends { at: infer P extends string } ? P : N;
type Placed = { [N in OptionName as Place<N>]: OptionValues[N] };
type GroupOf<P> = P extends `${infer G}.${string}` ? G : never;

/**
 * The resolved options as ResolvedConfig holds them: `at: 'endpoints.token'` becomes
 * `endpoints.token`, `routes.login` becomes `routes.login`, the rest stays flat.
 */
export type ConfigFromOptions = { [P in keyof Placed as P extends `${string}.${string}` ? never : P]: Placed[P] } & {
  [G in GroupOf<keyof Placed>]: { [P in keyof Placed as P extends `${G}.${infer K}` ? K : never]: Placed[P] };
};

/** Where each option's value goes, as [group, key] or [key]. */
export function placeOf(name: OptionName): [string] | [string, string] {
  const place = (OPTION_SPECS[name] as OptionSpec).at ?? name;
  const dot = place.indexOf('.');
  return dot === -1 ? [place] : [place.slice(0, dot), place.slice(dot + 1)];
}

// ---- Compile-time ties to the public option types (src/types.ts) ---------------------------

// Unknown keys are rejected, so a key of OidcAuthOptions, OidcRoutes or OidcHooks missing from the
// table would be refused at run time, and a table entry missing from them could not be passed in
// typed code; a public type code may pass must also be one the option's kind accepts. These fail
// to compile instead.
type MustBeNever<T extends never> = T;
type KnownTopLevel = TopLevelOptionName | CodeOnlyName | 'routes';
// biome-ignore lint/correctness/noUnusedVariables: a compile-time check; its use is failing to compile
type TableMatchesPublicTypes = MustBeNever<
  | Exclude<keyof OidcAuthOptions, KnownTopLevel>
  | Exclude<KnownTopLevel, keyof OidcAuthOptions>
  | Exclude<keyof OidcRoutes, RouteName>
  | Exclude<RouteName, keyof OidcRoutes>
  | Exclude<keyof OidcHooks, (typeof HOOK_NAMES)[number]>
  | { [N in OptionName]: SpecOf<N> extends { defaultFrom: infer F } ? Exclude<F, OptionName> : never }[OptionName]
  | { [N in TopLevelOptionName]: Exclude<OidcAuthOptions[N], InputValue<SpecOf<N>> | undefined> }[TopLevelOptionName]
  | { [R in RouteName]: Exclude<OidcRoutes[R], InputValue<SpecOf<`routes.${R}`>> | undefined> }[RouteName]
>;
