/**
 * Options + environment variables, validated once at `createOidcAuth()`.
 *
 * One table (OPTION_SPECS) drives parsing, defaults, error messages and the known option keys, so
 * every option has exactly one env var and every error names both, and an unknown key (a typo, an
 * express-openid-connect option) is refused rather than ignored. README's options table mirrors it
 * and a test keeps the two in step.
 */
import { OidcError } from './errors.js';
import { signKeyProblem } from './keys/jwks.js';
import { allowedHostProblem } from './redirect-target.js';
import { SUPPORTED_ALGS } from './algorithms.js';
import type { OidcAuthOptions, OidcHooks, OidcLogger, OidcRoutes, RedisClientLike } from './types.js';
import { debuglog } from 'node:util';

type Kind = 'string' | 'url' | 'boolean' | 'seconds' | 'int' | 'list' | 'params' | 'urlpath';

interface OptionSpec {
  env: string;
  kind: Kind;
  default?: unknown;
}

/** Every configurable option: its env var, how the env string is parsed, and its default. */
export const OPTION_SPECS = {
  issuer: { env: 'OIDC_OP_ISSUER', kind: 'url' },
  discoveryUrl: { env: 'OIDC_OP_DISCOVERY_ENDPOINT', kind: 'url' },
  clientId: { env: 'OIDC_RP_CLIENT_ID', kind: 'string' },
  clientSecret: { env: 'OIDC_RP_CLIENT_SECRET', kind: 'string' },
  baseUrl: { env: 'OIDC_RP_BASE_URL', kind: 'url' },
  scopes: { env: 'OIDC_RP_SCOPES', kind: 'list', default: ['openid', 'email'] },
  signAlgo: { env: 'OIDC_RP_SIGN_ALGO', kind: 'string' },
  idpSignKey: { env: 'OIDC_RP_IDP_SIGN_KEY', kind: 'string' },
  authorizationEndpoint: { env: 'OIDC_OP_AUTHORIZATION_ENDPOINT', kind: 'url' },
  tokenEndpoint: { env: 'OIDC_OP_TOKEN_ENDPOINT', kind: 'url' },
  userinfoEndpoint: { env: 'OIDC_OP_USER_ENDPOINT', kind: 'url' },
  jwksUri: { env: 'OIDC_OP_JWKS_ENDPOINT', kind: 'url' },
  revocationEndpoint: { env: 'OIDC_OP_TOKEN_REVOKE_ENDPOINT', kind: 'url' },
  endSessionEndpoint: { env: 'OIDC_OP_LOGOUT_ENDPOINT', kind: 'url' },
  storeAccessToken: { env: 'OIDC_STORE_ACCESS_TOKEN', kind: 'boolean', default: true },
  storeIdToken: { env: 'OIDC_STORE_ID_TOKEN', kind: 'boolean', default: false },
  storeRefreshToken: { env: 'OIDC_STORE_REFRESH_TOKEN', kind: 'boolean', default: true },
  renewIdTokenExpirySeconds: { env: 'OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS', kind: 'seconds', default: 900 },
  refreshLeewaySeconds: { env: 'OIDC_REFRESH_LEEWAY_SECONDS', kind: 'seconds', default: 30 },
  createUser: { env: 'OIDC_CREATE_USER', kind: 'boolean', default: true },
  useNonce: { env: 'OIDC_USE_NONCE', kind: 'boolean', default: true },
  usePkce: { env: 'OIDC_USE_PKCE', kind: 'boolean', default: true },
  maxStates: { env: 'OIDC_MAX_STATES', kind: 'int', default: 50 },
  stateTtlSeconds: { env: 'OIDC_STATE_TTL_SECONDS', kind: 'seconds', default: 600 },
  exemptUrls: { env: 'OIDC_EXEMPT_URLS', kind: 'list', default: [] },
  authRequestExtraParams: { env: 'OIDC_AUTH_REQUEST_EXTRA_PARAMS', kind: 'params', default: {} },
  timeout: { env: 'OIDC_TIMEOUT', kind: 'seconds', default: 5 },
  proxy: { env: 'OIDC_PROXY', kind: 'url' },
  verifySsl: { env: 'OIDC_VERIFY_SSL', kind: 'boolean', default: true },
  maxResponseBytes: { env: 'OIDC_MAX_RESPONSE_BYTES', kind: 'int', default: 1024 * 1024 },
  tokenUseBasicAuth: { env: 'OIDC_TOKEN_USE_BASIC_AUTH', kind: 'boolean', default: true },
  allowUnsecuredJwt: { env: 'OIDC_ALLOW_UNSECURED_JWT', kind: 'boolean', default: false },
  fetchUserinfo: { env: 'OIDC_FETCH_USERINFO', kind: 'boolean', default: true },
  clockToleranceSeconds: { env: 'OIDC_CLOCK_TOLERANCE_SECONDS', kind: 'seconds', default: 60 },
  redirectAllowedHosts: { env: 'OIDC_REDIRECT_ALLOWED_HOSTS', kind: 'list', default: [] },
  loginRedirectUrl: { env: 'LOGIN_REDIRECT_URL', kind: 'string', default: '/' },
  loginRedirectUrlFailure: { env: 'LOGIN_REDIRECT_URL_FAILURE', kind: 'string', default: '/' },
  logoutRedirectUrl: { env: 'LOGOUT_REDIRECT_URL', kind: 'string', default: '/' },
  allowLogoutGetMethod: { env: 'ALLOW_LOGOUT_GET_METHOD', kind: 'boolean', default: false },
  revokeTokensOnLogout: { env: 'OIDC_REVOKE_TOKENS_ON_LOGOUT', kind: 'boolean', default: true },
  providerLogout: { env: 'OIDC_OP_LOGOUT', kind: 'boolean', default: true },
  introspectionEndpoint: { env: 'OIDC_OP_INTROSPECTION_ENDPOINT', kind: 'url' },
  bearerAudience: { env: 'OIDC_BEARER_AUDIENCE', kind: 'string' },
  bearerAcceptJwtTyp: { env: 'OIDC_BEARER_ACCEPT_JWT_TYP', kind: 'boolean', default: false },
  bearerOpaqueTokens: { env: 'OIDC_BEARER_OPAQUE_TOKENS', kind: 'string', default: 'auto' },
  bearerCacheMaxEntries: { env: 'OIDC_BEARER_CACHE_MAX_ENTRIES', kind: 'int', default: 10000 },
  bearerCacheTtlSeconds: { env: 'OIDC_BEARER_CACHE_TTL_SECONDS', kind: 'seconds', default: 300 },
  backchannelLogout: { env: 'OIDC_BACKCHANNEL_LOGOUT', kind: 'boolean', default: true },
  frontchannelLogout: { env: 'OIDC_FRONTCHANNEL_LOGOUT', kind: 'boolean', default: false },
  logoutTokenMaxAgeSeconds: { env: 'OIDC_LOGOUT_TOKEN_MAX_AGE_SECONDS', kind: 'seconds', default: 300 },
  strictRefreshAuthTime: { env: 'OIDC_STRICT_REFRESH_AUTH_TIME', kind: 'boolean', default: false },
  redisPrefix: { env: 'OIDC_REDIS_PREFIX', kind: 'string', default: 'oidc:' },
  tokenStoreTtlSeconds: { env: 'OIDC_TOKEN_STORE_TTL_SECONDS', kind: 'seconds', default: 30 * 24 * 3600 },
  'routes.login': { env: 'OIDC_ROUTE_LOGIN', kind: 'urlpath', default: '/oidc/authenticate' },
  'routes.callback': { env: 'OIDC_ROUTE_CALLBACK', kind: 'urlpath', default: '/oidc/callback' },
  'routes.logout': { env: 'OIDC_ROUTE_LOGOUT', kind: 'urlpath', default: '/oidc/logout' },
  'routes.backchannelLogout': { env: 'OIDC_ROUTE_BACKCHANNEL_LOGOUT', kind: 'urlpath', default: '/oidc/backchannel-logout' },
  'routes.frontchannelLogout': { env: 'OIDC_ROUTE_FRONTCHANNEL_LOGOUT', kind: 'urlpath', default: '/oidc/frontchannel-logout' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTION_SPECS;

export interface ResolvedConfig {
  issuer: string | undefined;
  /** Where the discovery document lives when not at `<issuer>/.well-known/openid-configuration`. */
  discoveryUrl: string | undefined;
  clientId: string;
  clientSecret: string;
  baseUrl: string;
  redirectUri: string;
  scopes: string[];
  signAlgo: string | undefined;
  idpSignKey: string | undefined;
  endpoints: {
    authorization: string | undefined;
    token: string | undefined;
    userinfo: string | undefined;
    jwks: string | undefined;
    revocation: string | undefined;
    endSession: string | undefined;
    introspection: string | undefined;
  };
  storeAccessToken: boolean;
  storeIdToken: boolean;
  storeRefreshToken: boolean;
  renewIdTokenExpirySeconds: number;
  refreshLeewaySeconds: number;
  createUser: boolean;
  useNonce: boolean;
  usePkce: boolean;
  maxStates: number;
  stateTtlSeconds: number;
  exemptUrls: Array<string | RegExp>;
  authRequestExtraParams: Record<string, string>;
  timeoutMs: number;
  proxy: string | undefined;
  verifySsl: boolean;
  maxResponseBytes: number;
  tokenUseBasicAuth: boolean;
  allowUnsecuredJwt: boolean;
  fetchUserinfo: boolean;
  clockToleranceSeconds: number;
  redirectAllowedHosts: string[];
  loginRedirectUrl: string;
  loginRedirectUrlFailure: string;
  logoutRedirectUrl: string;
  allowLogoutGetMethod: boolean;
  revokeTokensOnLogout: boolean;
  providerLogout: boolean;
  routes: Required<OidcRoutes>;
  bearer: {
    /** Expected `aud` of JWT access tokens (RFC 9068 4); default the client id. */
    audience: string;
    acceptJwtTyp: boolean;
    /** Opaque tokens: RFC 7662 introspection, the userinfo endpoint, or refused; auto = introspection when available. */
    opaqueTokens: 'auto' | 'introspection' | 'userinfo' | 'reject';
    cacheMaxEntries: number;
    cacheTtlSeconds: number;
  };
  backchannelLogout: boolean;
  frontchannelLogout: boolean;
  /** Oldest `iat` (seconds ago, plus the clock tolerance) a logout token may have, whatever its `exp`. */
  logoutTokenMaxAgeSeconds: number;
  /** End the session when a refreshed ID token's `auth_time` differs (OIDC Core 12.2 read strictly). */
  strictRefreshAuthTime: boolean;
  redisPrefix: string;
  tokenStoreTtlSeconds: number;
  redis: RedisClientLike | undefined;
  hooks: OidcHooks;
  logger: OidcLogger;
}

/**
 * What a login needs that only discovery could otherwise supply: the authorization and token
 * endpoints and a way to verify ID tokens (a JWKS URL, a pinned key, or an HS* algorithm whose
 * key is the client secret; OIDC Core 10.1). Empty when discovery is not needed.
 */
export function missingWithoutDiscovery(
  has: (name: 'authorizationEndpoint' | 'tokenEndpoint' | 'jwksUri' | 'idpSignKey') => boolean,
  signAlgo: string | undefined,
): Array<'authorizationEndpoint' | 'tokenEndpoint' | 'jwksUri'> {
  const missing: Array<'authorizationEndpoint' | 'tokenEndpoint' | 'jwksUri'> = [];
  if (!has('authorizationEndpoint')) missing.push('authorizationEndpoint');
  if (!has('tokenEndpoint')) missing.push('tokenEndpoint');
  const hasKeySource = has('jwksUri') || has('idpSignKey') || (signAlgo ?? '').startsWith('HS') || signAlgo === 'none';
  if (!hasKeySource) missing.push('jwksUri');
  return missing;
}

/** missingWithoutDiscovery on a resolved configuration. */
export function missingWithoutDiscoveryIn(config: Pick<ResolvedConfig, 'endpoints' | 'idpSignKey' | 'signAlgo'>): Array<'authorizationEndpoint' | 'tokenEndpoint' | 'jwksUri'> {
  const present = {
    authorizationEndpoint: config.endpoints.authorization,
    tokenEndpoint: config.endpoints.token,
    jwksUri: config.endpoints.jwks,
    idpSignKey: config.idpSignKey,
  };
  return missingWithoutDiscovery((name) => present[name] !== undefined, config.signAlgo);
}

/** `"name" (env NAME)`: how every message refers to an option. */
function ref(name: OptionName): string {
  const spec: OptionSpec = OPTION_SPECS[name];
  return `"${name}" (env ${spec.env})`;
}

type RouteOptionName = Extract<OptionName, `routes.${string}`>;
type TopLevelOptionName = Exclude<OptionName, RouteOptionName>;
type RouteName = RouteOptionName extends `routes.${infer R}` ? R : never;

/** Options given in code only (no env var), besides OPTION_SPECS's. */
const CODE_ONLY_OPTIONS = ['redis', 'hooks', 'logger', 'env', 'routes'] as const;

/** Every hook of OidcHooks (src/types.ts). */
const HOOK_NAMES = [
  'verifyClaims', 'filterUsersByClaims', 'createUser', 'updateUser', 'getLogoutUrl',
  'serializeUser', 'deserializeUser', 'onTokensRefreshed', 'onRefreshError',
] as const satisfies ReadonlyArray<keyof OidcHooks>;

// Unknown keys are rejected, so a key of OidcAuthOptions, OidcRoutes or OidcHooks missing from the
// lists above would be refused at run time: these fail to compile instead.
type MustBeNever<T extends never> = T;
// eslint-disable-next-line @typescript-eslint/no-unused-vars
type Unlisted = MustBeNever<
  | Exclude<keyof OidcAuthOptions, TopLevelOptionName | (typeof CODE_ONLY_OPTIONS)[number]>
  | Exclude<keyof OidcRoutes, RouteName>
  | Exclude<keyof OidcHooks, (typeof HOOK_NAMES)[number]>
>;

const OPTION_NAMES = Object.keys(OPTION_SPECS) as OptionName[];
const TOP_LEVEL_OPTIONS = OPTION_NAMES.filter((n): n is TopLevelOptionName => !n.startsWith('routes.'));
/** The library's routes, as OIDC_EXEMPT_URLS may name them. */
export const ROUTE_NAMES = OPTION_NAMES.filter((n): n is RouteOptionName => n.startsWith('routes.')).map((n) => n.slice('routes.'.length) as RouteName);
const ENV_TO_OPTION = new Map(OPTION_NAMES.map((n) => [(OPTION_SPECS[n] as OptionSpec).env, n]));

/**
 * express-openid-connect's options, and what to do instead: migrated configurations would
 * otherwise start and silently do nothing (authRequired: true protecting no route at all).
 */
const EOC_HINTS = new Map<string, string>([
  ['authRequired', 'nothing is protected by default here: add oidc.requireAuth() to the routes to protect, or app.use(oidc.requireAuth()) after oidc.router to protect every route'],
  ['idpLogout', `use ${ref('providerLogout')}, on by default`],
  ['auth0Logout', `use ${ref('providerLogout')}, on by default; set ${ref('endSessionEndpoint')} if the tenant's discovery has no end_session_endpoint`],
  ['afterCallback', 'shape the user with hooks: { createUser, updateUser } (and hooks.verifyClaims to refuse a login); the tokens are kept by the library'],
  ['authorizationParams', `give the scope as ${ref('scopes')} and other parameters (audience, prompt...) as ${ref('authRequestExtraParams')}; response_type is always code`],
  ['issuerBaseURL', `use ${ref('issuer')}`],
  ['clientID', `use ${ref('clientId')}`],
  ['baseURL', `use ${ref('baseUrl')}`],
  ['secret', 'the session belongs to express-session here: give the secret to session({ secret })'],
  ['session', 'the session belongs to express-session here: set its store, cookie, rolling and maxAge in session({ ... })'],
  ['clientAuthMethod', `use ${ref('tokenUseBasicAuth')}: true for client_secret_basic, false for client_secret_post (private_key_jwt is not supported)`],
  ['clientAssertionSigningKey', `private_key_jwt is not supported; authenticate with ${ref('clientSecret')}`],
  ['clientAssertionSigningAlg', `private_key_jwt is not supported; authenticate with ${ref('clientSecret')}`],
  ['attemptSilentLogin', `there is no silent login for anonymous visitors; signed-in sessions without a refresh token are re-checked with prompt=none after ${ref('renewIdTokenExpirySeconds')}`],
  ['idTokenSigningAlg', `use ${ref('signAlgo')}`],
  ['clockTolerance', `use ${ref('clockToleranceSeconds')}`],
  ['httpTimeout', `use ${ref('timeout')}, in seconds (httpTimeout was in milliseconds)`],
  ['httpAgent', `use ${ref('proxy')} and ${ref('verifySsl')}`],
  ['errorOnRequiredAuth', 'not needed: requireAuth() answers 401 to JSON and XHR requests and redirects page requests to login'],
  ['getLoginState', 'link to the login route with ?next=/path: the browser comes back there after login'],
  ['identityClaimFilter', 'req.oidc.claims keeps every claim; shape req.user with hooks: { createUser, updateUser }'],
  ['transactionCookie', 'the login state is kept in the express-session session, with no cookie of its own'],
  ['legacySameSiteCookie', 'the login state is kept in the express-session session, with no cookie of its own'],
  ['enableTelemetry', 'there is no telemetry; remove it'],
  ['pushedAuthorizationRequests', 'pushed authorization requests (PAR) are not supported'],
  ['postLogoutRedirect', `use ${ref('logoutRedirectUrl')} (a top-level option)`],
]);

/** The rest of an unknown-key message for an express-openid-connect option, else undefined. */
function eocHint(key: string): string | undefined {
  const hint = EOC_HINTS.get(key);
  return hint && ` (express-openid-connect): ${hint}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** What a typo most likely meant: case-insensitive, within a third of its length (at least 2 edits). */
function closest<T extends string>(key: string, candidates: readonly T[]): T | undefined {
  let best: T | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(key.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

const isHookName = (key: string): key is (typeof HOOK_NAMES)[number] => (HOOK_NAMES as readonly string[]).includes(key);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The rest of the message for a top-level key that is no option: what was probably meant. */
function unknownOptionHint(key: string, value: unknown): string {
  const eoc = eocHint(key);
  if (eoc) return eoc;
  if (isHookName(key)) return `: hooks go under hooks: { ${key} }`;
  const fromEnv = ENV_TO_OPTION.get(key);
  if (fromEnv) return `: that is the environment variable of option ${ref(fromEnv)}; set it in the environment, or pass the option`;
  if (key.startsWith('routes.') && (ROUTE_NAMES as readonly string[]).includes(key.slice('routes.'.length))) {
    return `: routes go under routes: { ${key.slice('routes.'.length)}: ... }`;
  }
  const guess = closest(key, [...TOP_LEVEL_OPTIONS, ...CODE_ONLY_OPTIONS, ...HOOK_NAMES]);
  if (guess === undefined) return ': express-oidc-rp has no such option (see README "Options")';
  if (isHookName(guess) && (typeof value === 'function' || !(TOP_LEVEL_OPTIONS as string[]).includes(guess))) return `: did you mean hooks: { ${guess} }?`;
  return `: did you mean ${guess in OPTION_SPECS ? ref(guess as OptionName) : `"${guess}"`}?`;
}

/** Keys that are no option at the top level, under routes or under hooks; the shapes of hooks, routes and logger. */
function optionKeyProblems(options: OidcAuthOptions): string[] {
  const problems: string[] = [];
  const known = new Set<string>([...TOP_LEVEL_OPTIONS, ...CODE_ONLY_OPTIONS]);
  for (const [key, value] of Object.entries(options)) {
    if (!known.has(key)) problems.push(`unknown option "${key}"${unknownOptionHint(key, value)}`);
  }
  const { routes, hooks, logger } = options as Record<string, unknown>;
  if (routes !== undefined) {
    if (!isPlainObject(routes)) problems.push('option "routes" must be an object of paths, e.g. { callback: "/auth/callback" }');
    else {
      for (const key of Object.keys(routes)) {
        if ((ROUTE_NAMES as readonly string[]).includes(key)) continue;
        const guess = closest(key, ROUTE_NAMES);
        const hint = eocHint(key) ?? (guess ? `: did you mean ${ref(`routes.${guess}`)}?` : `: the routes are ${ROUTE_NAMES.join(', ')}`);
        problems.push(`unknown option "routes.${key}"${hint}`);
      }
    }
  }
  if (hooks !== undefined) {
    if (!isPlainObject(hooks)) problems.push('option "hooks" must be an object of functions, e.g. { createUser: async (claims) => ... }');
    else {
      for (const [key, fn] of Object.entries(hooks)) {
        if (!isHookName(key)) {
          const guess = closest(key, HOOK_NAMES);
          const hint = eocHint(key) ?? (guess ? `: did you mean "${guess}"?` : `: the hooks are ${HOOK_NAMES.join(', ')}`);
          problems.push(`unknown hook "hooks.${key}"${hint}`);
        } else if (fn !== undefined && typeof fn !== 'function') {
          const option = key in OPTION_SPECS ? `; the on/off switch is option ${ref(key as OptionName)}` : '';
          problems.push(`hook "hooks.${key}" must be a function${option}`);
        }
      }
    }
  }
  if (logger !== undefined && !(isPlainObject(logger) && ['debug', 'info', 'warn', 'error'].every((m) => typeof logger[m] === 'function'))) {
    problems.push('option "logger" must have debug, info, warn, error functions (console, pino and winston do)');
  }
  return problems;
}

/** The one error of an invalid configuration: every problem, in the message and as err.problems. */
function configInvalid(problems: string[]): OidcError {
  const message =
    problems.length === 1
      ? `express-oidc-rp: ${problems[0]}`
      : `express-oidc-rp: ${problems.length} invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
  return new OidcError('OIDC_CONFIG_INVALID', message, { problems });
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

/** An env value that could not be parsed: already reported, so later checks skip it. */
const INVALID: unique symbol = Symbol('invalid');
type Report = (name: OptionName, problem: string) => void;

/** Parse one env string per the option's kind. */
function parseEnv(name: OptionName, raw: string, report: Report): unknown {
  const spec: OptionSpec = OPTION_SPECS[name];
  const value = raw.trim();
  const invalid = (problem: string) => {
    report(name, problem);
    return INVALID;
  };
  switch (spec.kind) {
    case 'boolean': {
      const v = value.toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      return invalid(`must be true or false, got "${raw}"`);
    }
    case 'seconds':
    case 'int': {
      if (!/^\d+(\.\d+)?$/.test(value)) return invalid(`must be a non-negative number, got "${raw}"`);
      return Number(value);
    }
    case 'list':
      // Space or comma separated, as OIDC_RP_SCOPES is space separated in mozilla-django-oidc.
      return value.split(/[\s,]+/).filter(Boolean);
    case 'params': {
      if (value.startsWith('{')) {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          return invalid('is not valid JSON');
        }
      }
      return Object.fromEntries(new URLSearchParams(value));
    }
    default:
      return value;
  }
}

function readOption(options: OidcAuthOptions, name: OptionName): unknown {
  if (name.startsWith('routes.')) {
    const key = name.slice('routes.'.length) as keyof OidcRoutes;
    return isPlainObject(options.routes) ? options.routes[key] : undefined;
  }
  return options[name as keyof OidcAuthOptions];
}

/** Why `value` is not an acceptable provider URL, or undefined. */
function urlProblem(value: string, allowHttp: boolean): string | undefined {
  if (!URL.canParse(value)) return `is not a valid URL: "${value}"`;
  const { protocol } = new URL(value);
  if (protocol !== 'https:' && !(allowHttp && protocol === 'http:')) return `must be an https URL (http only for localhost), got "${value}"`;
  return undefined;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function defaultLogger(): OidcLogger {
  // Debug output via NODE_DEBUG=express-oidc-rp, warnings always: a failed login must say why.
  const debug = debuglog('express-oidc-rp');
  const fmt = (m: string, meta?: Record<string, unknown>) => (meta ? `${m} ${JSON.stringify(meta)}` : m);
  return {
    debug: (m, meta) => debug(fmt(m, meta)),
    info: (m, meta) => debug(fmt(m, meta)),
    warn: (m, meta) => console.warn(`[express-oidc-rp] ${fmt(m, meta)}`),
    error: (m, meta) => console.error(`[express-oidc-rp] ${fmt(m, meta)}`),
  };
}

// Characters that make a route something other than one literal path: a query, a fragment,
// whitespace, or Express route-pattern syntax (the per-route Routers of src/index.ts use it).
const NOT_A_PLAIN_PATH = /[?#\s:*()\\]/;

/**
 * Merge options over env vars over defaults, validate, and return the resolved configuration.
 * Every invalid setting is collected; then one OidcError('OIDC_CONFIG_INVALID') lists them all
 * (in its message and `problems`), each naming the option and its env var.
 */
export function resolveConfig(options: OidcAuthOptions = {}): ResolvedConfig {
  const problems = optionKeyProblems(options);
  const report: Report = (name, problem) => {
    problems.push(`option ${ref(name)} ${problem}`);
  };
  const env = options.env ?? process.env;
  const raw = {} as Record<OptionName, unknown>;
  for (const name of OPTION_NAMES) {
    const spec: OptionSpec = OPTION_SPECS[name];
    const fromOption = readOption(options, name);
    const fromEnv = env[spec.env];
    raw[name] = fromOption !== undefined ? fromOption : fromEnv !== undefined ? parseEnv(name, fromEnv, report) : spec.default;
  }
  /** Given, whether valid or not: settings that depend on it are not also reported missing. */
  const given = (name: OptionName) => raw[name] !== undefined && raw[name] !== '';

  // Each reader reports a problem and returns a placeholder: the configuration is only returned
  // when no problem was reported, so placeholders never escape.
  const str = (name: OptionName, required = false): string | undefined => {
    const v = raw[name];
    if (v === INVALID) return undefined;
    if (v === undefined || v === '') {
      if (required) report(name, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') return void report(name, 'must be a string');
    return v;
  };
  const bool = (name: OptionName): boolean => {
    const v = raw[name];
    if (v === INVALID || typeof v === 'boolean') return v === true;
    // createUser: the boolean switch, and the name of a hook (mozilla-django-oidc has both too).
    report(name, isHookName(name) && typeof v === 'function' ? `must be a boolean; the ${name} hook goes under hooks: { ${name} }` : 'must be a boolean');
    return false;
  };
  const num = (name: OptionName, min: number, integer = false): number => {
    const v = raw[name];
    if (v === INVALID) return min;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
      report(name, `must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
      return min;
    }
    return v;
  };
  const list = (name: OptionName): string[] | undefined => {
    const v = raw[name];
    if (v === INVALID) return undefined;
    const arr = typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v;
    if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string')) return void report(name, 'must be a list of strings');
    return arr as string[];
  };
  const path = (name: OptionName): string | undefined => {
    const v = str(name, true);
    if (v === undefined) return undefined;
    if (!v.startsWith('/') || v.startsWith('//')) return void report(name, `must be a path starting with "/", got "${v}"`);
    if (NOT_A_PLAIN_PATH.test(v)) return void report(name, `must be a plain path (no query, fragment, spaces or route patterns), got "${v}"`);
    // oidc.router strips a request's trailing slash before the lookup (src/routes/dispatch.ts).
    if (v.length > 1 && v.endsWith('/')) return void report(name, `must not end with "/" (it would never match), got "${v}"`);
    return v;
  };
  const url = (name: OptionName, required = false): string | undefined => {
    const v = str(name, required);
    if (v === undefined) return undefined;
    // http is allowed for loopback providers (development, tests) only.
    const problem = urlProblem(v, URL.canParse(v) && isLoopbackHost(new URL(v).hostname));
    return problem ? void report(name, problem) : v;
  };

  const clientId = str('clientId', true) as string;
  const clientSecret = str('clientSecret', true) as string;
  let baseUrl = '';
  const baseUrlRaw = str('baseUrl', true);
  if (baseUrlRaw !== undefined) {
    const base = URL.canParse(baseUrlRaw) ? new URL(baseUrlRaw) : undefined;
    if (!base) report('baseUrl', `is not a valid URL: "${baseUrlRaw}"`);
    else if (base.protocol !== 'https:' && base.protocol !== 'http:') report('baseUrl', 'must be an http(s) URL');
    // The base URL is an origin plus an optional path prefix; no query or fragment.
    else baseUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
  }

  const issuer = url('issuer');
  const endpoints = {
    authorization: url('authorizationEndpoint'),
    token: url('tokenEndpoint'),
    userinfo: url('userinfoEndpoint'),
    jwks: url('jwksUri'),
    revocation: url('revocationEndpoint'),
    endSession: url('endSessionEndpoint'),
    introspection: url('introspectionEndpoint'),
  };
  // The document's issuer must equal the configured one (OIDC Discovery 4.3), so there must be one.
  const discoveryUrl = url('discoveryUrl');
  if (given('discoveryUrl') && !given('issuer')) report('discoveryUrl', `needs ${ref('issuer')}: the document's issuer must equal it`);

  const scopes = list('scopes');
  if (scopes && !scopes.includes('openid')) report('scopes', 'must include "openid"');

  const signAlgo = str('signAlgo');
  if (signAlgo !== undefined && !(SUPPORTED_ALGS as readonly string[]).includes(signAlgo) && signAlgo !== 'none') {
    report('signAlgo', `"${signAlgo}" is not supported; use one of ${SUPPORTED_ALGS.join(', ')}`);
  }
  const allowUnsecuredJwt = bool('allowUnsecuredJwt');
  if (signAlgo === 'none' && !allowUnsecuredJwt && raw.allowUnsecuredJwt !== INVALID) {
    report('signAlgo', `"none" also needs ${ref('allowUnsecuredJwt')}`);
  }
  const idpSignKey = str('idpSignKey');
  if (idpSignKey !== undefined) {
    const problem = signKeyProblem(idpSignKey);
    if (problem) report('idpSignKey', problem);
  }
  // Without discovery, the endpoints of the code flow and a key source must be given, as in
  // mozilla-django-oidc. Judged on what was given, so an invalid value is reported once, as itself.
  if (!given('issuer')) {
    for (const name of missingWithoutDiscovery(given, signAlgo)) {
      if (name === 'jwksUri') report('jwksUri', `or ${ref('idpSignKey')} is required to verify ID tokens without discovery (or pin an HS* algorithm with signAlgo)`);
      else report(name, `is required when ${ref('issuer')} is not set`);
    }
  }

  const routes = Object.fromEntries(ROUTE_NAMES.map((r) => [r, path(`routes.${r}`)])) as Required<OidcRoutes>;
  // Two routes on one path: one handler would shadow the other (a callback equal to the login
  // route starts a new login instead of finishing one). Compared as oidc.router matches: ignoring case.
  const seen = new Map<string, RouteName>();
  for (const r of ROUTE_NAMES) {
    const p = routes[r]?.toLowerCase();
    if (p === undefined) continue;
    const first = seen.get(p);
    if (first) problems.push(`options ${ref(`routes.${first}`)} and ${ref(`routes.${r}`)} are the same path "${routes[r]}"; each route needs its own`);
    else seen.set(p, r);
  }

  // Checked here rather than when sessionRefresh is built, so they are among the problems listed.
  const exemptUrls = (typeof raw.exemptUrls === 'string' ? list('exemptUrls') : raw.exemptUrls) as Array<string | RegExp>;
  if (!Array.isArray(exemptUrls) || !exemptUrls.every((x) => typeof x === 'string' || x instanceof RegExp)) {
    report('exemptUrls', 'must be a list of paths or RegExps');
  } else {
    for (const entry of exemptUrls) {
      // Route names, as mozilla-django-oidc accepts URL names: here the library's own routes.
      if (typeof entry === 'string' && !entry.startsWith('/') && !(ROUTE_NAMES as readonly string[]).includes(entry)) {
        report('exemptUrls', `entry "${entry}" is neither a path starting with "/", a RegExp, nor one of the route names ${ROUTE_NAMES.join(', ')}`);
      }
      // RegExp#test with g or y advances lastIndex: the same path would alternate between exempt and not.
      if (entry instanceof RegExp && (entry.global || entry.sticky)) report('exemptUrls', `entry ${String(entry)} must not have the g or y flag (test() would then alternate)`);
    }
  }

  const extra = raw.authRequestExtraParams;
  if (extra !== INVALID) {
    if (!isPlainObject(extra) || !Object.values(extra).every((v) => typeof v === 'string')) {
      report('authRequestExtraParams', 'must be an object of string values');
    } else {
      for (const reserved of ['state', 'nonce', 'code_challenge', 'code_challenge_method', 'redirect_uri', 'client_id', 'response_type']) {
        if (reserved in extra) report('authRequestExtraParams', `must not set "${reserved}", which the library sets per request`);
      }
    }
  }

  const proxy = str('proxy');
  if (proxy !== undefined) {
    const problem = urlProblem(proxy, true);
    if (problem) report('proxy', problem);
  }

  const redis = options.redis;
  if (redis !== undefined) {
    const r = redis as { call?: unknown; sendCommand?: unknown };
    if (typeof r.call !== 'function' && typeof r.sendCommand !== 'function') {
      problems.push('option "redis" must be a node-redis or ioredis client');
    }
  }

  const allowedHosts = list('redirectAllowedHosts') ?? [];
  for (const host of allowedHosts) {
    const problem = allowedHostProblem(host);
    if (problem) report('redirectAllowedHosts', `entry "${host}": ${problem}`);
  }

  const opaqueTokens = str('bearerOpaqueTokens', true);
  if (opaqueTokens !== undefined && !['auto', 'introspection', 'userinfo', 'reject'].includes(opaqueTokens)) {
    report('bearerOpaqueTokens', `must be auto, introspection, userinfo or reject, got "${opaqueTokens}"`);
  }

  const resolved: ResolvedConfig = {
    issuer,
    discoveryUrl,
    clientId,
    clientSecret,
    baseUrl,
    redirectUri: baseUrl + routes.callback,
    scopes: scopes ?? [],
    signAlgo,
    idpSignKey,
    endpoints,
    storeAccessToken: bool('storeAccessToken'),
    storeIdToken: bool('storeIdToken'),
    storeRefreshToken: bool('storeRefreshToken'),
    renewIdTokenExpirySeconds: num('renewIdTokenExpirySeconds', 0),
    refreshLeewaySeconds: num('refreshLeewaySeconds', 0),
    createUser: bool('createUser'),
    useNonce: bool('useNonce'),
    usePkce: bool('usePkce'),
    maxStates: num('maxStates', 1, true),
    stateTtlSeconds: num('stateTtlSeconds', 1),
    exemptUrls,
    authRequestExtraParams: extra as Record<string, string>,
    timeoutMs: Math.round(num('timeout', 0.001) * 1000),
    proxy,
    verifySsl: bool('verifySsl'),
    maxResponseBytes: num('maxResponseBytes', 1024, true),
    tokenUseBasicAuth: bool('tokenUseBasicAuth'),
    allowUnsecuredJwt,
    fetchUserinfo: bool('fetchUserinfo'),
    clockToleranceSeconds: num('clockToleranceSeconds', 0),
    redirectAllowedHosts: allowedHosts.map((h) => h.toLowerCase()),
    loginRedirectUrl: str('loginRedirectUrl', true) as string,
    loginRedirectUrlFailure: str('loginRedirectUrlFailure', true) as string,
    logoutRedirectUrl: str('logoutRedirectUrl', true) as string,
    allowLogoutGetMethod: bool('allowLogoutGetMethod'),
    revokeTokensOnLogout: bool('revokeTokensOnLogout'),
    providerLogout: bool('providerLogout'),
    routes,
    bearer: {
      audience: str('bearerAudience') ?? clientId,
      acceptJwtTyp: bool('bearerAcceptJwtTyp'),
      opaqueTokens: opaqueTokens as ResolvedConfig['bearer']['opaqueTokens'],
      cacheMaxEntries: num('bearerCacheMaxEntries', 0, true),
      cacheTtlSeconds: num('bearerCacheTtlSeconds', 0),
    },
    backchannelLogout: bool('backchannelLogout'),
    frontchannelLogout: bool('frontchannelLogout'),
    logoutTokenMaxAgeSeconds: num('logoutTokenMaxAgeSeconds', 1),
    strictRefreshAuthTime: bool('strictRefreshAuthTime'),
    redisPrefix: str('redisPrefix', true) as string,
    tokenStoreTtlSeconds: num('tokenStoreTtlSeconds', 60),
    redis,
    hooks: options.hooks ?? {},
    logger: options.logger ?? defaultLogger(),
  };
  if (problems.length > 0) throw configInvalid(problems);
  return resolved;
}
