/**
 * src/config.ts: options over env vars over defaults, every error naming option AND env var.
 * Every test passes `env` explicitly so process.env never leaks in.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, it, expect, expectTypeOf } from 'vitest';
import { resolveConfig, type ResolvedConfig } from '../../src/config.js';
import { OPTION_SPECS, placeOf, type OptionName, type OptionSpec } from '../../src/config/options.js';
import { redisClientKind } from '../../src/config/validators.js';
import { createOidcAuth } from '../../src/index.js';
import { isOidcError, type OidcError } from '../../src/errors.js';
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
function expectConfigError(fn: () => unknown, ...fragments: string[]): OidcError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected resolveConfig to throw').toBeDefined();
  expect(isOidcError(caught)).toBe(true);
  const err = caught as OidcError;
  expect(err.code).toBe('OIDC_CONFIG_INVALID');
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

/** Options as plain JavaScript (or a cast) can pass them: keys the type does not know. */
const untyped = (o: Record<string, unknown>) => o as OidcAuthOptions;

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

  const entries = Object.entries(OPTION_SPECS) as Array<[OptionName, OptionSpec]>;
  /** The resolved value of one option, wherever its entry places it. */
  const placed = (cfg: ResolvedConfig, name: OptionName): unknown => {
    const [key, sub] = placeOf(name);
    const top = (cfg as unknown as Record<string, unknown>)[key];
    return sub === undefined ? top : (top as Record<string, unknown>)[sub];
  };

  it('places every option at its own spot of the resolved configuration', () => {
    const places = entries.map(([name]) => placeOf(name).join('.'));
    expect(new Set(places).size).toBe(places.length);
  });

  it('every entry has a doc line, and at most one of a default, required or defaultFrom', () => {
    for (const [name, spec] of entries) {
      expect(spec.doc.trim(), name).not.toBe('');
      expect(['default' in spec, spec.required === true, spec.defaultFrom !== undefined].filter(Boolean).length, name).toBeLessThanOrEqual(1);
      if (spec.defaultFrom !== undefined) expect(Object.keys(OPTION_SPECS), name).toContain(spec.defaultFrom);
    }
  });

  it.each(entries.filter(([, spec]) => 'default' in spec))(
    '%s: neither option nor env var set -> its default, decoded as a given value would be',
    (name, spec) => {
      const expected = spec.kind.decode(spec.default, (problem) => expect.fail(`${name}'s default is refused: ${problem}`));
      expect(placed(resolve(), name)).toEqual(expected);
    },
  );

  it.each(entries.filter(([, spec]) => 'default' in spec && typeof spec.default === 'string'))(
    '%s: given empty -> refused as required (a default cannot be emptied)',
    (name, spec) => {
      expectConfigError(() => resolve({}, { [spec.env]: '' }), `option "${name}" (env ${spec.env}) is required`);
    },
  );

  it('DPoP: allowed by default, required / off from the env; a nonce secret under 32 characters is refused', () => {
    expect(resolve().bearer).toMatchObject({ dpopMode: 'allowed', dpopProofMaxAgeSeconds: 60, dpopNonce: false, dpopNonceSecret: undefined });
    expect(resolve({}, { OIDC_BEARER_DPOP: 'required', OIDC_DPOP_NONCE: 'true' }).bearer).toMatchObject({ dpopMode: 'required', dpopNonce: true });
    expectConfigError(() => resolve({}, { OIDC_BEARER_DPOP: 'on' }), 'option "bearerDpop" (env OIDC_BEARER_DPOP) must be allowed, required or off');
    expectConfigError(() => resolve({ dpopNonceSecret: 'short' }), 'option "dpopNonceSecret" (env OIDC_DPOP_NONCE_SECRET) must be at least 32 characters');
    expect(resolve({ dpopNonceSecret: 'x'.repeat(32) }).bearer.dpopNonceSecret).toBe('x'.repeat(32));
    // Nonces are derived from a secret: without a client secret, dpopNonceSecret must be given.
    expectConfigError(
      () => resolve({ clientSecret: undefined, clientAuthMethod: 'none', dpopNonce: true }),
      'option "dpopNonce" (env OIDC_DPOP_NONCE) needs "dpopNonceSecret" (env OIDC_DPOP_NONCE_SECRET)',
    );
  });

  it('bearerAudience defaults to the client id (defaultFrom)', () => {
    expect(resolve().bearer.audience).toBe('client-1');
    expect(resolve({}, { OIDC_BEARER_AUDIENCE: 'api://x' }).bearer.audience).toBe('api://x');
  });

  it.each(entries)('%s: a value of no accepted type is refused, naming the option and its env var', (name, spec) => {
    const wrong = Symbol('wrong');
    const options = name.startsWith('routes.') ? { routes: { [name.slice('routes.'.length)]: wrong } } : { [name]: wrong };
    const err = expectConfigError(() => resolve(untyped(options)), `option "${name}" (env ${spec.env}) must be`);
    expect(err.problems?.filter((p) => p.startsWith(`option "${name}" `))).toHaveLength(1);
  });

  it('the resolved type is derived from the table: shapes, presence and kinds', () => {
    const cfg = resolve();
    expectTypeOf(cfg.clientId).toEqualTypeOf<string>();
    expectTypeOf(cfg.issuer).toEqualTypeOf<string | undefined>();
    expectTypeOf(cfg.timeoutMs).toEqualTypeOf<number>();
    expectTypeOf(cfg.scopes).toEqualTypeOf<string[]>();
    expectTypeOf(cfg.exemptUrls).toEqualTypeOf<Array<string | RegExp>>();
    expectTypeOf(cfg.routes).toEqualTypeOf<{ login: string; callback: string; logout: string; backchannelLogout: string; frontchannelLogout: string }>();
    expectTypeOf(cfg.bearer).toEqualTypeOf<{
      audience: string;
      acceptJwtTyp: boolean;
      opaqueTokens: 'auto' | 'introspection' | 'userinfo' | 'reject';
      cacheMaxEntries: number;
      cacheTtlSeconds: number;
      dpopMode: 'allowed' | 'required' | 'off';
      dpopProofMaxAgeSeconds: number;
      dpopNonce: boolean;
      dpopNonceSecret: string | undefined;
    }>();
    expectTypeOf(cfg.dpop).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(cfg.endpoints.introspection).toEqualTypeOf<string | undefined>();
    expectTypeOf(cfg.discovery).toEqualTypeOf<{ url: string; issuerSetting: string } | { url: undefined; reason: string }>();
    expect(Object.keys(cfg.endpoints)).toHaveLength(7);
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
    const cfg = resolve(
      { clientId: 'from-option', usePkce: true, timeout: 3 },
      {
        OIDC_RP_CLIENT_ID: 'from-env',
        OIDC_USE_PKCE: 'false',
        OIDC_TIMEOUT: '9',
      },
    );
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
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    [' true ', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['no', false],
    ['off', false],
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

describe('resolveConfig: fetchUserinfo is true, false or auto', () => {
  it.each([
    ['true', true],
    ['0', false],
    ['auto', 'auto'],
    ['AUTO', 'auto'],
  ])('OIDC_FETCH_USERINFO=%j -> %j', (raw, expected) => {
    expect(resolve({}, { OIDC_FETCH_USERINFO: raw }).fetchUserinfo).toBe(expected);
  });

  it('in code: true, false or "auto"', () => {
    expect(resolve({ fetchUserinfo: 'auto' }).fetchUserinfo).toBe('auto');
    expect(resolve({ fetchUserinfo: false }).fetchUserinfo).toBe(false);
  });

  it('anything else names the option, its env var and the three values', () => {
    expectConfigError(() => resolve({}, { OIDC_FETCH_USERINFO: 'sometimes' }), '"fetchUserinfo"', 'OIDC_FETCH_USERINFO', 'true, false or auto', 'sometimes');
    expectConfigError(() => resolve({ fetchUserinfo: 'yes' as unknown as boolean }), '"fetchUserinfo"', 'true, false or "auto"');
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

  it.each([
    'state',
    'nonce',
    'code_challenge',
    'code_challenge_method',
    'redirect_uri',
    'client_id',
    'response_type',
    'dpop_jkt',
    'request_uri',
    'response_mode',
  ])('reserved parameter %s is rejected (set per request by the library; response_mode: the callback is GET only)', (param) => {
    expectConfigError(() => resolve({}, { OIDC_AUTH_REQUEST_EXTRA_PARAMS: `${param}=x` }), 'OIDC_AUTH_REQUEST_EXTRA_PARAMS', `"${param}"`);
    expectConfigError(() => resolve({ authRequestExtraParams: { [param]: 'x' } }), '"authRequestExtraParams"', `"${param}"`);
  });
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
    const cfg = resolve(
      { issuer: undefined },
      {
        OIDC_OP_AUTHORIZATION_ENDPOINT: 'https://op.example.com/a',
        OIDC_OP_TOKEN_ENDPOINT: 'https://op.example.com/t',
        OIDC_OP_USER_ENDPOINT: 'https://op.example.com/u',
        OIDC_OP_JWKS_ENDPOINT: 'https://op.example.com/k',
        OIDC_OP_TOKEN_REVOKE_ENDPOINT: 'https://op.example.com/r',
        OIDC_OP_LOGOUT_ENDPOINT: 'https://op.example.com/l',
      },
    );
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
    const jwk = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }));
    expect(resolve({ ...explicit, jwksUri: undefined, idpSignKey: jwk }).idpSignKey).toBe(jwk);
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

  it("discoveryUrl without issuer -> error (the document's issuer must equal the configured one)", () => {
    expectConfigError(
      () => resolve({ ...explicit, discoveryUrl: 'https://op.example.com/o/openid-configuration' }),
      '"discoveryUrl"',
      'OIDC_OP_DISCOVERY_ENDPOINT',
      'OIDC_OP_ISSUER',
    );
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

describe('resolveConfig: unknown options are rejected', () => {
  it('every OPTION_SPECS key is a known option (top level, or under routes)', () => {
    for (const name of Object.keys(OPTION_SPECS)) {
      const opts = name.startsWith('routes.') ? { routes: { [name.slice('routes.'.length)]: undefined } } : { [name]: undefined };
      try {
        resolve(untyped(opts)); // a required option given as undefined is missing, not unknown
      } catch (err) {
        expect(
          (err as OidcError).problems?.filter((p) => p.startsWith('unknown')),
          name,
        ).toEqual([]);
      }
    }
  });

  it.each([
    ['authRequired', true, ['requireAuth()', 'app.use(oidc.requireAuth())']],
    ['idpLogout', true, ['"providerLogout" (env OIDC_OP_LOGOUT)']],
    ['auth0Logout', true, ['"providerLogout" (env OIDC_OP_LOGOUT)']],
    ['afterCallback', () => ({}), ['hooks', 'createUser', 'updateUser']],
    ['authorizationParams', { scope: 'openid profile' }, ['"authRequestExtraParams" (env OIDC_AUTH_REQUEST_EXTRA_PARAMS)', '"scopes" (env OIDC_RP_SCOPES)']],
    ['issuerBaseURL', 'https://op.example.com', ['"issuer" (env OIDC_OP_ISSUER)']],
    ['clientID', 'x', ['"clientId" (env OIDC_RP_CLIENT_ID)']],
    ['baseURL', 'https://app.example.com', ['"baseUrl" (env OIDC_RP_BASE_URL)']],
    ['secret', 's', ['express-session', 'session({ secret']],
    ['session', { rolling: true }, ['express-session']],
    ['attemptSilentLogin', true, ['prompt=none', '"renewIdTokenExpirySeconds"']],
    ['idTokenSigningAlg', 'RS256', ['"signAlgo" (env OIDC_RP_SIGN_ALGO)']],
    ['clockTolerance', 60, ['"clockToleranceSeconds"']],
    ['httpTimeout', 5000, ['"timeout" (env OIDC_TIMEOUT)', 'seconds']],
    ['errorOnRequiredAuth', true, ['401']],
    ['getLoginState', () => ({}), ['next=']],
    ['logoutParams', { foo: 'bar' }, ['hooks.getLogoutUrl', 'endSessionUrl']],
    ['customFetch', 'a fetch function', ['"proxy" (env OIDC_PROXY)', '"clientCertificate"']],
    ['useMtls', true, ['tls_client_auth', '"clientKey" (env OIDC_RP_CLIENT_KEY)']],
    ['tokenEndpointParams', { a: 'b' }, ['not supported']],
    ['requestObjectSigningKey', 'k', ['RFC 9101']],
  ] as const)('express-openid-connect\'s "%s" gets the equivalent setting', (key, value, hints) => {
    const err = expectConfigError(() => resolve(untyped({ [key]: value })), `"${key}"`, 'express-openid-connect', ...hints);
    expect(err.problems).toHaveLength(1);
  });

  it('routes.postLogoutRedirect (express-openid-connect) points to logoutRedirectUrl', () => {
    expectConfigError(
      () => resolve(untyped({ routes: { postLogoutRedirect: '/bye' } })),
      '"routes.postLogoutRedirect"',
      '"logoutRedirectUrl" (env LOGOUT_REDIRECT_URL)',
    );
  });

  it.each([
    ['clientSecrt', '"clientSecret" (env OIDC_RP_CLIENT_SECRET)'],
    ['scope', '"scopes" (env OIDC_RP_SCOPES)'],
    ['usePKCE', '"usePkce" (env OIDC_USE_PKCE)'],
    ['exemptURLs', '"exemptUrls" (env OIDC_EXEMPT_URLS)'],
    ['redirectAllowedHost', '"redirectAllowedHosts" (env OIDC_REDIRECT_ALLOWED_HOSTS)'],
    ['hook', '"hooks"'],
  ])('a typo (%s) gets a "did you mean"', (key, suggestion) => {
    expectConfigError(() => resolve(untyped({ [key]: 'x' })), `unknown option "${key}"`, `did you mean ${suggestion}`);
  });

  it('a key like nothing known is rejected without a guess', () => {
    const err = expectConfigError(() => resolve(untyped({ banana: 1 })), 'unknown option "banana"');
    expect(err.message).not.toContain('did you mean');
  });

  it('an env var name given as an option key names the option', () => {
    expectConfigError(() => resolve(untyped({ OIDC_RP_CLIENT_ID: 'x' })), '"OIDC_RP_CLIENT_ID"', 'environment variable of option "clientId"');
  });

  it('a route given as a dotted key at the top level goes under routes', () => {
    expectConfigError(() => resolve(untyped({ 'routes.login': '/in' })), '"routes.login"', 'routes: { login');
  });

  it.each(['filterUsersByClaims', 'verifyClaims', 'updateUser', 'getLogoutUrl', 'onRefreshError'])(
    'the hook %s at the top level: hooks go under hooks: { ... }',
    (hook) => {
      expectConfigError(() => resolve(untyped({ [hook]: () => undefined })), `"${hook}"`, `hooks: { ${hook}`);
    },
  );

  it('a typo of a hook at the top level suggests it under hooks', () => {
    expectConfigError(() => resolve(untyped({ verifyClaim: () => true })), '"verifyClaim"', 'hooks: { verifyClaims');
  });

  it('a function for the boolean createUser: one problem, saying the hook goes under hooks', () => {
    const err = expectConfigError(() => resolve(untyped({ createUser: () => ({}) })), '"createUser" (env OIDC_CREATE_USER)', 'hooks: { createUser');
    expect(err.problems).toHaveLength(1);
  });

  it('unknown keys under hooks are rejected, with a did-you-mean', () => {
    expectConfigError(() => resolve(untyped({ hooks: { verifyClaim: () => true } })), '"hooks.verifyClaim"', 'did you mean "verifyClaims"');
    expectConfigError(() => resolve(untyped({ hooks: { afterCallback: () => ({}) } })), '"hooks.afterCallback"', 'express-openid-connect');
    expectConfigError(() => resolve(untyped({ hooks: { onLogin: () => ({}) } })), '"hooks.onLogin"');
  });

  it('a hook that is not a function is rejected; hooks must be an object', () => {
    expectConfigError(() => resolve(untyped({ hooks: { createUser: true } })), '"hooks.createUser"', 'function', '"createUser" (env OIDC_CREATE_USER)');
    expectConfigError(() => resolve(untyped({ hooks: () => ({}) })), '"hooks"', 'object');
  });

  it('every hook name is accepted under hooks', () => {
    const hooks = Object.fromEntries(
      [
        'verifyClaims',
        'filterUsersByClaims',
        'createUser',
        'updateUser',
        'getLogoutUrl',
        'serializeUser',
        'deserializeUser',
        'onTokensRefreshed',
        'onRefreshError',
      ].map((h) => [h, () => undefined]),
    );
    expect(Object.keys(resolve(untyped({ hooks })).hooks)).toHaveLength(9);
  });

  it('unknown keys under routes are rejected, with a did-you-mean', () => {
    expectConfigError(() => resolve(untyped({ routes: { callbak: '/cb' } })), '"routes.callbak"', 'did you mean "routes.callback" (env OIDC_ROUTE_CALLBACK)');
    expectConfigError(() => resolve(untyped({ routes: { home: '/' } })), '"routes.home"');
    expectConfigError(() => resolve(untyped({ routes: '/oidc' })), '"routes"', 'object');
  });

  it('a logger without the four methods is rejected', () => {
    expectConfigError(() => resolve(untyped({ logger: { info() {} } })), '"logger"', 'debug, info, warn, error');
  });
});

describe('resolveConfig: idpSignKey (OIDC_RP_IDP_SIGN_KEY) is parsed at start-up', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const publicJwk = ec.publicKey.export({ format: 'jwk' });

  it.each([
    ['a PEM SPKI public key', publicPem],
    ['an RSA PEM SPKI public key', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string],
    ['a public JWK', JSON.stringify(publicJwk)],
    ['a JWKS', JSON.stringify({ keys: [publicJwk, rsa.publicKey.export({ format: 'jwk' })] })],
  ])('%s is accepted', (_name, key) => {
    expect(resolve({ idpSignKey: key }).idpSignKey).toBe(key);
    expect(resolve({}, { OIDC_RP_IDP_SIGN_KEY: key }).idpSignKey).toBe(key.trim());
  });

  it.each([
    ['garbage', 'garbage', 'PEM'],
    ['a PEM with a broken body', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'not a valid'],
    ['invalid JSON', '{"kty":', 'JSON'],
    ['a JWK missing its parameters', '{"kty":"RSA"}', 'not a valid'],
    ['an empty JWKS', '{"keys":[]}', 'no keys'],
    ['a certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'openssl x509 -pubkey'],
    ['a PKCS#1 RSA public key', rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string, 'SPKI'],
  ])('%s is rejected naming the option and its env var', (_name, key, why) => {
    expectConfigError(() => resolve({ idpSignKey: key }), '"idpSignKey"', 'OIDC_RP_IDP_SIGN_KEY', why);
    expectConfigError(() => resolve({}, { OIDC_RP_IDP_SIGN_KEY: key }), '"idpSignKey"', 'OIDC_RP_IDP_SIGN_KEY', why);
  });

  it.each([
    ['a private PEM key', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string],
    ['a private RSA PEM key (PKCS#1)', rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string],
    ['a private JWK', JSON.stringify(ec.privateKey.export({ format: 'jwk' }))],
    ['a JWKS holding a private key', JSON.stringify({ keys: [publicJwk, ec.privateKey.export({ format: 'jwk' })] })],
  ])("%s is rejected: the provider's public key is wanted", (_name, key) => {
    expectConfigError(() => resolve({ idpSignKey: key }), '"idpSignKey"', 'OIDC_RP_IDP_SIGN_KEY', 'private key', 'public key');
  });

  it('a symmetric JWK (kty oct) is rejected: HS* tokens are verified with the client secret', () => {
    expectConfigError(() => resolve({ idpSignKey: JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }) }), '"idpSignKey"', 'symmetric', '"clientSecret"');
  });
});

describe('resolveConfig: redirectAllowedHosts entries are hosts', () => {
  it.each(['a.example.com', 'B.example.com:8443', 'localhost:4000', '127.0.0.1', '[::1]:3000'])('%s is accepted', (host) => {
    expect(resolve({ redirectAllowedHosts: [host] }).redirectAllowedHosts).toEqual([host.toLowerCase()]);
  });

  it.each([
    ['https://x.example.com', 'use the host x.example.com, not a URL'],
    ['https://x.example.com:8443/path', 'use the host x.example.com:8443, not a URL'],
    ['x.example.com/path', 'host'],
    ['*.example.com', 'host'],
    ['x.example.com:99999', 'host'],
    ['user@x.example.com', 'host'],
  ])('%s is rejected', (entry, why) => {
    expectConfigError(
      () => resolve({}, { OIDC_REDIRECT_ALLOWED_HOSTS: `ok.example.com,${entry}` }),
      '"redirectAllowedHosts"',
      'OIDC_REDIRECT_ALLOWED_HOSTS',
      `"${entry}"`,
      why,
    );
  });
});

describe('resolveConfig: routes are distinct paths', () => {
  it.each(['/a?x=1', '/a#f', '/a b', '/users/:id', '/a/*', '/a/'])('%s is not a plain path and is rejected', (p) => {
    expectConfigError(() => resolve({ routes: { login: p } }), '"routes.login"', 'OIDC_ROUTE_LOGIN');
  });

  it('a callback route equal to the login route is rejected naming both options', () => {
    expectConfigError(
      () => resolve({ routes: { callback: '/oidc/authenticate' } }),
      '"routes.login" (env OIDC_ROUTE_LOGIN)',
      '"routes.callback" (env OIDC_ROUTE_CALLBACK)',
    );
  });

  it('equality is case-insensitive, as route matching is, and also applies to env-given routes', () => {
    expectConfigError(() => resolve({}, { OIDC_ROUTE_LOGOUT: '/OIDC/Callback' }), '"routes.callback"', '"routes.logout"');
  });
});

describe('resolveConfig: exemptUrls entries are checked at start-up', () => {
  it('an entry that is neither a path, a RegExp nor a route name is rejected', () => {
    expectConfigError(() => resolve({ exemptUrls: ['/ok', 'health'] }), '"exemptUrls"', 'OIDC_EXEMPT_URLS', '"health"');
    expectConfigError(() => resolve({}, { OIDC_EXEMPT_URLS: '/ok,health' }), '"exemptUrls"', 'OIDC_EXEMPT_URLS', '"health"');
  });

  it('a RegExp with the g or y flag is rejected (RegExp#test would alternate between matching and not)', () => {
    expectConfigError(() => resolve({ exemptUrls: [/^\/static\//g] }), '"exemptUrls"', 'g or y flag');
    expectConfigError(() => resolve({ exemptUrls: [/^\/static\//y] }), '"exemptUrls"', 'g or y flag');
  });

  it('paths, RegExps and route names are accepted', () => {
    expect(resolve({ exemptUrls: ['/health', /^\/static\//, 'logout'] }).exemptUrls).toHaveLength(3);
  });
});

describe('resolveConfig: the redis option (code only) is a node-redis or ioredis client', () => {
  const fn = async () => 'OK';

  it.each([
    ['an empty object', {}],
    ['a URL string', 'redis://localhost:6379'],
    ['a function (Function.prototype.call is no ioredis call)', () => undefined],
    ['null', null],
    ["a client factory's options", { url: 'redis://localhost:6379' }],
  ])('%s is refused, naming the option as code only', (_what, value) => {
    const err = expectConfigError(() => resolve(untyped({ redis: value })), 'option "redis" (code only) must be a node-redis client', 'ioredis');
    expect(err.problems).toHaveLength(1);
  });

  it('node-redis (sendCommand) and ioredis (call) are accepted and kept as given', () => {
    const nodeRedis = { sendCommand: fn };
    const ioredis = { call: fn, sendCommand: fn };
    expect(resolve({ redis: nodeRedis }).redis).toBe(nodeRedis);
    expect(resolve({ redis: ioredis }).redis).toBe(ioredis);
    expect(resolve().redis).toBeUndefined();
  });

  it('tells the clients apart by shape: call first, as ioredis also has a sendCommand of its own', () => {
    expect(redisClientKind({ call: fn, sendCommand: fn })).toBe('ioredis');
    expect(redisClientKind({ sendCommand: fn })).toBe('node-redis');
    // node-redis's cluster (createCluster) and Sentinel (createSentinel) clients take other sendCommand arguments.
    expect(redisClientKind({ sendCommand: fn, masters: [] })).toBe('node-redis-cluster');
    expect(redisClientKind({ sendCommand: fn, getMasterNode: fn })).toBe('node-redis-sentinel');
    expect(redisClientKind({ call: 'x' })).toBeUndefined();
    expect(redisClientKind(undefined)).toBeUndefined();
  });
});

describe('resolveConfig: every invalid setting is reported at once', () => {
  it('one OIDC_CONFIG_INVALID lists each problem, in the message and in err.problems', () => {
    const err = expectConfigError(
      () =>
        resolveConfig(
          untyped({
            ...BASE,
            clientSecret: undefined,
            authRequired: true,
            routes: { callback: '/oidc/authenticate' },
            env: {
              OIDC_RP_IDP_SIGN_KEY: 'garbage',
              OIDC_REDIRECT_ALLOWED_HOSTS: 'https://x.example.com',
              OIDC_USE_PKCE: 'maybe',
              OIDC_TIMEOUT: '0',
            },
          }),
        ),
      '"clientSecret"',
      '"authRequired"',
      '"routes.callback"',
      'OIDC_RP_IDP_SIGN_KEY',
      'use the host x.example.com',
      'OIDC_USE_PKCE',
      'OIDC_TIMEOUT',
      '7 invalid settings',
    );
    expect(err.problems).toHaveLength(7);
    for (const p of err.problems ?? []) expect(err.message).toContain(p);
  });

  it('createOidcAuth() throws the same error at start-up', () => {
    const err = expectConfigError(() => createOidcAuth(untyped({ ...BASE, env: {}, authRequired: true, idpLogout: false })), '"authRequired"', '"idpLogout"');
    expect(err.problems).toHaveLength(2);
  });

  it('a single problem keeps the one-line message, and err.problems has it', () => {
    const err = expectConfigError(() => resolve({ clientId: undefined }), 'express-oidc-rp: option "clientId" (env OIDC_RP_CLIENT_ID) is required');
    expect(err.problems).toEqual(['option "clientId" (env OIDC_RP_CLIENT_ID) is required']);
  });
});
