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
 *
 * DPoP (RFC 9449), mode `allowed` (default: Bearer or DPoP), `required` (DPoP only) or `off`:
 * - `Authorization: DPoP <token>` with one `DPoP` proof header. The proof is checked on every
 *   request (protocol/dpop-verification.ts, RFC 9449 4.3), never cached; only the token's own
 *   validation is, and the cached claims keep `cnf`. Then the token's `cnf.jkt` must be the proof
 *   key's thumbprint, and the proof's jti is remembered in the shared store until the proof would
 *   expire (RFC 9449 11.1): a second use is refused, on every instance sharing the store (Redis).
 * - A DPoP-bound token (cnf.jkt) sent with the Bearer scheme is refused, in every mode (RFC 9449
 *   7.2); the Bearer scheme with a DPoP header is an ambiguous request (400).
 * - With server nonces (RFC 9449 9, protocol/dpop-nonce.ts) every DPoP answer carries a
 *   `DPoP-Nonce` header, and a proof without a current nonce gets 401 use_dpop_nonce.
 * - A 401 challenges with every scheme the route accepts: `Bearer realm=...` and/or
 *   `DPoP realm=..., algs="..."` (RFC 9449 7.1, 7.2).
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Services } from '../session/services.js';
import { optionRef } from '../config.js';
import { OidcError, isOidcError, isTransientProviderError } from '../errors.js';
import { looksLikeJwt, validateJwtAccessToken } from '../protocol/access-token.js';
import { allowedAccessTokenAlgorithms } from '../protocol/jwt-verification.js';
import { introspectAccessToken, userinfoAccessTokenClaims } from '../protocol/introspection.js';
import { isScopeToken, readAccessToken, tokenScopes, type TokenScheme } from '../protocol/bearer-token.js';
import {
  DPOP_ALGS,
  checkDpopBinding,
  dpopReplayKey,
  dpopReplayTtlMs,
  publicRequestUrl,
  refuseBoundBearerToken,
  verifyDpopProof,
  type VerifiedDpopProof,
} from '../protocol/dpop-verification.js';
import { DpopNonces } from '../protocol/dpop-nonce.js';
import type { BearerValidation } from '../store/bearer-cache.js';
import { sendTokenError, sendUnavailable, setBearerRealm, type TokenChallenges } from './responses.js';
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
  /** DPoP-bound tokens (RFC 9449) on this route: `allowed` (Bearer or DPoP), `required` (DPoP only), `off`; default OIDC_BEARER_DPOP. */
  dpop?: DpopMode;
  /** Require server nonces in DPoP proofs on this route (RFC 9449 9); default OIDC_DPOP_NONCE. */
  dpopNonce?: boolean;
}

export type DpopMode = 'allowed' | 'required' | 'off';
const DPOP_MODES: readonly DpopMode[] = ['allowed', 'required', 'off'];

/**
 * The `DPoP` request header fields, each one separately (RFC 9449 4.3 step 1 counts them; Node
 * folds repeated fields of unknown headers into one `a, b` in req.headers). headersDistinct is
 * built on first use, so it is only read when there is a DPoP header at all.
 */
function dpopHeaders(req: Request, headers: Request['headers']): string[] {
  const folded = headers.dpop;
  if (folded === undefined) return [];
  return req.headersDistinct?.dpop ?? [String(folded)];
}

/**
 * An `access_token` query parameter. Only a URL with a query string can have one, and only then is
 * req.query read: Express 5 parses the query string on every read of it.
 */
