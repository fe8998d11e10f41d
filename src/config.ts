/**
 * Options + environment variables, validated once at `createOidcAuth()`.
 *
 * One table (OPTION_SPECS) drives parsing, defaults and error messages, so every option has
 * exactly one env var and every error names both. README's options table mirrors it and a test
 * keeps the two in step.
 */
import { OidcError } from './errors.js';
import type { OidcAuthOptions, OidcHooks, OidcLogger, OidcRoutes } from './types.js';
import type { RedisClientLike } from './store/redis-store.js';
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
  redisPrefix: { env: 'OIDC_REDIS_PREFIX', kind: 'string', default: 'oidc:' },
  tokenStoreTtlSeconds: { env: 'OIDC_TOKEN_STORE_TTL_SECONDS', kind: 'seconds', default: 30 * 24 * 3600 },
  'routes.login': { env: 'OIDC_ROUTE_LOGIN', kind: 'urlpath', default: '/oidc/authenticate' },
  'routes.callback': { env: 'OIDC_ROUTE_CALLBACK', kind: 'urlpath', default: '/oidc/callback' },
  'routes.logout': { env: 'OIDC_ROUTE_LOGOUT', kind: 'urlpath', default: '/oidc/logout' },
  'routes.backchannelLogout': { env: 'OIDC_ROUTE_BACKCHANNEL_LOGOUT', kind: 'urlpath', default: '/oidc/backchannel-logout' },
  'routes.frontchannelLogout': { env: 'OIDC_ROUTE_FRONTCHANNEL_LOGOUT', kind: 'urlpath', default: '/oidc/frontchannel-logout' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTION_SPECS;

/** Algorithms an ID token may be signed with (OIDC Core 3.1.3.7 step 7; RFC 7518). */
export const SUPPORTED_ALGS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
  'HS256', 'HS384', 'HS512',
] as const;

export interface ResolvedConfig {
  issuer: string | undefined;
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
  redisPrefix: string;
  tokenStoreTtlSeconds: number;
  redis: RedisClientLike | undefined;
  hooks: OidcHooks;
  logger: OidcLogger;
}

