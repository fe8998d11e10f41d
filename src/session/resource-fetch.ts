/**
 * `req.oidc.fetch(url, init?)`: call an API with the session's access token the right way.
 *
 * - The token comes from the login's token set (store/token-store.ts), not the session copy: it is
 *   the newest, and it holds the DPoP key.
 * - A DPoP-bound token is sent as `Authorization: DPoP <token>` with a proof over the method, the
 *   URL and the token's hash (RFC 9449 7.1); a Bearer token as `Authorization: Bearer` (RFC 6750
 *   2.1). A `use_dpop_nonce` challenge (RFC 9449 9) is answered by one retry with the nonce.
 * - A `401` whose challenge says `invalid_token` (RFC 6750 3.1, RFC 9449 7.1) means the token is
 *   no longer accepted (revoked, or expired early): the tokens are refreshed once, through the same
 *   single flight and cross-instance lock as sessionRefresh, and the call is made once more.
 *
 * A body that can only be read once (a stream) is not retried: the first answer is returned.
 *
 * When the provider refuses the refresh token (or another request has ended the login), the
 * session ends there and then, as sessionRefresh ends it (docs/design.md "Failure semantics"):
 * otherwise its pages would go on passing, with an access token the provider no longer accepts,
 * until that token is next due.
 *
 * `req.oidc.refresh()` is the same refresh on demand.
 */
import type { Request } from 'express';
import { OidcError } from '../errors.js';
import { createDpopProof, isNonceChallenge, type DpopKey } from '../protocol/dpop.js';
import type { Provider } from '../protocol/provider.js';
import type { TokenSet, TokenStore } from '../store/token-store.js';
import type { OidcContext, OidcLogger } from '../types.js';
import type { DpopKeys } from './dpop-keys.js';
import { applyTokenSet, newestSet, type TokenRefresher, type TokenStorageSettings } from './refresh.js';
import { regenerateSession, type AuthenticatedSession } from './session-data.js';

export interface ResourceFetchDeps {
  config: TokenStorageSettings & { logger: OidcLogger };
  provider: Pick<Provider, 'http' | 'dpop'>;
  tokens: TokenStore;
  refresher: TokenRefresher;
  dpopKeys: DpopKeys;
}

/** What a signed-in session can do with its tokens, for one request of one login (`req.oidc.fetch`, `req.oidc.refresh`). */
export type TokenActions = Pick<OidcContext, 'fetch' | 'refresh'>;
/** `onRefreshed`: the tokens changed within the request; `onEnded`: the login is over, and this session with it. */
export type TokenActionsFor = (req: Request, auth: AuthenticatedSession, onRefreshed: () => void, onEnded: () => void) => TokenActions;

/** RFC 6750 3.1 / RFC 9449 7.1: the resource server says the token itself is no good. */
function isInvalidToken(res: Response): boolean {
  if (res.status !== 401) return false;
  return /error\s*=\s*"?invalid_token"?/i.test(res.headers.get('www-authenticate') ?? '');
}

/** A body that can be sent twice. */
function replayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer ||
    body instanceof Blob
  );
}

const notAuthenticated = (what: string) => () =>
  Promise.reject(
    new OidcError('OIDC_NOT_AUTHENTICATED', `req.oidc.${what} needs a signed-in session with tokens (behind sessionRefresh); this request has none`, {
      statusCode: 401,
    }),
  );

/** The actions of a request without a signed-in session (or, for bearerAuth, without tokens of its own). */
export const NO_TOKEN_ACTIONS: TokenActions = { fetch: notAuthenticated('fetch'), refresh: notAuthenticated('refresh') };

