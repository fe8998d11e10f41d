/**
 * Ending one login of this app: at logout, and when a new login replaces it in the same session.
 *
 * The shared token set is authoritative (store/token-store.ts): the session copy may hold a
 * rotated-away refresh token, and it holds the ID token (for id_token_hint) only with
 * OIDC_STORE_ID_TOKEN. So the set is read first, then replaced by a tombstone (not deleted: a copy
 * of the session written back by a request still in flight then ends at its next refresh instead
 * of presenting a revoked refresh token), the login's session-index entries are removed, and its
 * tokens are revoked at the provider (RFC 7009) when asked.
 */
import type { Services } from './services.js';
import type { ProviderMetadata } from '../protocol/discovery.js';
import { revokeToken, type RevocableTokenType } from '../protocol/revocation.js';
import type { AuthenticatedSession } from './session-data.js';
import type { TokenSet } from '../store/token-store.js';

/** Revoke the login's tokens, in parallel, each bounded by OIDC_TIMEOUT; failures are logged only. */
async function revokeLoginTokens(
  { config, provider, dpopKeys }: Deps,
  meta: ProviderMetadata,
  auth: AuthenticatedSession,
  dpopKey: TokenSet['dpopKey'],
): Promise<void> {
  const endpoint = provider.endpoint(meta, 'revocation');
  if (!endpoint) return;
  const client = provider.clientFor(meta);
  const dpop = dpopKey ? provider.dpop(await dpopKeys.use(dpopKey)) : undefined;
  const tokens: Array<[string | undefined, RevocableTokenType]> = [
    // Refresh token first in intent: revoking it also ends its access tokens at most providers.
    [auth.refreshToken, 'refresh_token'],
    [auth.accessToken, 'access_token'],
  ];
  const results = await Promise.allSettled(
    tokens.filter(([t]) => t !== undefined).map(([token, hint]) => revokeToken(provider.http, endpoint, client, token as string, hint, dpop)),
  );
  for (const r of results) {
    if (r.status === 'rejected')
      config.logger.warn('token revocation failed; the login is ended here anyway', { reason: String((r.reason as Error)?.message ?? r.reason) });
  }
}

type Deps = Pick<Services, 'config' | 'provider' | 'stores' | 'dpopKeys'>;

export interface EndLoginOptions {
  /** express-session's id of the session the login was indexed under. */
  sessionId: string | undefined;
  /** Provider metadata, when known: revocation needs its endpoint. */
  meta: ProviderMetadata | undefined;
  /** Revoke the tokens at the provider (OIDC_REVOKE_TOKENS_ON_LOGOUT, and only when safe: see callback). */
  revoke: boolean;
}

/**
 * End `auth` for every instance. Returns the login with its authoritative tokens (the ID token for
 * id_token_hint). Store failures are logged, never thrown: ending a login must not fail half-way.
 */
export async function endLogin(deps: Deps, auth: AuthenticatedSession, opts: EndLoginOptions): Promise<AuthenticatedSession> {
  const { logger } = deps.config;
  const { tokens, index } = deps.stores;
  let ended = auth;
  const stored = await tokens.read(auth.loginId).catch(() => undefined);
  const dpopKey = stored?.set.ended ? undefined : stored?.set.dpopKey;
  if (stored && !stored.set.ended) {
    const { refreshToken, accessToken, idToken } = stored.set;
    ended = { ...auth, refreshToken: refreshToken ?? auth.refreshToken, accessToken: accessToken ?? auth.accessToken, idToken: idToken ?? auth.idToken };
  }
  if (opts.sessionId) {
    await index.remove(auth.iss, auth.sub, auth.sid, { sessionId: opts.sessionId, loginId: auth.loginId }).catch((err: unknown) => {
      logger.warn('could not remove the ended login from the session index', { reason: (err as Error)?.message });
    });
  }
  await tokens.end(auth.loginId).catch((err: unknown) => {
    logger.warn('could not mark the login ended', { reason: (err as Error)?.message });
  });
  if (opts.revoke && opts.meta) await revokeLoginTokens(deps, opts.meta, ended, dpopKey);
  return ended;
}
