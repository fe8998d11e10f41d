/**
 * src/config.ts: options over env vars over defaults, every error naming option AND env var.
 * Every test passes `env` explicitly so process.env never leaks in.
 */
import { describe, it, expect } from 'vitest';
import { OPTION_SPECS, resolveConfig } from '../../src/config.js';
import { isOidcError } from '../../src/errors.js';
import type { OidcAuthOptions } from '../../src/types.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A minimal valid configuration (discovery mode). */
const BASE: OidcAuthOptions = {
  clientId: 'client-1',
  clientSecret: 'secret-1',
  baseUrl: 'https://app.example.com',
  issuer: 'https://op.example.com',
  logger: silent,
};

function resolve(options: OidcAuthOptions = {}, env: Record<string, string | undefined> = {}) {
  return resolveConfig({ ...BASE, ...options, env });
}

/** Run fn, assert it throws OIDC_CONFIG_INVALID, and that the message contains every fragment. */
function expectConfigError(fn: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected resolveConfig to throw').toBeDefined();
  expect(isOidcError(caught)).toBe(true);
  const err = caught as { code: string; message: string };
  expect(err.code).toBe('OIDC_CONFIG_INVALID');
  for (const f of fragments) expect(err.message).toContain(f);
}

describe('OPTION_SPECS', () => {
  it('maps every option to its own env var (no env var is shared)', () => {
    const envs = Object.values(OPTION_SPECS).map((s) => s.env);
    expect(new Set(envs).size).toBe(envs.length);
  });

  it('has an env var name for every option', () => {
    for (const [name, spec] of Object.entries(OPTION_SPECS)) {
      expect(spec.env, name).toMatch(/^[A-Z][A-Z0-9_]+$/);
    }
  });
});

describe('resolveConfig: required options (clientId, clientSecret, baseUrl)', () => {
  it.each([
    ['clientId', 'OIDC_RP_CLIENT_ID'],
    ['clientSecret', 'OIDC_RP_CLIENT_SECRET'],
    ['baseUrl', 'OIDC_RP_BASE_URL'],
  ] as const)('missing %s -> OIDC_CONFIG_INVALID naming the option and %s', (name, envName) => {
    expectConfigError(() => resolveConfig({ ...BASE, [name]: undefined, env: {} }), `"${name}"`, envName);
  });

  it('an empty string counts as missing', () => {
    expectConfigError(() => resolveConfig({ ...BASE, clientId: '', env: {} }), '"clientId"', 'OIDC_RP_CLIENT_ID');
  });

  it('required options can come from the env alone', () => {
    const cfg = resolveConfig({
      logger: silent,
      env: {
        OIDC_RP_CLIENT_ID: 'env-client',
        OIDC_RP_CLIENT_SECRET: 'env-secret',
        OIDC_RP_BASE_URL: 'https://env.example.com',
        OIDC_OP_ISSUER: 'https://op.example.com',
      },
    });
    expect(cfg.clientId).toBe('env-client');
    expect(cfg.clientSecret).toBe('env-secret');
    expect(cfg.baseUrl).toBe('https://env.example.com');
    expect(cfg.issuer).toBe('https://op.example.com');
  });

  it('an invalid baseUrl is rejected naming baseUrl and OIDC_RP_BASE_URL', () => {
    expectConfigError(() => resolve({ baseUrl: 'not a url' }), '"baseUrl"', 'OIDC_RP_BASE_URL');
    expectConfigError(() => resolve({ baseUrl: 'ftp://app.example.com' }), '"baseUrl"', 'OIDC_RP_BASE_URL');
  });
});

describe('resolveConfig: precedence option > env > default', () => {
  it('an explicit option wins over its env var', () => {
    const cfg = resolve({ clientId: 'from-option', usePkce: true, timeout: 3 }, {
      OIDC_RP_CLIENT_ID: 'from-env',
      OIDC_USE_PKCE: 'false',
      OIDC_TIMEOUT: '9',
    });
    expect(cfg.clientId).toBe('from-option');
    expect(cfg.usePkce).toBe(true);
    expect(cfg.timeoutMs).toBe(3000);
  });

  it('the env var wins over the default', () => {
    const cfg = resolve({}, { OIDC_MAX_STATES: '7' });
    expect(cfg.maxStates).toBe(7);
  });

  it('an invalid env value is ignored when the option is given (env not parsed)', () => {
    const cfg = resolve({ usePkce: false }, { OIDC_USE_PKCE: 'garbage' });
    expect(cfg.usePkce).toBe(false);
  });
});