function hasQueryToken(req: Request): boolean {
  if (!req.url.includes('?')) return false;
  const query: unknown = req.query;
  return query !== null && typeof query === 'object' && (query as Record<string, unknown>).access_token !== undefined;
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
  const introspectionEndpoint = provider.endpoint(meta, 'introspection');
  const useIntrospection = mode === 'introspection' || (mode === 'auto' && introspectionEndpoint !== undefined);
  if (useIntrospection) {
    if (!introspectionEndpoint) {
      throw new OidcError(
        'OIDC_CONFIG_INVALID',
        `express-oidc-rp: option ${optionRef('bearerOpaqueTokens')} is "introspection" but the provider has no introspection endpoint (option ${optionRef('introspectionEndpoint')})`,
        { statusCode: 500 },
      );
    }
    const claims = await introspectAccessToken(provider.http, introspectionEndpoint, provider.clientFor(meta), token, {
      issuer,
      audiences: [...new Set([audience, config.clientId])],
      clockTolerance: config.clockToleranceSeconds,
    });
    return { source: 'introspection', claims, exp: typeof claims.exp === 'number' ? claims.exp : undefined };
  }
  if (mode === 'userinfo' || mode === 'auto') {
    const userinfoEndpoint = provider.endpoint(meta, 'userinfo');
    if (!userinfoEndpoint) {
      throw new OidcError(
        'OIDC_CONFIG_INVALID',
        `express-oidc-rp: opaque bearer tokens need an introspection or userinfo endpoint (option ${optionRef('bearerOpaqueTokens')})`,
        { statusCode: 500 },
      );
    }
    const claims = await userinfoAccessTokenClaims(provider.http, userinfoEndpoint, token, issuer);
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
  const dpopMode = opts.dpop ?? config.bearer.dpopMode;
  if (!DPOP_MODES.includes(dpopMode)) {
    throw new OidcError('OIDC_CONFIG_INVALID', `express-oidc-rp: bearerAuth dpop must be ${DPOP_MODES.join(', ')}, got "${String(dpopMode)}"`);
  }
  const realm = opts.realm ?? config.issuer ?? config.baseUrl;
  const cache = deps.stores.bearerCache;
  const replay = deps.stores.shared;
  const challenges: TokenChallenges = {
    realm,
    schemes: dpopMode === 'off' ? ['Bearer'] : dpopMode === 'required' ? ['DPoP'] : ['Bearer', 'DPoP'],
    dpopAlgs: DPOP_ALGS,
  };
  // Server nonces (RFC 9449 9): derived from a secret every instance has, so any instance accepts
  // any instance's nonce without sharing state (protocol/dpop-nonce.ts).
  const nonceSecret = config.bearer.dpopNonceSecret ?? config.clientSecret;
  const wantsNonces = dpopMode !== 'off' && (opts.dpopNonce ?? config.bearer.dpopNonce);
  if (wantsNonces && nonceSecret === undefined) {
    throw new OidcError(
      'OIDC_CONFIG_INVALID',
      `express-oidc-rp: DPoP nonces need ${optionRef('dpopNonceSecret')}: this client has no client secret to derive them from`,
    );
  }
  const nonces = wantsNonces ? new DpopNonces(nonceSecret as string) : undefined;
  const proofMaxAgeSeconds = config.bearer.dpopProofMaxAgeSeconds;
  const tolerance = config.clockToleranceSeconds;

  const deny = (
    res: Response,
    used: TokenScheme | undefined,
    status: 400 | 401 | 403,
    error: string | undefined,
    text: string,
    extra: Record<string, string> = {},
  ): void => sendTokenError(res, challenges, used, status, error, text, extra);

  /**
   * What each cached validation (one token, in this process) gives every request that presents it:
   * the scopes it grants, and the user the hooks made of it. Tied to the cache entry: when that
   * entry goes, so does this.
   */
  const derived = new WeakMap<BearerValidation, { granted: ReadonlySet<string>; scope: string; user?: OidcUser }>();

  const authenticate = async (req: Request, res: Response, next: (err?: unknown) => void): Promise<void> => {
    // The guards behind this middleware challenge with the same realm.
    setBearerRealm(req, realm);
    if (hasQueryToken(req)) {
      return deny(res, undefined, 400, 'invalid_request', 'access tokens are not accepted in the query string; use the Authorization header');
    }
    // req.headers read once, not through req.get(): each read of Express' request object costs
    // this hot path an inline-cache miss (docs/benchmarks.md, "Counted in instructions").
    const headers = req.headers;
    let creds = readAccessToken(headers.authorization);
    // A scheme this route does not accept is no credentials at all (RFC 6750 3.1), as Basic is.
    if (creds.kind !== 'none' && !challenges.schemes.includes(creds.scheme)) creds = { kind: 'none' };
    const now = Math.floor(Date.now() / 1000);
    // RFC 9449 8.2 / 9: a fresh nonce on every answer a DPoP client may get, so that its next proof has one.
    if (nonces && (creds.kind === 'none' || creds.scheme === 'DPoP')) res.set('dpop-nonce', nonces.current(now));

    if (creds.kind === 'malformed') return deny(res, creds.scheme, 400, 'invalid_request', creds.reason);
    if (creds.kind === 'none') {
      if (opts.optional) {
        // Leave a context from sessionRefresh alone; give handlers one to read when there is none.
        if (!req.oidc) req.oidc = buildContext(undefined, undefined);
        return next();
      }
      return deny(res, undefined, 401, undefined, 'an access token is required');
    }
    const { token, scheme } = creds;
    const proofs = dpopMode === 'off' ? [] : dpopHeaders(req, headers);
    if (scheme === 'Bearer' && proofs.length > 0) {
      // Which did the client mean? Refused rather than guessed: at a resource, a proof goes with the
      // DPoP scheme (RFC 9449 7.1), and a bound token is never a bearer token (7.2).
      return deny(res, scheme, 400, 'invalid_request', 'a DPoP proof was sent with the Bearer scheme; DPoP-bound tokens use "Authorization: DPoP"');
    }
    if (scheme === 'DPoP' && proofs.length === 0) {
      // RFC 9449 7.1: a DPoP-bound token goes with a proof; without one the request lacks a required part (RFC 6750 3.1).
      return deny(res, scheme, 400, 'invalid_request', 'the DPoP scheme needs a DPoP proof header');
    }

    // The proof first, on every request (never cached): it is local work, and a request with a bad
    // proof should not cost an introspection call.
    let proof: VerifiedDpopProof | undefined;
    if (scheme === 'DPoP') {
      try {
        proof = await verifyDpopProof(
          proofs,
          { method: req.method, url: publicRequestUrl(config.baseUrl, req.originalUrl) },
          {
            accessToken: token,
            maxAgeSeconds: proofMaxAgeSeconds,
            clockTolerance: tolerance,
            now,
            ...(nonces ? { checkNonce: (nonce: unknown) => nonces.isValid(nonce, now) } : {}),
          },
        );
      } catch (err) {
        if (isOidcError(err) && err.code === 'OIDC_DPOP_NONCE_INVALID') {
          config.logger.info('DPoP proof without a current server nonce', { reason: err.message });
          return deny(res, scheme, 401, 'use_dpop_nonce', err.message);
        }
        if (isOidcError(err) && err.code === 'OIDC_DPOP_PROOF_INVALID') {
          config.logger.info('DPoP proof rejected', { reason: err.message });
          return deny(res, scheme, 401, 'invalid_dpop_proof', err.message);
        }
        throw err;
      }
    }

    let result: BearerValidation;
    try {
      const cached = cache.getOrValidate(token, audience, () => validateToken(deps, token, audience));
      result = cached instanceof Promise ? await cached : cached;
      // RFC 9449 4.3 step 12 / 7.2: the token's binding, checked on the (possibly cached) claims.
      if (proof) checkDpopBinding(result.claims, proof.jkt);
      else refuseBoundBearerToken(result.claims);
    } catch (err) {
      if (isOidcError(err) && err.code === 'OIDC_ACCESS_TOKEN_INVALID') {
        config.logger.info('bearer token rejected', { reason: err.message, scheme });
        return deny(res, scheme, 401, 'invalid_token', err.message);
      }
      if (isTransientProviderError(err)) {
        config.logger.warn('bearer token could not be checked: the provider is unavailable', { code: (err as OidcError).code, reason: (err as Error).message });
        return sendUnavailable(req, res, 'The identity provider could not be reached to check the access token', { json: true });
      }
      config.logger.error('bearer token could not be checked', { code: (err as OidcError)?.code, reason: (err as Error)?.message });
      if (isOidcError(err) && err.statusCode === undefined) err.statusCode = 500;
      return next(err);
    }

    if (proof) {
      // RFC 9449 11.1: each proof once. Remembered only now, for a proof that verified and goes with
      // its token, so nobody can fill the store with junk; in the shared store, so a proof used on
      // one instance is refused on all (with Redis).
      let fresh: boolean;
      try {
        fresh = await replay.setIfAbsent(dpopReplayKey(proof), '1', dpopReplayTtlMs(proof.iat, now, proofMaxAgeSeconds, tolerance));
      } catch (err) {
        // Unable to tell a replay from a first use: fail closed, but as the temporary failure it is.
        config.logger.warn('DPoP proof could not be checked for replay: the shared store is unavailable', { reason: (err as Error)?.message });
        return sendUnavailable(req, res, 'The DPoP replay check is unavailable', { json: true });
      }
      if (!fresh) {
        const replayed = new OidcError('OIDC_DPOP_PROOF_REPLAYED', 'DPoP proof rejected: it was used before (jti seen)');
        config.logger.info('DPoP proof replayed', { code: replayed.code, sub: result.claims.sub });
        return deny(res, scheme, 401, 'invalid_dpop_proof', replayed.message);
      }
    }

    const { claims } = result;
    let known = derived.get(result);
    if (known === undefined) {
      const granted = tokenScopes(claims);
      // req.oidc.scopes: the scopes enforced below (scope and scp merged).
      known = { granted, scope: [...granted].join(' ') };
      derived.set(result, known);
    }
    const { granted } = known;
    const missing = required.length === 0 ? required : required.filter((s) => !granted.has(s));
    if (missing.length > 0) {
      config.logger.info('bearer token lacks required scopes', { sub: claims.sub, missing });
      return deny(res, scheme, 403, 'insufficient_scope', `the access token lacks the scope ${missing.join(' ')}`, { scope: required.join(' ') });
    }

    // The user hooks run once per token and process, as they run once per login for a session,
    // not on every API request (mozilla-django-oidc's DRF backend hits the database each time).
    // Tied to the cached validation: when that entry goes, so does the user.
    let user = known.user;
    try {
      if (user === undefined) {
        user = await resolveUser(
          claims,
          { req, source: 'bearer', idTokenClaims: claims as OidcClaims, userinfo: result.userinfo },
          // scopes: [] so the default verifyClaims (email required with the email scope) does not apply.
          { hooks: config.hooks, scopes: [], createUser: config.createUser, logger: config.logger },
        );
        known.user = user;
      }
    } catch (err) {
      if (isOidcError(err) && (err.code === 'OIDC_CLAIMS_REJECTED' || err.code === 'OIDC_USER_NOT_FOUND' || err.code === 'OIDC_USER_AMBIGUOUS')) {
        config.logger.info('bearer token refused by the user hooks', { code: err.code, sub: claims.sub });
        return deny(res, scheme, 401, 'invalid_token', 'the access token does not identify an allowed user');
      }
      return next(err);
    }

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
      scope: known.scope,
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
