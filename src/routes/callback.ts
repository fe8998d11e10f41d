/**
 * Callback: the authorization response (OIDC Core 3.1.2.5), the code exchange (3.1.3), ID token
 * validation (3.1.3.7), userinfo (5.3), user resolution (the hooks), and a new session.
 *
 * Any failure: no authenticated session results, the reason is logged with its error code, and
 * the browser goes to LOGIN_REDIRECT_URL_FAILURE.
 */
import type { Request, RequestHandler } from 'express';
import { randomBytes } from 'node:crypto';
import type { Services } from '../session/services.js';
import { asyncHandler } from '../middleware/async-handler.js';
import { sendRedirect } from '../middleware/responses.js';
import { validateAuthorizationResponse, type PendingLogin } from '../protocol/authorization-response.js';
import { exchangeAuthorizationCode, type TokenResponse } from '../protocol/token-endpoint.js';
import { fetchUserinfo, userinfoWanted } from '../protocol/userinfo.js';
import { resolveUser } from '../session/users.js';
import { OidcError, isOidcError } from '../errors.js';
import type { DpopKey, StoredDpopKey } from '../protocol/dpop.js';
import {
  destroySession,
  readOidcData,
  regenerateSession,
  requireSession,
  saveRegeneratedSession,
  saveSession,
  sessionMaxAgeMs,
  takePendingLogin,
  writeOidcData,
  type AuthenticatedSession,
} from '../session/session-data.js';
import { setContext } from '../session/context.js';
import { endLogin } from '../session/end-login.js';
import type { OidcClaims, OidcHooks, OidcUser } from '../types.js';

interface LoginResult {
  auth: AuthenticatedSession;
  user: OidcUser;
  tokens: TokenResponse;
  /** The login's DPoP key, for its token set (never the session). */
  dpopKey: StoredDpopKey | undefined;
}

/** Everything between "the provider redirected back" and "we know the user". No session writes. */
async function completeLogin(req: Request, { config, provider, dpopKeys }: CallbackDeps, pending: PendingLogin | undefined): Promise<LoginResult> {
  const meta = await provider.discovery.get();
  const { code } = validateAuthorizationResponse(req.query as Record<string, unknown>, pending, {
    issuer: meta.issuer,
    tenantTemplate: meta.tenantTemplate,
    redirectUri: config.redirectUri,
    // RFC 9207: required when the provider says it always sends iss, and under FAPI 2.0 (5.3.2).
    issRequired: meta.authorizationResponseIssParameterSupported || config.security.requireIssParameter,
    stateTtlMs: config.stateTtlSeconds * 1000,
  });
  const login = pending as PendingLogin; // validated above

  // The key the login started with (its thumbprint went out as dpop_jkt); a login started before
  // DPoP was turned on gets a new one.
  let dpop: { key: DpopKey; stored: StoredDpopKey } | undefined;
  if (login.dpopKeyRef !== undefined) {
    dpop = await dpopKeys.claim(login.dpopKeyRef);
    if (!dpop) throw new OidcError('OIDC_STATE_EXPIRED', "the login's DPoP key is gone (expired with the state, or the store lost it)");
  } else if (config.security.dpop) {
    dpop = await dpopKeys.fresh();
  }
  const tokens: TokenResponse = await exchangeAuthorizationCode(provider.tokenCall(meta, dpop?.key), {
    code,
    redirectUri: config.redirectUri,
    codeVerifier: login.codeVerifier,
  });
  const idTokenClaims = await provider.validateIdToken(tokens.idToken as string, meta, login.nonce);

  let userinfo: Record<string, unknown> | undefined;
  const userinfoEndpoint = provider.endpoint(meta, 'userinfo');
  if (userinfoEndpoint && userinfoWanted(config.fetchUserinfo, config.scopes, idTokenClaims, config.authRequestExtraParams)) {
    const bound = tokens.tokenType === 'DPoP' && dpop ? provider.dpop(dpop.key) : undefined;
    userinfo = await fetchUserinfo(provider.http, userinfoEndpoint, tokens.accessToken, idTokenClaims.sub, bound);
  } else if (userinfoEndpoint && config.fetchUserinfo === 'auto') {
    config.logger.debug('userinfo not called: the ID token carries the claims of the requested scopes', { sub: idTokenClaims.sub });
  }
  // Userinfo carries the fresher profile; the identifying claims stay the ID token's. Claims that
  // only served validation (nonce, hashes) are dropped: they would be dead weight in every session.
  const { nonce: _nonce, at_hash: _atHash, c_hash: _cHash, s_hash: _sHash, ...kept } = idTokenClaims;
  const claims: OidcClaims = { ...kept, ...userinfo, iss: idTokenClaims.iss, sub: idTokenClaims.sub };
  const user = await resolveUser(
    claims,
    { req, source: 'login', idTokenClaims, userinfo },
    {
      hooks: config.hooks,
      scopes: config.scopes,
      createUser: config.createUser,
      logger: config.logger,
    },
  );

  const now = Math.floor(Date.now() / 1000);
  const auth: AuthenticatedSession = {
    loginId: randomBytes(16).toString('base64url'),
    iss: idTokenClaims.iss,
    sub: idTokenClaims.sub,
    sid: typeof idTokenClaims.sid === 'string' ? idTokenClaims.sid : undefined,
    claims,
    user: sessionUser(config.hooks, user),
    authTime: now,
    renewAt: now + config.renewIdTokenExpirySeconds,
    accessToken: config.storeAccessToken ? tokens.accessToken : undefined,
    // Kept even when the token itself is not: refresh and silent re-auth decisions need it.
    accessTokenExpiresAt: tokens.expiresAt,
    idToken: config.storeIdToken ? tokens.idToken : undefined,
    refreshToken: config.storeRefreshToken ? tokens.refreshToken : undefined,
    // RFC 6749 5.1: scope is in the response when it differs from the request.
    scope: tokens.scope ?? config.scopes.join(' '),
    // The same instant expiresAt counts from, so the token's lifetime (and the refresh leeway,
    // half of it at most) is exact.
    tokensObtainedAt: tokens.obtainedAt,
    tokenVersion: 1,
  };
  return { auth, user, tokens, dpopKey: dpop?.stored };
}