describe('resolveConfig: env parsing of booleans', () => {
  it.each([
    ['true', true], ['TRUE', true], ['1', true], ['yes', true], ['on', true], [' true ', true],
    ['false', false], ['False', false], ['0', false], ['no', false], ['off', false],
  ])('OIDC_USE_PKCE=%j -> %s', (raw, expected) => {
    expect(resolve({}, { OIDC_USE_PKCE: raw }).usePkce).toBe(expected);
  });

  it.each(['garbage', 'y', 'tru', '2'])('OIDC_USE_PKCE=%j -> error naming usePkce and OIDC_USE_PKCE', (raw) => {
    expectConfigError(() => resolve({}, { OIDC_USE_PKCE: raw }), '"usePkce"', 'OIDC_USE_PKCE', raw);
  });

  it('a non-boolean option value is rejected', () => {
    expectConfigError(() => resolve({ usePkce: 'yes' as unknown as boolean }), '"usePkce"', 'OIDC_USE_PKCE');
  });
});

describe('resolveConfig: env parsing of numbers', () => {
  it('OIDC_TIMEOUT "2.5" (seconds) -> timeoutMs 2500', () => {
    expect(resolve({}, { OIDC_TIMEOUT: '2.5' }).timeoutMs).toBe(2500);
  });

  it.each(['abc', '-1', '1e3', '0x10', '5s'])('OIDC_TIMEOUT=%j -> error naming timeout and OIDC_TIMEOUT', (raw) => {
    expectConfigError(() => resolve({}, { OIDC_TIMEOUT: raw }), '"timeout"', 'OIDC_TIMEOUT');
  });

  it('OIDC_TIMEOUT "0" is refused (a zero timeout fails every request)', () => {
    expectConfigError(() => resolve({}, { OIDC_TIMEOUT: '0' }), '"timeout"', 'OIDC_TIMEOUT');
  });

  it('OIDC_MAX_STATES must be an integer >= 1', () => {
    expect(resolve({}, { OIDC_MAX_STATES: '3' }).maxStates).toBe(3);
    expectConfigError(() => resolve({}, { OIDC_MAX_STATES: '0' }), '"maxStates"', 'OIDC_MAX_STATES');
    expectConfigError(() => resolve({}, { OIDC_MAX_STATES: '2.5' }), '"maxStates"', 'OIDC_MAX_STATES');
  });

  it('OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS is read in seconds', () => {
    expect(resolve({}, { OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: '60' }).renewIdTokenExpirySeconds).toBe(60);
  });
});

describe('resolveConfig: env parsing of lists', () => {
  it('OIDC_RP_SCOPES is space separated (mozilla-django-oidc)', () => {
    expect(resolve({}, { OIDC_RP_SCOPES: 'openid email profile' }).scopes).toEqual(['openid', 'email', 'profile']);
  });

  it('OIDC_RP_SCOPES also accepts commas and mixed separators', () => {
    expect(resolve({}, { OIDC_RP_SCOPES: 'openid,email, profile' }).scopes).toEqual(['openid', 'email', 'profile']);
  });

  it('the scopes option may be a space-separated string', () => {
    expect(resolve({ scopes: 'openid profile' }).scopes).toEqual(['openid', 'profile']);
  });

  it('scopes without "openid" are rejected (OIDC Core 3.1.2.1: scope MUST contain openid)', () => {
    expectConfigError(() => resolve({}, { OIDC_RP_SCOPES: 'email profile' }), '"scopes"', 'OIDC_RP_SCOPES', 'openid');
    expectConfigError(() => resolve({ scopes: ['email'] }), '"scopes"', 'OIDC_RP_SCOPES');
  });

  it('OIDC_REDIRECT_ALLOWED_HOSTS is a list, lower-cased', () => {
    expect(resolve({}, { OIDC_REDIRECT_ALLOWED_HOSTS: 'A.example.com, b.example.com:8443' }).redirectAllowedHosts).toEqual([
      'a.example.com',
      'b.example.com:8443',
    ]);
  });

  it('OIDC_EXEMPT_URLS is a comma separated list', () => {
    expect(resolve({}, { OIDC_EXEMPT_URLS: '/health,/metrics' }).exemptUrls).toEqual(['/health', '/metrics']);
  });
});

