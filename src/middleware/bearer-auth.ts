/**
 * bearerAuth(): authenticate API requests by an OAuth 2.0 bearer access token (RFC 6750), as
 * mozilla-django-oidc's DRF `OIDCAuthentication` does, with JWT access tokens (RFC 9068) checked
 * locally and opaque ones at the provider (RFC 7662 introspection, or the userinfo endpoint).
 *
 * - Only the Authorization header (RFC 6750 2.1). A token in the query string is refused with 400
 *   invalid_request: URLs end up in logs, history and Referer headers (RFC 6750 5.3; RFC 9700
 *   4.3.2 forbids clients to send them there).
 * - No credentials (or another scheme, e.g. Basic) -> 401 with a bare `WWW-Authenticate: Bearer
 *   realm=...`, no error attribute (RFC 6750 3.1); with `optional`, the request goes on
 *   unauthenticated.
 * - Invalid token -> 401 error="invalid_token"; missing scopes -> 403 error="insufficient_scope"
 *   with scope="..." (RFC 6750 3, 3.1).
 * - The provider cannot answer (JWKS, introspection, userinfo, discovery: network, timeout, 5xx)
 *   -> 503 with Retry-After: a valid token is never reported invalid because the provider is down.
 * - Success: the user goes through the same hooks as a login (users.ts resolveUser) and req.user /
 *   req.oidc are set for this request only. No express-session needed; nothing is written to a
 *   session.
 *
 * The default verifyClaims (an `email` claim when the `email` scope is configured) is not applied
 * to bearer tokens: access tokens rarely carry email. A custom verifyClaims hook still runs.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Runtime } from '../runtime.js';
import { OidcError, isOidcError, isTransientProviderError } from '../errors.js';
import { looksLikeJwt, validateJwtAccessToken } from '../protocol/access-token.js';
import { allowedAccessTokenAlgorithms } from '../protocol/jwt-verification.js';
import { introspectAccessToken, userinfoAccessTokenClaims } from '../protocol/introspection.js';
import { BearerCache, type BearerValidation } from '../store/bearer-cache.js';
import { resolveUser } from '../users.js';
import { buildContext, setContext } from '../session/context.js';
import type { AuthenticatedSession } from '../session/session-data.js';
import type { OidcClaims, OidcUser } from '../types.js';

export interface BearerAuthOptions {
  /** Expected `aud` (JWT) / accepted `aud` (introspection); default OIDC_BEARER_AUDIENCE, else the client id. */
  audience?: string;
  /** Scopes the token must all have (`scope` claim, space separated, or an `scp` array). */
  scopes?: string[];
  /** Let requests without any bearer token through unauthenticated (a present but bad token still fails). */
  optional?: boolean;
  /** The `realm` of WWW-Authenticate; default the issuer, else the base URL. */
  realm?: string;
}

/** One cache per runtime, shared by every bearerAuth() of that createOidcAuth(). */
const caches = new WeakMap<Runtime, BearerCache>();

export function bearerCacheFor(rt: Runtime): BearerCache {
  let cache = caches.get(rt);
  if (!cache) {
    const { bearer } = rt.config;
    cache = new BearerCache({ maxEntries: bearer.cacheMaxEntries, ttlSeconds: bearer.cacheTtlSeconds, shared: rt.shared, logger: rt.config.logger });
    caches.set(rt, cache);
  }
  return cache;
}

// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// RFC 6750 3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

type Credentials = { kind: 'none' } | { kind: 'malformed'; reason: string } | { kind: 'token'; token: string };

/** The bearer token of the Authorization header (RFC 6750 2.1; the scheme is case-insensitive, RFC 9110 11.1). */
export function readBearerToken(header: string | undefined): Credentials {
  if (header === undefined || header.trim() === '') return { kind: 'none' };
  const value = header.trim();
  const space = value.search(/\s/);
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') return { kind: 'none' }; // another scheme: no bearer credentials
  const token = space === -1 ? '' : value.slice(space).trim();
  if (token === '') return { kind: 'malformed', reason: 'the Bearer authorization header has no token' };
  if (!B64TOKEN.test(token)) return { kind: 'malformed', reason: 'the bearer token has characters RFC 6750 does not allow' };
  return { kind: 'token', token };
}

/** Scopes granted to a token: `scope` (space separated, RFC 9068 2.2.3 / RFC 8693 4.2) or an `scp` array. */
export function tokenScopes(claims: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const add = (value: unknown): void => {
    const list = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const s of list) if (typeof s === 'string' && s !== '') out.add(s);
  };
  add(claims.scope);
  add(claims.scp);
  return out;
}