/**
 * What the session keeps for the user: serializeUser's value; nothing when the user is the default
 * one made from the claims (no user hooks), which storedUser() makes again when it is read.
 */
function sessionUser(hooks: OidcHooks, user: OidcUser): unknown {
  if (hooks.serializeUser) {
    const stored = hooks.serializeUser(user);
    // Kept as undefined, it would read back as "the default user": refuse it instead.
    if (stored === undefined || stored === null) throw new OidcError('OIDC_USER_NOT_FOUND', 'serializeUser returned no value to keep in the session');
    return stored;
  }
  return hooks.filterUsersByClaims || hooks.createUser ? user : undefined;
}

/**
 * A new login in a session that was already signed in: the previous login ends like a logout
 * (tombstone, index entries), so its refresh token cannot be used again from here.
 *
 * Its tokens are revoked at the provider only when they belong to another provider session
 * (another user, or another `sid`). Within one provider session the provider usually ties the new
 * tokens to the same grant (oidc-provider reuses the session's grant and revokes it whole with a
 * refresh token, Keycloak ends the shared client session, Google revokes every token of the
 * grant): revoking the old refresh token would end the new login as well. Best effort, bounded by
 * OIDC_TIMEOUT; failures are logged only.
 */
async function endReplacedLogin(
  deps: CallbackDeps,
  previous: AuthenticatedSession,
  current: AuthenticatedSession,
  sessionId: string | undefined,
): Promise<void> {
  const { config } = deps;
  const otherProviderSession =
    previous.iss !== current.iss || previous.sub !== current.sub || (previous.sid !== undefined && current.sid !== undefined && previous.sid !== current.sid);
  const revoke = config.revokeTokensOnLogout && otherProviderSession;
  if (config.revokeTokensOnLogout && !otherProviderSession) {
    config.logger.debug('re-login in the same provider session: the previous tokens are forgotten, not revoked', { sub: current.sub });
  }
  await endLogin(deps, previous, { sessionId, meta: deps.provider.discovery.peek(), revoke });
}