describe('resolveConfig: OIDC_AUTH_REQUEST_EXTRA_PARAMS', () => {
  it('parses a JSON object', () => {
    const cfg = resolve({}, { OIDC_AUTH_REQUEST_EXTRA_PARAMS: '{"prompt":"login","acr_values":"mfa"}' });
    expect(cfg.authRequestExtraParams).toEqual({ prompt: 'login', acr_values: 'mfa' });
  });

  it('parses a query string', () => {
    const cfg = resolve({}, { OIDC_AUTH_REQUEST_EXTRA_PARAMS: 'prompt=login&ui_locales=fr%20en' });
    expect(cfg.authRequestExtraParams).toEqual({ prompt: 'login', ui_locales: 'fr en' });
  });

  it('invalid JSON is an error naming the env var', () => {
    expectConfigError(() => resolve({}, { OIDC_AUTH_REQUEST_EXTRA_PARAMS: '{"prompt":' }), '"authRequestExtraParams"', 'OIDC_AUTH_REQUEST_EXTRA_PARAMS');
  });

  it('non-string values are rejected', () => {
    expectConfigError(() => resolve({}, { OIDC_AUTH_REQUEST_EXTRA_PARAMS: '{"max_age":300}' }), 'OIDC_AUTH_REQUEST_EXTRA_PARAMS');
  });

  it.each(['state', 'nonce', 'code_challenge', 'code_challenge_method', 'redirect_uri', 'client_id', 'response_type'])(
    'reserved parameter %s is rejected (set per request by the library)',
    (param) => {
      expectConfigError(() => resolve({}, { OIDC_AUTH_REQUEST_EXTRA_PARAMS: `${param}=x` }), 'OIDC_AUTH_REQUEST_EXTRA_PARAMS', `"${param}"`);
      expectConfigError(() => resolve({ authRequestExtraParams: { [param]: 'x' } }), '"authRequestExtraParams"', `"${param}"`);
    },
  );
});

describe('resolveConfig: provider endpoints', () => {
  const explicit = {
    issuer: undefined,
    authorizationEndpoint: 'https://op.example.com/authorize',
    tokenEndpoint: 'https://op.example.com/token',
    jwksUri: 'https://op.example.com/jwks',
  };

  it('no issuer and no endpoints -> error naming authorizationEndpoint and OIDC_OP_AUTHORIZATION_ENDPOINT', () => {
    expectConfigError(() => resolve({ issuer: undefined }), '"authorizationEndpoint"', 'OIDC_OP_AUTHORIZATION_ENDPOINT');
  });

  it('no issuer and no token endpoint -> error naming tokenEndpoint and OIDC_OP_TOKEN_ENDPOINT', () => {
    expectConfigError(() => resolve({ ...explicit, tokenEndpoint: undefined }), '"tokenEndpoint"', 'OIDC_OP_TOKEN_ENDPOINT');
  });

  it('explicit endpoints without issuer work (mozilla-django-oidc style)', () => {
    const cfg = resolve(explicit);
    expect(cfg.issuer).toBeUndefined();
    expect(cfg.endpoints.authorization).toBe('https://op.example.com/authorize');
    expect(cfg.endpoints.token).toBe('https://op.example.com/token');
    expect(cfg.endpoints.jwks).toBe('https://op.example.com/jwks');
  });

  it('explicit endpoints can come from the env (OIDC_OP_*_ENDPOINT)', () => {
    const cfg = resolve({ issuer: undefined }, {
      OIDC_OP_AUTHORIZATION_ENDPOINT: 'https://op.example.com/a',
      OIDC_OP_TOKEN_ENDPOINT: 'https://op.example.com/t',
      OIDC_OP_USER_ENDPOINT: 'https://op.example.com/u',
      OIDC_OP_JWKS_ENDPOINT: 'https://op.example.com/k',
      OIDC_OP_TOKEN_REVOKE_ENDPOINT: 'https://op.example.com/r',
      OIDC_OP_LOGOUT_ENDPOINT: 'https://op.example.com/l',
    });
    expect(cfg.endpoints).toEqual({
      authorization: 'https://op.example.com/a',
      token: 'https://op.example.com/t',
      userinfo: 'https://op.example.com/u',
      jwks: 'https://op.example.com/k',
      revocation: 'https://op.example.com/r',
      endSession: 'https://op.example.com/l',
    });
  });

  it('explicit endpoints without issuer, jwksUri or idpSignKey -> error (no way to verify ID tokens)', () => {
    expectConfigError(() => resolve({ ...explicit, jwksUri: undefined }), '"jwksUri"', 'OIDC_OP_JWKS_ENDPOINT', 'OIDC_RP_IDP_SIGN_KEY');
  });

  it('explicit endpoints with idpSignKey and no jwksUri are accepted', () => {
    expect(resolve({ ...explicit, jwksUri: undefined, idpSignKey: '{"kty":"RSA"}' }).idpSignKey).toBe('{"kty":"RSA"}');
  });

  it('explicit endpoints with signAlgo HS256 need no key source (client secret is the key)', () => {
    expect(resolve({ ...explicit, jwksUri: undefined, signAlgo: 'HS256' }).signAlgo).toBe('HS256');
  });

  it('discoveryUrl (OIDC_OP_DISCOVERY_ENDPOINT) from the option or the env, undefined by default', () => {
    const url = 'https://op.example.com/o/openid-configuration';
    expect(resolve({}).discoveryUrl).toBeUndefined();
    expect(resolve({ discoveryUrl: url }).discoveryUrl).toBe(url);
    expect(resolve({}, { OIDC_OP_DISCOVERY_ENDPOINT: url }).discoveryUrl).toBe(url);
  });

  it('discoveryUrl without issuer -> error (the document\'s issuer must equal the configured one)', () => {
    expectConfigError(() => resolve({ ...explicit, discoveryUrl: 'https://op.example.com/o/openid-configuration' }), '"discoveryUrl"', 'OIDC_OP_DISCOVERY_ENDPOINT', 'OIDC_OP_ISSUER');
  });

  it('discoveryUrl must be https, http only on loopback', () => {
    expectConfigError(() => resolve({ discoveryUrl: 'http://op.example.com/conf' }), '"discoveryUrl"', 'OIDC_OP_DISCOVERY_ENDPOINT', 'https');
    expectConfigError(() => resolve({ discoveryUrl: 'not a url' }), '"discoveryUrl"', 'OIDC_OP_DISCOVERY_ENDPOINT');
    expect(resolve({ discoveryUrl: 'http://127.0.0.1:4000/conf' }).discoveryUrl).toBe('http://127.0.0.1:4000/conf');
  });
});

