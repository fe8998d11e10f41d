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
import { optionRef } from '../config.js';
import type { ProviderMetadata } from '../protocol/discovery.js';
import { revokeToken, type RevocableTokenType } from '../protocol/revocation.js';
import type { AuthenticatedSession } from './session-data.js';
import type { TokenSet } from '../store/token-store.js';

/** Providers already said to have no revocation endpoint: one info line per provider and process. */
const noRevocationNoted = new Set<string>();

/**
 * Revoke the login's tokens, one after the other, each bounded by OIDC_TIMEOUT; failures are
 * logged only. The refresh token goes first (RFC 7009 2.1: the provider SHOULD then also
 * invalidate the access tokens of the same grant), and the access token after it for providers
 * that do not. Sequential, not parallel: two revocations of one grant at once make providers on a
 * single-writer database refuse one of them (django-oauth-toolkit on SQLite answers 500, "database
 * is locked"), which could leave the refresh token alive.
 */
async function revokeLoginTokens(
  { config, provider, dpopKeys }: Deps,
  meta: ProviderMetadata,
  auth: AuthenticatedSession,
  dpopKey: TokenSet['dpopKey'],
): Promise<void> {
  const endpoint = provider.endpoint(meta, 'revocation');
  if (!endpoint) {
    // Not silent: OIDC_REVOKE_TOKENS_ON_LOGOUT is on, yet nothing is revoked (django-oauth-toolkit
    // does not advertise its endpoint: README "Options", revocationEndpoint).
    const issuer = meta.issuer ?? '';
    if (!noRevocationNoted.has(issuer)) {
      noRevocationNoted.add(issuer);
      config.logger.info(`the provider has no revocation endpoint: tokens are not revoked at logout (set ${optionRef('revocationEndpoint')} if it has one)`, {
        iss: meta.issuer,
      });
    }
    return;
  }
  const client = provider.clientFor(meta);
  const dpop = dpopKey ? provider.dpop(await dpopKeys.use(dpopKey)) : undefined;
  const tokens: Array<[string | undefined, RevocableTokenType]> = [
    [auth.refreshToken, 'refresh_token'],
    [auth.accessToken, 'access_token'],
  ];
  for (const [token, hint] of tokens) {
    if (token === undefined) continue;
    try {
      await revokeToken(provider.http, endpoint, client, token, hint, dpop);
    } catch (err) {
      config.logger.warn('token revocation failed; the login is ended here anyway', { hint, reason: String((err as Error)?.message ?? err) });
    }
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