export function tokenActions(deps: ResourceFetchDeps): TokenActionsFor {
  const { provider, tokens, refresher, dpopKeys } = deps;

  /** One call with the set's token: DPoP proof (and one nonce retry) or Bearer. */
  async function call(url: string, init: RequestInit, set: TokenSet, accessToken: string): Promise<Response> {
    const key: DpopKey | undefined = set.tokenType === 'DPoP' && set.dpopKey ? await dpopKeys.use(set.dpopKey) : undefined;
    const method = (init.method ?? 'GET').toUpperCase();
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      if (key) {
        const dpop = provider.dpop(key);
        headers.set('authorization', `DPoP ${accessToken}`);
        headers.set('dpop', await createDpopProof(key, { htm: method, url, nonce: dpop.nonces.get(url), accessToken }));
      } else {
        headers.set('authorization', `Bearer ${accessToken}`);
      }
      const res = await provider.http.fetchResource(url, { ...init, method, headers });
      if (!key) return res;
      provider.dpop(key).nonces.remember(url, res.headers);
      if (attempt > 0 || !replayable(init.body) || !isNonceChallenge(res.status, res.headers, undefined)) return res;
      await res.body?.cancel();
    }
  }

  /** The login's current set, or why there is none to call with. */
  async function currentSet(auth: AuthenticatedSession): Promise<TokenSet & { accessToken: string }> {
    const stored = await tokens.read(auth.loginId);
    if (stored?.set.ended) throw new OidcError('OIDC_SESSION_ENDED', 'the login has ended', { statusCode: 401 });
    const set = newestSet(stored, auth);
    if (!set.accessToken) {
      throw new OidcError('OIDC_NOT_AUTHENTICATED', 'req.oidc.fetch needs the access token: OIDC_STORE_ACCESS_TOKEN is off', { statusCode: 500 });
    }
    return set as TokenSet & { accessToken: string };
  }

  /**
   * The login is over: so is this session. A fresh, empty session takes its place (the old one is
   * destroyed in the store, as at logout), so the app's handler, still running, keeps a usable
   * req.session; req.oidc and req.user say signed out from here on.
   */
  async function endSession(req: Request, onEnded: () => void): Promise<void> {
    try {
      await regenerateSession(req);
    } catch (err) {
      // The login's tombstone still ends the session when its access token is next due.
      deps.config.logger.warn('the session of an ended login could not be ended now', { reason: (err as Error)?.message });
    }
    onEnded();
  }

  /** The login's current set; if the login has ended meanwhile, the session ends too. */
  async function currentSetOrEnd(req: Request, auth: AuthenticatedSession, onEnded: () => void): Promise<TokenSet & { accessToken: string }> {
    try {
      return await currentSet(auth);
    } catch (err) {
      if ((err as OidcError).code === 'OIDC_SESSION_ENDED') await endSession(req, onEnded);
      throw err;
    }
  }

  return (req, auth, onRefreshed, onEnded) => ({
    async fetch(input, init = {}) {
      const url = String(input);
      const set = await currentSetOrEnd(req, auth, onEnded);
      const res = await call(url, init, set, set.accessToken);
      if (!isInvalidToken(res) || set.refreshToken === undefined || !replayable(init.body)) return res;
      // Refused: refresh once (whatever its expiry says), unless someone already has.
      const outcome = await refresher.refresh(auth, req, { staleVersion: set.version });
      if (outcome.kind === 'ended') await endSession(req, onEnded);
      if (outcome.kind === 'ended' || outcome.kind === 'failed') return res;
      if (outcome.set.accessToken === undefined || outcome.set.version === set.version) return res;
      // Mutating the session copy makes express-session save it at the end of the request.
      applyTokenSet(auth, outcome.set, deps.config);
      onRefreshed();
      await res.body?.cancel();
      return call(url, init, outcome.set, outcome.set.accessToken);
    },

    /**
     * A refresh grant now, whatever the expiry says (the set this request knows is treated as
     * stale), through the same single flight and lock as sessionRefresh: concurrent calls of one
     * login, on any instance, still make one grant.
     */
    async refresh() {
      const stored = await tokens.read(auth.loginId);
      const set = newestSet(stored, auth);
      if (set.ended) {
        await endSession(req, onEnded);
        throw new OidcError('OIDC_SESSION_ENDED', 'the login has ended', { statusCode: 401 });
      }
      if (set.refreshToken === undefined) {
        throw new OidcError('OIDC_REFRESH_FAILED', 'this session has no refresh token (offline_access not granted, or OIDC_STORE_REFRESH_TOKEN off)', {
          statusCode: 400,
        });
      }
      const outcome = await refresher.refresh(auth, req, { staleVersion: set.version });
      if (outcome.kind === 'ended') {
        await endSession(req, onEnded);
        // The documented codes, whatever the provider said (invalid_grant is the error's cause).
        throw new OidcError('OIDC_SESSION_ENDED', `the provider refused the refresh token: ${outcome.error.message}`, {
          cause: outcome.error,
          oauthError: outcome.error.oauthError,
          statusCode: 401,
        });
      }
      if (outcome.kind === 'failed') {
        throw new OidcError('OIDC_REFRESH_FAILED', `the tokens could not be refreshed now: ${outcome.error.message}`, {
          cause: outcome.error,
          statusCode: 503,
        });
      }
      applyTokenSet(auth, outcome.set, deps.config);
      onRefreshed();
    },
  });
}