describe('resolveConfig: https required for provider URLs, http only for loopback', () => {
  it.each(['http://127.0.0.1:4000', 'http://localhost:4000', 'http://127.1.2.3', 'http://[::1]:4000'])('http issuer on loopback %s is allowed', (issuer) => {
    expect(resolve({ issuer }).issuer).toBe(issuer);
  });

  it.each(['http://op.example.com', 'http://10.0.0.1', 'http://localhost.evil.com', 'http://127.0.0.1.evil.com'])(
    'http issuer %s is rejected (https required)',
    (issuer) => {
      expectConfigError(() => resolve({ issuer }), '"issuer"', 'OIDC_OP_ISSUER', 'https');
    },
  );

  it('an http endpoint on a non-loopback host is rejected naming the endpoint option', () => {
    expectConfigError(() => resolve({ tokenEndpoint: 'http://op.example.com/token' }), '"tokenEndpoint"', 'OIDC_OP_TOKEN_ENDPOINT');
  });

  it('a non-URL issuer is rejected', () => {
    expectConfigError(() => resolve({ issuer: undefined }, { OIDC_OP_ISSUER: 'op.example.com' }), '"issuer"', 'OIDC_OP_ISSUER');
  });
});

describe('resolveConfig: signAlgo (OIDC Core 3.1.3.7 step 7)', () => {
  it.each(['RS256', 'PS256', 'ES256', 'EdDSA', 'HS256'])('supported %s is accepted', (alg) => {
    expect(resolve({ signAlgo: alg }).signAlgo).toBe(alg);
  });

  it('unsupported signAlgo is rejected', () => {
    expectConfigError(() => resolve({ signAlgo: 'RS1' }), '"signAlgo"', 'OIDC_RP_SIGN_ALGO', 'RS1');
    expectConfigError(() => resolve({}, { OIDC_RP_SIGN_ALGO: 'rs256' }), '"signAlgo"', 'OIDC_RP_SIGN_ALGO');
  });

  it('"none" requires allowUnsecuredJwt', () => {
    expectConfigError(() => resolve({ signAlgo: 'none' }), '"signAlgo"', 'OIDC_RP_SIGN_ALGO', 'OIDC_ALLOW_UNSECURED_JWT');
  });

  it('"none" with allowUnsecuredJwt is accepted', () => {
    const cfg = resolve({}, { OIDC_RP_SIGN_ALGO: 'none', OIDC_ALLOW_UNSECURED_JWT: 'true' });
    expect(cfg.signAlgo).toBe('none');
    expect(cfg.allowUnsecuredJwt).toBe(true);
  });
});