/** GET routes.callback: the authorization response. */
type CallbackDeps = Pick<Services, 'config' | 'provider' | 'stores' | 'dpopKeys' | 'context'>;

export function callbackHandler(deps: CallbackDeps): RequestHandler {
  const { config } = deps;
  const { tokens, index } = deps.stores;
  return asyncHandler(async (req, res) => {
    requireSession(req);
    // Single use: the state is consumed before anything else can fail.
    const pending = takePendingLogin(req, req.query.state);

    // A replayed or stale callback (back button after login) for a session that is already
    // signed in: nothing to do, and no reason to show an error (express-openid-connect does the same).
    if (!pending && readOidcData(req)?.auth && req.query.error === undefined) {
      sendRedirect(res, 302, config.loginRedirectUrl);
      return;
    }

    let result: LoginResult;
    try {
      result = await completeLogin(req, deps, pending);
    } catch (err) {
      const code = isOidcError(err) ? err.code : 'UNEXPECTED';
      config.logger.warn('login failed', { code, reason: err instanceof Error ? err.message : String(err) });
      if (!isOidcError(err)) config.logger.error('unexpected error in the callback', { stack: (err as Error)?.stack });
      if (pending?.silent) {
        // A silent re-authentication (prompt=none) that failed, login_required included: the
        // provider no longer vouches for this user, so the local session ends too.
        const ended = readOidcData(req)?.auth;
        if (ended) await tokens.end(ended.loginId).catch(() => undefined);
        await destroySession(req);
        setContext(req, undefined, undefined);
      } else if (pending) {
        // Persist the consumed state; the session stays as it was. Without a pending login
        // nothing changed, and an explicit save would store empty sessions for forged callbacks.
        await saveSession(req);
      }
      sendRedirect(res, 302, config.loginRedirectUrlFailure);
      return;
    }

    // The authoritative token set (session/refresh.ts), written before the session that points
    // to it: the refresh token to rotate, and the ID token for id_token_hint at logout even when
    // OIDC_STORE_ID_TOKEN keeps it out of the session.
    await tokens.create(
      result.auth.loginId,
      {
        version: result.auth.tokenVersion,
        accessToken: result.auth.accessToken,
        accessTokenExpiresAt: result.tokens.expiresAt,
        obtainedAt: result.auth.tokensObtainedAt,
        refreshToken: result.auth.refreshToken,
        idToken: result.tokens.idToken,
        tokenType: result.tokens.tokenType === 'DPoP' ? 'DPoP' : undefined,
        dpopKey: result.dpopKey,
      },
      sessionMaxAgeMs(req),
    );

    // Session fixation defence: a new session id for the authenticated session (EOC CVE-2021-41246).
    // Logins still in flight in other tabs carry over, so each tab can finish its own.
    const inFlight = readOidcData(req)?.states;
    const replaced = readOidcData(req)?.auth;
    const replacedSessionId = (req as { sessionID?: string }).sessionID;
    await regenerateSession(req);
    writeOidcData(req, { states: inFlight, auth: result.auth });
    // Saved before the redirect: the browser may follow it before an end-of-response save lands.
    // Back/front-channel logout find this session by the provider's sid or the user's sub: the
    // index entries are written alongside the session (independent keys; with Redis one round trip
    // of waiting, not two). An entry whose session failed to save names a session that does not
    // exist: a logout through it finds nothing to end, and it expires with the index's TTL.
    const sessionId = (req as { sessionID?: string }).sessionID;
    await Promise.all([
      saveRegeneratedSession(req),
      sessionId ? index.add(result.auth.iss, result.auth.sub, result.auth.sid, { sessionId, loginId: result.auth.loginId }, sessionMaxAgeMs(req)) : undefined,
    ]);
    setContext(req, result.auth, result.user, deps.context.fetcher);
    config.logger.info('login succeeded', { sub: result.auth.sub, iss: result.auth.iss });
    if (replaced) await endReplacedLogin(deps, replaced, result.auth, replacedSessionId);
    sendRedirect(res, 302, pending?.next ?? config.loginRedirectUrl);
  });
}