function configError(name: OptionName, problem: string): OidcError {
  const spec: OptionSpec = OPTION_SPECS[name];
  return new OidcError('OIDC_CONFIG_INVALID', `express-oidc-rp: option "${name}" (env ${spec.env}) ${problem}`);
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

/** Parse one env string per the option's kind. */
function parseEnv(name: OptionName, raw: string): unknown {
  const spec: OptionSpec = OPTION_SPECS[name];
  const value = raw.trim();
  switch (spec.kind) {
    case 'boolean': {
      const v = value.toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      throw configError(name, `must be true or false, got "${raw}"`);
    }
    case 'seconds':
    case 'int': {
      if (!/^\d+(\.\d+)?$/.test(value)) throw configError(name, `must be a non-negative number, got "${raw}"`);
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
          throw configError(name, 'is not valid JSON');
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
    return options.routes?.[key];
  }
  return options[name as keyof OidcAuthOptions];
}

function checkUrl(name: OptionName, value: unknown, allowHttp: boolean): string {
  if (typeof value !== 'string' || value === '') throw configError(name, 'must be a URL string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configError(name, `is not a valid URL: "${value}"`);
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw configError(name, `must be an https URL (http only for localhost), got "${value}"`);
  }
  return value;
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

/**
 * Merge options over env vars over defaults, validate, and return the resolved configuration.
 * Throws OidcError('OIDC_CONFIG_INVALID') naming the option and its env var.
 */
export function resolveConfig(options: OidcAuthOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const raw = {} as Record<OptionName, unknown>;
  for (const name of Object.keys(OPTION_SPECS) as OptionName[]) {
    const spec: OptionSpec = OPTION_SPECS[name];
    const fromOption = readOption(options, name);
    const fromEnv = env[spec.env];
    raw[name] = fromOption !== undefined ? fromOption : fromEnv !== undefined ? parseEnv(name, fromEnv) : spec.default;
  }

  const str = (name: OptionName, required = false): string | undefined => {
    const v = raw[name];
    if (v === undefined || v === '') {
      if (required) throw configError(name, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') throw configError(name, 'must be a string');
    return v;
  };
  const bool = (name: OptionName): boolean => {
    const v = raw[name];
    if (typeof v !== 'boolean') throw configError(name, 'must be a boolean');
    return v;
  };
  const num = (name: OptionName, min: number, integer = false): number => {
    const v = raw[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
      throw configError(name, `must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
    }
    return v;
  };
  const list = (name: OptionName): string[] => {
    const v = raw[name];
    const arr = typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v;
    if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string')) {
      throw configError(name, 'must be a list of strings');
    }
    return arr as string[];
  };
  const path = (name: OptionName): string => {
    const v = str(name, true) as string;
    if (!v.startsWith('/') || v.startsWith('//')) throw configError(name, `must be a path starting with "/", got "${v}"`);
    return v;
  };
  const url = (name: OptionName, required = false): string | undefined => {
    const v = str(name, required);
    if (v === undefined) return undefined;
    // http is allowed for loopback providers (development, tests) only.
    const parsed = URL.canParse(v) ? new URL(v) : undefined;
    return checkUrl(name, v, parsed !== undefined && isLoopbackHost(parsed.hostname));
  };

  const clientId = str('clientId', true) as string;
  const clientSecret = str('clientSecret', true) as string;
  const baseUrlRaw = str('baseUrl', true) as string;
  if (!URL.canParse(baseUrlRaw)) throw configError('baseUrl', `is not a valid URL: "${baseUrlRaw}"`);
  const base = new URL(baseUrlRaw);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw configError('baseUrl', 'must be an http(s) URL');
  // The base URL is an origin plus an optional path prefix; no query or fragment.
  const baseUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;

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
  // Without discovery, the two endpoints of the code flow must be given, as in mozilla-django-oidc.
  if (!issuer) {
    if (!endpoints.authorization) throw configError('authorizationEndpoint', 'is required when "issuer" (env OIDC_OP_ISSUER) is not set');
    if (!endpoints.token) throw configError('tokenEndpoint', 'is required when "issuer" (env OIDC_OP_ISSUER) is not set');
  }

  const scopes = list('scopes');
  if (!scopes.includes('openid')) throw configError('scopes', 'must include "openid"');

  const signAlgo = str('signAlgo');
  if (signAlgo !== undefined && !(SUPPORTED_ALGS as readonly string[]).includes(signAlgo) && signAlgo !== 'none') {
    throw configError('signAlgo', `"${signAlgo}" is not supported; use one of ${SUPPORTED_ALGS.join(', ')}`);
  }
  const allowUnsecuredJwt = bool('allowUnsecuredJwt');
  if (signAlgo === 'none' && !allowUnsecuredJwt) {
    throw configError('signAlgo', '"none" also needs allowUnsecuredJwt (env OIDC_ALLOW_UNSECURED_JWT)');
  }
  const idpSignKey = str('idpSignKey');
  if (!issuer && !endpoints.jwks && !idpSignKey && !(signAlgo ?? '').startsWith('HS') && signAlgo !== 'none') {
    throw configError('jwksUri', 'or idpSignKey (env OIDC_RP_IDP_SIGN_KEY) is required to verify ID tokens without discovery (or pin an HS* algorithm with signAlgo)');
  }

  const exemptRaw = raw.exemptUrls;
  const exemptUrls = typeof exemptRaw === 'string' ? list('exemptUrls') : exemptRaw;
  if (!Array.isArray(exemptUrls) || !exemptUrls.every((x) => typeof x === 'string' || x instanceof RegExp)) {
    throw configError('exemptUrls', 'must be a list of paths or RegExps');
  }

  const extra = raw.authRequestExtraParams;
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra) || !Object.values(extra).every((v) => typeof v === 'string')) {
    throw configError('authRequestExtraParams', 'must be an object of string values');
  }
  for (const reserved of ['state', 'nonce', 'code_challenge', 'code_challenge_method', 'redirect_uri', 'client_id', 'response_type']) {
    if (reserved in extra) throw configError('authRequestExtraParams', `must not set "${reserved}", which the library sets per request`);
  }

  const proxy = str('proxy');
  if (proxy !== undefined) checkUrl('proxy', proxy, true);

  const redis = options.redis;
  if (redis !== undefined) {
    const r = redis as { call?: unknown; sendCommand?: unknown };
    if (typeof r.call !== 'function' && typeof r.sendCommand !== 'function') {
      throw new OidcError('OIDC_CONFIG_INVALID', 'express-oidc-rp: option "redis" must be a node-redis or ioredis client');
    }
  }

  const routes = {
    login: path('routes.login'),
    callback: path('routes.callback'),
    logout: path('routes.logout'),
    backchannelLogout: path('routes.backchannelLogout'),
    frontchannelLogout: path('routes.frontchannelLogout'),
  };
  const opaqueTokens = str('bearerOpaqueTokens', true) as string;
  if (!['auto', 'introspection', 'userinfo', 'reject'].includes(opaqueTokens)) {
    throw configError('bearerOpaqueTokens', `must be auto, introspection, userinfo or reject, got "${opaqueTokens}"`);
  }

  return {
    issuer,
    clientId,
    clientSecret,
    baseUrl,
    redirectUri: baseUrl + routes.callback,
    scopes,
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
    redirectAllowedHosts: list('redirectAllowedHosts').map((h) => h.toLowerCase()),
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
    redisPrefix: str('redisPrefix', true) as string,
    tokenStoreTtlSeconds: num('tokenStoreTtlSeconds', 60),
    redis,
    hooks: options.hooks ?? {},
    logger: options.logger ?? defaultLogger(),
  };
}