describe('resolveConfig: routes and redirectUri', () => {
  it('routes default to /oidc/authenticate, /oidc/callback, /oidc/logout', () => {
    expect(resolve().routes).toMatchObject({ login: '/oidc/authenticate', callback: '/oidc/callback', logout: '/oidc/logout' });
    expect(resolve().routes).toMatchObject({ backchannelLogout: '/oidc/backchannel-logout', frontchannelLogout: '/oidc/frontchannel-logout' });
  });

  it('route env vars OIDC_ROUTE_LOGIN / OIDC_ROUTE_CALLBACK / OIDC_ROUTE_LOGOUT', () => {
    const cfg = resolve({}, { OIDC_ROUTE_LOGIN: '/auth/login', OIDC_ROUTE_CALLBACK: '/auth/cb', OIDC_ROUTE_LOGOUT: '/auth/logout' });
    expect(cfg.routes).toMatchObject({ login: '/auth/login', callback: '/auth/cb', logout: '/auth/logout' });
    expect(cfg.redirectUri).toBe('https://app.example.com/auth/cb');
  });

  it('the routes option wins over the route env vars, per route', () => {
    const cfg = resolve({ routes: { callback: '/cb' } }, { OIDC_ROUTE_CALLBACK: '/env-cb', OIDC_ROUTE_LOGIN: '/env-login' });
    expect(cfg.routes).toMatchObject({ login: '/env-login', callback: '/cb', logout: '/oidc/logout' });
  });

  it.each(['auth/login', '//evil.com/cb'])('a route that is not a local path (%s) is rejected', (p) => {
    expectConfigError(() => resolve({ routes: { login: p } }), '"routes.login"', 'OIDC_ROUTE_LOGIN');
  });

  it.each([
    ['https://app.example.com', 'https://app.example.com/oidc/callback'],
    ['https://app.example.com/', 'https://app.example.com/oidc/callback'],
    ['https://app.example.com/sub', 'https://app.example.com/sub/oidc/callback'],
    ['https://app.example.com/sub/', 'https://app.example.com/sub/oidc/callback'],
    ['https://app.example.com:8443/sub//', 'https://app.example.com:8443/sub/oidc/callback'],
    ['https://app.example.com/sub/?x=1#f', 'https://app.example.com/sub/oidc/callback'],
  ])('redirectUri = baseUrl + routes.callback: %s -> %s', (baseUrl, redirectUri) => {
    expect(resolve({ baseUrl }).redirectUri).toBe(redirectUri);
  });

  it('baseUrl keeps the path prefix without a trailing slash', () => {
    expect(resolve({ baseUrl: 'https://app.example.com/sub/' }).baseUrl).toBe('https://app.example.com/sub');
  });
});

describe('resolveConfig: defaults', () => {
  const cfg = resolve();
  it.each([
    ['scopes', ['openid', 'email']],
    ['storeAccessToken', true],
    ['storeIdToken', false],
    ['storeRefreshToken', true],
    ['useNonce', true],
    ['usePkce', true],
    ['createUser', true],
    ['maxStates', 50],
    ['stateTtlSeconds', 600],
    ['timeoutMs', 5000],
    ['renewIdTokenExpirySeconds', 900],
    ['refreshLeewaySeconds', 30],
    ['clockToleranceSeconds', 60],
    ['maxResponseBytes', 1024 * 1024],
    ['verifySsl', true],
    ['tokenUseBasicAuth', true],
    ['allowUnsecuredJwt', false],
    ['fetchUserinfo', true],
    ['allowLogoutGetMethod', false],
    ['revokeTokensOnLogout', true],
    ['providerLogout', true],
    ['loginRedirectUrl', '/'],
    ['loginRedirectUrlFailure', '/'],
    ['logoutRedirectUrl', '/'],
    ['exemptUrls', []],
    ['redirectAllowedHosts', []],
    ['authRequestExtraParams', {}],
    ['signAlgo', undefined],
    ['proxy', undefined],
  ] as const)('%s defaults to %j', (key, value) => {
    expect(cfg[key as keyof typeof cfg]).toEqual(value);
  });

  it('hooks default to an empty object and a logger is always present', () => {
    const c = resolveConfig({ ...BASE, logger: undefined, env: {} });
    expect(c.hooks).toEqual({});
    expect(typeof c.logger.warn).toBe('function');
  });
});
