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
import type { Services } from '../session/services.js';
import { optionRef } from '../config.js';
import { OidcError, isOidcError, isTransientProviderError } from '../errors.js';
import { looksLikeJwt, validateJwtAccessToken } from '../protocol/access-token.js';
import { allowedAccessTokenAlgorithms } from '../protocol/jwt-verification.js';
import { introspectAccessToken, userinfoAccessTokenClaims } from '../protocol/introspection.js';
import { isScopeToken, readBearerToken, tokenScopes } from '../protocol/bearer-token.js';
import type { BearerValidation } from '../store/bearer-cache.js';
import { sendBearerError, sendUnavailable, setBearerRealm } from './responses.js';
import { resolveUser } from '../session/users.js';
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

/** Validate a token, whatever its kind, against the provider. Not cached here. */
async function validateToken({ config, provider }: BearerDeps, token: string, audience: string): Promise<BearerValidation> {
  const meta = await provider.discovery.get();
  const issuer = meta.issuer ?? config.issuer;

  if (looksLikeJwt(token)) {
    if (issuer === undefined) {
      // RFC 9068 4: iss MUST exactly match the issuer; without one there is nothing to match.
      throw new OidcError('OIDC_CONFIG_INVALID', `express-oidc-rp: JWT access tokens need the issuer (option ${optionRef('issuer')}) to check "iss"`, {
        statusCode: 500,
      });
    }
    const claims = await validateJwtAccessToken(token, {
      issuer,
      tenantTemplate: meta.tenantTemplate,
      allowedTenants: config.allowedTenants,
      audience,
      clockTolerance: config.clockToleranceSeconds,
      algorithms: allowedAccessTokenAlgorithms(meta.idTokenSigningAlgValues, config.signAlgo),
      getKey: provider.keysFor(meta),
      acceptPlainJwtTyp: config.bearer.acceptJwtTyp,
    });
    return { source: 'jwt', claims, exp: claims.exp };
  }

  const mode = config.bearer.opaqueTokens;
  const useIntrospection = mode === 'introspection' || (mode === 'auto' && meta.introspectionEndpoint !== undefined);
  if (useIntrospection) {
    if (!meta.introspectionEndpoint) {
      throw new OidcError(
        'OIDC_CONFIG_INVALID',
        `express-oidc-rp: option ${optionRef('bearerOpaqueTokens')} is "introspection" but the provider has no introspection endpoint (option ${optionRef('introspectionEndpoint')})`,
        { statusCode: 500 },
      );
    }
    const claims = await introspectAccessToken(provider.http, meta.introspectionEndpoint, provider.clientFor(meta), token, {
      issuer,
      audiences: [...new Set([audience, config.clientId])],
      clockTolerance: config.clockToleranceSeconds,
    });
    return { source: 'introspection', claims, exp: typeof claims.exp === 'number' ? claims.exp : undefined };
  }
  if (mode === 'userinfo' || mode === 'auto') {
    if (!meta.userinfoEndpoint) {
      throw new OidcError(
        'OIDC_CONFIG_INVALID',
        `express-oidc-rp: opaque bearer tokens need an introspection or userinfo endpoint (option ${optionRef('bearerOpaqueTokens')})`,
        { statusCode: 500 },
      );
    }
    const claims = await userinfoAccessTokenClaims(provider.http, meta.userinfoEndpoint, token, issuer);
    return { source: 'userinfo', claims, exp: undefined, userinfo: claims };
  }
  throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', 'access token rejected: only JWT access tokens are accepted (bearerOpaqueTokens is "reject")');
}

type BearerDeps = Pick<Services, 'config' | 'provider' | 'stores'>;

export function bearerAuth(deps: BearerDeps, opts: BearerAuthOptions = {}): RequestHandler {
  const { config } = deps;
  const audience = opts.audience ?? config.bearer.audience;
  const required = opts.scopes ?? [];
  for (const s of required) {
    if (!isScopeToken(s)) throw new OidcError('OIDC_CONFIG_INVALID', `express-oidc-rp: bearerAuth scope "${s}" is not a valid scope token (RFC 6749 3.3)`);
  }
  const realm = opts.realm ?? config.issuer ?? config.baseUrl;
  const cache = deps.stores.bearerCache;

  const deny = (res: Response, status: 400 | 401 | 403, error: string | undefined, text: string, extra: Record<string, string> = {}): void =>
    sendBearerError(res, realm, status, error, text, extra);

  const users = new WeakMap<BearerValidation, OidcUser>();

  const authenticate = async (req: Request, res: Response, next: (err?: unknown) => void): Promise<void> => {
    // The guards behind this middleware challenge with the same realm.
    setBearerRealm(req, realm);
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
      const cached = cache.getOrValidate(token, audience, () => validateToken(deps, token, audience));
      result = cached instanceof Promise ? await cached : cached;
    } catch (err) {
      if (isOidcError(err) && err.code === 'OIDC_ACCESS_TOKEN_INVALID') {
        config.logger.info('bearer token rejected', { reason: err.message });
        return deny(res, 401, 'invalid_token', err.message);
      }
      if (isTransientProviderError(err)) {
        config.logger.warn('bearer token could not be checked: the provider is unavailable', { code: (err as OidcError).code, reason: (err as Error).message });
        return sendUnavailable(req, res, 'The identity provider could not be reached to check the access token', { json: true });
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