/**
 * Text safe inside an auth-param quoted-string (RFC 6750 3: error_description and scope use only
 * %x20-21 / %x23-5B / %x5D-7E: no double quote, no backslash, ASCII only).
 */
function safeText(value: string): string {
  return value.replace(/"/g, "'").replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, ' ');
}

const quoted = (value: string): string => `"${safeText(value)}"`;

/** RFC 6750 3: a `WWW-Authenticate: Bearer` challenge with the realm and optional attributes. */
export function bearerChallenge(realm: string, params: Record<string, string> = {}): string {
  return ['Bearer', [`realm=${quoted(realm)}`, ...Object.entries(params).map(([k, v]) => `${k}=${quoted(v)}`)].join(', ')].join(' ');
}

/** The request carries `Authorization: Bearer ...` (an API request, whatever the token is worth). */
export function hasBearerScheme(authorization: string | undefined): boolean {
  return /^bearer\s/i.test(authorization ?? '');
}

/** Validate a token, whatever its kind, against the provider. Not cached here. */
async function validateToken(rt: Runtime, token: string, audience: string): Promise<BearerValidation> {
  const { config } = rt;
  const meta = await rt.discovery.get();
  const issuer = meta.issuer ?? config.issuer;

  if (looksLikeJwt(token)) {
    if (issuer === undefined) {
      // RFC 9068 4: iss MUST exactly match the issuer; without one there is nothing to match.
      throw new OidcError('OIDC_CONFIG_INVALID', 'express-oidc-rp: JWT access tokens need the issuer (option issuer, env OIDC_OP_ISSUER) to check "iss"', { statusCode: 500 });
    }
    const claims = await validateJwtAccessToken(token, {
      issuer,
      audience,
      clockTolerance: config.clockToleranceSeconds,
      algorithms: allowedAccessTokenAlgorithms(meta.idTokenSigningAlgValues, config.signAlgo),
      getKey: rt.keysFor(meta),
      acceptPlainJwtTyp: config.bearer.acceptJwtTyp,
    });
    return { source: 'jwt', claims, exp: claims.exp };
  }

  const mode = config.bearer.opaqueTokens;
  const useIntrospection = mode === 'introspection' || (mode === 'auto' && meta.introspectionEndpoint !== undefined);
  if (useIntrospection) {
    if (!meta.introspectionEndpoint) {
      throw new OidcError('OIDC_CONFIG_INVALID', 'express-oidc-rp: bearerOpaqueTokens is "introspection" but the provider has no introspection endpoint (option introspectionEndpoint, env OIDC_OP_INTROSPECTION_ENDPOINT)', { statusCode: 500 });
    }
    const claims = await introspectAccessToken(rt.http, meta.introspectionEndpoint, rt.creds, token, {
      issuer,
      audiences: [...new Set([audience, config.clientId])],
      clockTolerance: config.clockToleranceSeconds,
    });
    return { source: 'introspection', claims, exp: typeof claims.exp === 'number' ? claims.exp : undefined };
  }
  if (mode === 'userinfo' || mode === 'auto') {
    if (!meta.userinfoEndpoint) {
      throw new OidcError('OIDC_CONFIG_INVALID', 'express-oidc-rp: opaque bearer tokens need an introspection or userinfo endpoint (option bearerOpaqueTokens, env OIDC_BEARER_OPAQUE_TOKENS)', { statusCode: 500 });
    }
    const claims = await userinfoAccessTokenClaims(rt.http, meta.userinfoEndpoint, token, issuer);
    return { source: 'userinfo', claims, exp: undefined, userinfo: claims };
  }
  throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', 'access token rejected: only JWT access tokens are accepted (bearerOpaqueTokens is "reject")');
}

export function bearerAuth(rt: Runtime, opts: BearerAuthOptions = {}): RequestHandler {
  const { config } = rt;
  const audience = opts.audience ?? config.bearer.audience;
  const required = opts.scopes ?? [];
  for (const s of required) {
    if (!SCOPE_TOKEN.test(s)) throw new OidcError('OIDC_CONFIG_INVALID', `express-oidc-rp: bearerAuth scope "${s}" is not a valid scope token (RFC 6749 3.3)`);
  }
  const realm = opts.realm ?? config.issuer ?? config.baseUrl;
  const cache = bearerCacheFor(rt);

  const challenge = (params: Record<string, string> = {}): string => bearerChallenge(realm, params);

  const deny = (res: Response, status: 400 | 401 | 403, error: string | undefined, text: string, extra: Record<string, string> = {}): void => {
    // The same description in the challenge and in the JSON body.
    const description = safeText(text);
    res.status(status).set('cache-control', 'no-store');
    if (error === undefined) {
      // RFC 6750 3.1: no credentials -> no error information in the challenge.
      res.set('www-authenticate', challenge());
      res.json({ error: 'unauthenticated', error_description: description });
      return;
    }
    res.set('www-authenticate', challenge({ error, error_description: description, ...extra }));
    res.json({ error, error_description: description, ...extra });
  };

  const unavailable = (res: Response): void => {
    res.status(503).set('retry-after', '5').set('cache-control', 'no-store').json({
      error: 'temporarily_unavailable',
      error_description: 'The identity provider could not be reached to check the access token; try again shortly.',
    });
  };

  const users = new WeakMap<BearerValidation, OidcUser>();

  const authenticate = async (req: Request, res: Response, next: (err?: unknown) => void): Promise<void> => {
    if (req.query && typeof req.query === 'object' && (req.query as Record<string, unknown>).access_token !== undefined) {
      return deny(res, 400, 'invalid_request', 'access tokens are not accepted in the query string; use the Authorization header');
    }
    const creds = readBearerToken(req.get('authorization'));
    if (creds.kind === 'malformed') return deny(res, 400, 'invalid_request', creds.reason);
    if (creds.kind === 'none') {
      if (opts.optional) {
        // Leave a context from sessionRefresh alone; give handlers one to read when there is none.
        if (!req.oidc) req.oidc = buildContext(undefined, undefined);
        return next();
      }
      return deny(res, 401, undefined, 'a bearer access token is required');
    }
    const { token } = creds;

    let result: BearerValidation;
    try {
      const cached = cache.getOrValidate(token, audience, () => validateToken(rt, token, audience));
      result = cached instanceof Promise ? await cached : cached;
    } catch (err) {
      if (isOidcError(err) && err.code === 'OIDC_ACCESS_TOKEN_INVALID') {
        config.logger.info('bearer token rejected', { reason: err.message });
        return deny(res, 401, 'invalid_token', err.message);
      }
      if (isTransientProviderError(err)) {
        config.logger.warn('bearer token could not be checked: the provider is unavailable', { code: (err as OidcError).code, reason: (err as Error).message });
        return unavailable(res);
      }
      config.logger.error('bearer token could not be checked', { code: (err as OidcError)?.code, reason: (err as Error)?.message });
      if (isOidcError(err) && err.statusCode === undefined) err.statusCode = 500;
      return next(err);
    }

    const { claims } = result;
    const granted = tokenScopes(claims);
    const missing = required.filter((s) => !granted.has(s));
    if (missing.length > 0) {
      config.logger.info('bearer token lacks required scopes', { sub: claims.sub, missing });
      return deny(res, 403, 'insufficient_scope', `the access token lacks the scope ${missing.join(' ')}`, { scope: required.join(' ') });
    }

    // The user hooks run once per token and process, as they run once per login for a session,
    // not on every API request (mozilla-django-oidc's DRF backend hits the database each time).
    // Tied to the cached validation: when that entry goes, so does the user.
    let user = users.get(result);
    try {
      if (user === undefined) {
        user = await resolveUser(
          claims,
          { req, source: 'bearer', idTokenClaims: claims as OidcClaims, userinfo: result.userinfo },
          // scopes: [] so the default verifyClaims (email required with the email scope) does not apply.
          { hooks: config.hooks, scopes: [], createUser: config.createUser, logger: config.logger },
        );
        users.set(result, user);
      }
    } catch (err) {
      if (isOidcError(err) && (err.code === 'OIDC_CLAIMS_REJECTED' || err.code === 'OIDC_USER_NOT_FOUND' || err.code === 'OIDC_USER_AMBIGUOUS')) {
        config.logger.info('bearer token refused by the user hooks', { code: err.code, sub: claims.sub });
        return deny(res, 401, 'invalid_token', 'the access token does not identify an allowed user');
      }
      return next(err);
    }

    const now = Math.floor(Date.now() / 1000);
    const iat = typeof claims.iat === 'number' ? claims.iat : now;
    // A request-scoped stand-in for a session login: setContext reads only these fields to build
    // req.oidc. It is never stored (there may be no session at all).
    const auth: AuthenticatedSession = {
      loginId: '',
      iss: claims.iss,
      sub: claims.sub,
      claims,
      user,
      authTime: typeof claims.auth_time === 'number' ? claims.auth_time : iat,
      renewAt: result.exp ?? now,
      accessToken: token,
      accessTokenExpiresAt: result.exp,
      idToken: undefined,
      refreshToken: undefined,
      // req.oidc.scopes: the scopes enforced above (scope and scp merged).
      scope: [...granted].join(' '),
      tokensObtainedAt: iat,
      tokenVersion: 0,
    };
    setContext(req, auth, user);
    next();
  };

  return (req, res, next) => {
    authenticate(req, res, next).catch(next);
  };
}
