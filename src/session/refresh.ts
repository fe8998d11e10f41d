/**
 * Refreshing a session's tokens (RFC 6749 6, OIDC Core 12) exactly once, however many requests
 * of the session arrive with an expired access token, in one process or many.
 *
 * 1. In process: concurrent requests of one login share one promise.
 * 2. Across processes: a lock in the shared store (Redis when configured) keyed by login id;
 *    the holder re-reads the token set under the lock and refreshes only if it is still due;
 *    the others poll the token set until it is fresh (bounded wait).
 * 3. The new set is written with compare-and-set on the version it was computed from.
 *
 * A stale session copy can then only hold a stale access token, which the next request notices
 * and replaces from the store, never a stale refresh token that would be presented again.
 */
import type { Request } from 'express';
import { OidcError, isOidcError, isTransientProviderError } from '../errors.js';
import { refreshTokenGrant, type TokenResponse } from '../protocol/token-endpoint.js';
import type { ProviderMetadata } from '../protocol/discovery.js';
import { authTimeDeviation } from '../protocol/id-token.js';
import type { Provider } from '../protocol/provider.js';
import { pollDelay, type InProcessSingleFlight, type Lease, type LockAttempt, type SharedLock } from '../store/lock.js';
import type { StoredTokenSet, TokenSet, TokenStore } from '../store/token-store.js';
import type { OidcHooks, OidcLogger } from '../types.js';
import { sessionMaxAgeMs, type AuthenticatedSession } from './session-data.js';
import type { DpopKeys } from './dpop-keys.js';

/** What the OIDC_STORE_* flags let a session copy hold. */
export interface TokenStorageSettings {
  storeAccessToken: boolean;
  storeRefreshToken: boolean;
  storeIdToken: boolean;
}

/** The configuration the refresher reads (ResolvedConfig has all of it). */
export interface RefreshSettings extends TokenStorageSettings {
  refreshLeewaySeconds: number;
  strictRefreshAuthTime: boolean;
  security: { dpop: boolean };
  hooks: Pick<OidcHooks, 'onTokensRefreshed'>;
  logger: OidcLogger;
}

export interface RefresherDeps {
  settings: RefreshSettings;
  provider: Provider;
  tokens: TokenStore;
  lock: SharedLock;
  flights: InProcessSingleFlight;
  dpopKeys: DpopKeys;
}

export type RefreshOutcome =
  /** No grant was needed: the set is fresh (perhaps refreshed by another request or instance). */
  | { kind: 'current'; set: TokenSet }
  /** This flight made the refresh grant. */
  | { kind: 'refreshed'; set: TokenSet }
  /** The credential is dead: end the session. */
  | { kind: 'ended'; error: OidcError }
  /** Temporary failure: nothing changed, try again on a later request. */
  | { kind: 'failed'; error: OidcError };

/**
 * Is the access token due for refresh? Leeway before expiry, but never more than half the token's
 * lifetime, so short-lived tokens are not refreshed on every request. Pure.
 */
export function refreshDue(expiresAt: number | undefined, obtainedAt: number, leewaySeconds: number, now: number): boolean {
  if (expiresAt === undefined) return false; // no expires_in: nothing tells us to refresh
  const lifetime = Math.max(0, expiresAt - obtainedAt);
  const leeway = Math.min(leewaySeconds, lifetime / 2);
  return now >= expiresAt - leeway;
}

/** The session copy as a token set, for a login whose set is not in the store (e.g. after a restart). */
export function tokenSetFromSession(auth: AuthenticatedSession): TokenSet {
  return {
    version: auth.tokenVersion,
    accessToken: auth.accessToken,
    accessTokenExpiresAt: auth.accessTokenExpiresAt,
    obtainedAt: auth.tokensObtainedAt,
    refreshToken: auth.refreshToken,
    idToken: auth.idToken,
  };
}

/**
 * The set to refresh from: the stored one, unless the session copy is newer. Versions only move
 * forward, so a stored set older than a session's copy means the store lost a write (a Redis
 * failover promoted a replica that had not received it): the session copy then holds the newest
 * refresh token, and presenting the stored one would replay a rotated token (the provider revokes
 * the family). A tombstone always wins (its version is the highest).
 */
export function newestSet(stored: StoredTokenSet | undefined, auth: AuthenticatedSession): TokenSet {
  if (!stored) return tokenSetFromSession(auth);
  // Without a refresh token of its own (OIDC_STORE_REFRESH_TOKEN off), the session copy cannot stand in.
  if (stored.set.ended || stored.set.version >= auth.tokenVersion || auth.refreshToken === undefined) return stored.set;
  // The session never holds the DPoP key: it stays the stored set's (the same login's key).
  return { ...tokenSetFromSession(auth), dpopKey: stored.set.dpopKey, tokenType: stored.set.tokenType };
}

/** Copy a token set into the session, per the OIDC_STORE_* flags. Returns false if nothing changed. */
export function applyTokenSet(auth: AuthenticatedSession, set: TokenSet, config: TokenStorageSettings): boolean {
  if (auth.tokenVersion === set.version && auth.accessTokenExpiresAt === set.accessTokenExpiresAt) return false;
  auth.tokenVersion = set.version;
  auth.tokensObtainedAt = set.obtainedAt;
  auth.accessTokenExpiresAt = set.accessTokenExpiresAt;
  if (config.storeAccessToken) auth.accessToken = set.accessToken;
  if (config.storeRefreshToken) auth.refreshToken = set.refreshToken;
  if (config.storeIdToken) auth.idToken = set.idToken;
  return true;
}

export class TokenRefresher {
  /** Issuers already warned about re-stamping auth_time: one warning per provider and process. */
  private readonly authTimeWarned = new Set<string>();

  private readonly settings: RefreshSettings;
  private readonly provider: Provider;
  private readonly tokens: TokenStore;
  private readonly lock: SharedLock;
  private readonly flights: InProcessSingleFlight;
  private readonly dpopKeys: DpopKeys;

  constructor(deps: RefresherDeps) {
    ({ settings: this.settings, provider: this.provider, tokens: this.tokens, lock: this.lock, flights: this.flights, dpopKeys: this.dpopKeys } = deps);
  }

  /** Due by its expiry, or (`stale`) a set no newer than one a resource server refused. */
  private due(set: TokenSet, stale: number | undefined): boolean {
    if (stale !== undefined && set.version <= stale) return true;
    return refreshDue(set.accessTokenExpiresAt, set.obtainedAt, this.settings.refreshLeewaySeconds, Math.floor(Date.now() / 1000));
  }

  /**
   * Bring the login's tokens up to date; see the module comment for the protocol. `staleVersion`:
   * a resource server refused the access token of this version (401 invalid_token), so it is
   * refreshed whatever its expiry says, unless a newer set exists already.
   */
  refresh(auth: AuthenticatedSession, req: Request, opts: { staleVersion?: number } = {}): Promise<RefreshOutcome> {
    return this.flights.run(auth.loginId, () => this.refreshAcrossInstances(auth, req, opts.staleVersion));
  }

  private async refreshAcrossInstances(auth: AuthenticatedSession, req: Request, stale: number | undefined): Promise<RefreshOutcome> {
    const { maxWaitMs } = this.lock.options;
    const deadline = Date.now() + maxWaitMs;
    // Woken when the holder writes the set (pub/sub); the backed-off poll is the fallback.
    let wake: (() => void) | undefined;
    let unsubscribe: (() => Promise<void>) | undefined;
    try {
      return await this.waitOrRefresh(auth, req, deadline, stale, async (polls) => {
        unsubscribe ??= await this.tokens.onChange(auth.loginId, () => wake?.()).catch(() => async () => undefined);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollDelay(this.lock.options, polls));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      });
    } finally {
      await unsubscribe?.().catch(() => undefined);
    }
  }

  private async waitOrRefresh(
    auth: AuthenticatedSession,
    req: Request,
    deadline: number,
    stale: number | undefined,
    wait: (polls: number) => Promise<void>,
  ): Promise<RefreshOutcome> {
    for (let polls = 0; ; polls++) {
      let stored: StoredTokenSet | undefined;
      try {
        stored = await this.tokens.read(auth.loginId);
      } catch (err) {
        return this.failed(err, 'the token store could not be read');
      }
      if (stored?.set.ended) return { kind: 'ended', error: new OidcError('OIDC_SESSION_ENDED', 'the login was ended by another request') };
      const base = newestSet(stored, auth);
      if (!this.due(base, stale)) return { kind: 'current', set: base };

      let attempt: LockAttempt<RefreshOutcome>;
      try {
        attempt = await this.lock.tryWith(auth.loginId, async (lease) => {
          // Re-read under the lock: the previous holder may have refreshed just now.
          const latest = await this.tokens.read(auth.loginId);
          if (latest?.set.ended) return { kind: 'ended', error: new OidcError('OIDC_SESSION_ENDED', 'the login was ended by another request') } as const;
          const current = newestSet(latest, auth);
          if (!this.due(current, stale)) return { kind: 'current', set: current } as const;
          return this.grant(auth, req, current, latest, lease);
        });
      } catch (err) {
        return this.failed(err, 'the refresh lock could not be taken');
      }
      if (attempt.acquired) return attempt.value;
      if (Date.now() >= deadline) {
        return {
          kind: 'failed',
          error: new OidcError('OIDC_REFRESH_FAILED', 'timed out waiting for another instance to refresh the tokens', { statusCode: 503 }),
        };
      }
      // Backed off and jittered: a waiter costs a few store commands per second, not forty.
      await wait(polls);
    }
  }

  /**
   * A provider that re-stamps or drops auth_time on refresh bends OIDC Core 12.2. The session keeps
   * the login's claims (auth_time included: the original authentication time), so nothing changes
   * for the app; say once which provider does it, so max_age-style checks are not misread.
   */
  private noteAuthTimeDeviation(deviation: 'changed' | 'missing' | undefined, issuer: string): void {
    if (deviation === undefined || this.authTimeWarned.has(issuer)) return;
    this.authTimeWarned.add(issuer);
    this.settings.logger.warn(
      `the provider ${deviation === 'changed' ? 're-stamps' : 'drops'} "auth_time" in refreshed ID tokens (OIDC Core 12.2 says it must stay the original authentication time); keeping the login's auth_time. Set OIDC_STRICT_REFRESH_AUTH_TIME=true to end such sessions instead`,
      { iss: issuer, deviation },
    );
  }

  private failed(err: unknown, what: string): RefreshOutcome {
    const error = isOidcError(err) ? err : new OidcError('OIDC_REFRESH_FAILED', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    error.statusCode = 503;
    return { kind: 'failed', error };
  }

  /** The refresh_token grant itself, under the lock. */
  private async grant(auth: AuthenticatedSession, req: Request, current: TokenSet, latest: StoredTokenSet | undefined, lease: Lease): Promise<RefreshOutcome> {
    const { provider, settings: config } = this;
    if (!current.refreshToken) return { kind: 'ended', error: new OidcError('OIDC_SESSION_ENDED', 'no refresh token') };
    let meta: ProviderMetadata;
    let res: TokenResponse;
    let dpop: Awaited<ReturnType<DpopKeys['fresh']>> | undefined;
    try {
      // The login's key; a login without one (made before DPoP was on, or whose set was lost)
      // gets a new one: a confidential client's refresh token is not bound to a key (RFC 9449 5).
      if (current.dpopKey) dpop = { key: await this.dpopKeys.use(current.dpopKey), stored: current.dpopKey };
      else if (config.security.dpop) dpop = await this.dpopKeys.fresh();
      meta = await provider.discovery.get();
      // A holder that lost its lease (its renewal failed: the store unreachable, or a stall past the
      // lease) may no longer be the only one refreshing: never present the refresh token then.
      if (lease.lost) return this.failed(new OidcError('OIDC_REFRESH_FAILED', 'the refresh lock was lost before the grant'), 'refresh failed');
      res = await refreshTokenGrant(provider.tokenCall(meta, dpop?.key), current.refreshToken);
    } catch (err) {
      return this.classify(auth, err);
    }

    let idToken = current.idToken;
    if (res.idToken !== undefined) {
      try {
        // OIDC Core 12.2: same iss and sub, aud contains us; no nonce was sent so none is checked.
        const previous = {
          iss: auth.iss,
          sub: auth.sub,
          auth_time: numberOrUndefined(auth.claims.auth_time),
          tid: typeof auth.claims.tid === 'string' ? auth.claims.tid : undefined,
          strictAuthTime: config.strictRefreshAuthTime,
        };
        const claims = await provider.validateIdToken(res.idToken, meta, undefined, previous);
        this.noteAuthTimeDeviation(authTimeDeviation(claims, previous), auth.iss);
        idToken = res.idToken;
      } catch (err) {
        if (!isTransientProviderError(err)) return this.classify(auth, err);
        // The grant succeeded and the provider may have rotated the refresh token: keep the new
        // tokens (they came straight from the token endpoint over TLS) and the previous ID token.
        config.logger.warn('refreshed ID token could not be validated now; keeping the previous one', { code: (err as OidcError).code });
      }
    }

    // Only what the OIDC_STORE_* flags allow is kept, here as in the session.
    const next: TokenSet = {
      version: current.version + 1,
      accessToken: config.storeAccessToken ? res.accessToken : undefined,
      accessTokenExpiresAt: res.expiresAt,
      obtainedAt: res.obtainedAt,
      // RFC 6749 6: the provider MAY issue a new refresh token; if it does not, the old one stays valid.
      refreshToken: res.refreshToken ?? current.refreshToken,
      // Kept whatever OIDC_STORE_ID_TOKEN says: logout needs it for id_token_hint.
      idToken,
      tokenType: res.tokenType === 'DPoP' ? 'DPoP' : undefined,
      dpopKey: dpop?.stored,
    };
    try {
      if (!(await this.tokens.replace(auth.loginId, latest, next, sessionMaxAgeMs(req)))) {
        // Only possible when our lock expired mid-refresh and someone else wrote: theirs wins.
        config.logger.warn('token set changed during refresh (lock expired?); using the stored one', { loginId: auth.loginId });
        const now = await this.tokens.read(auth.loginId);
        if (now) return now.set.ended ? { kind: 'ended', error: new OidcError('OIDC_SESSION_ENDED', 'login ended') } : { kind: 'current', set: now.set };
      }
    } catch (err) {
      // The provider rotated the token but we could not store it: this attempt failed; the session
      // copy below still gets the new tokens so this instance keeps working.
      config.logger.error('refreshed tokens could not be written to the token store', { reason: (err as Error)?.message });
    }
    if (config.hooks.onTokensRefreshed) {
      try {
        await config.hooks.onTokensRefreshed(
          { accessToken: next.accessToken, accessTokenExpiresAt: next.accessTokenExpiresAt, refreshToken: next.refreshToken, idToken: next.idToken },
          req,
        );
      } catch (err) {
        config.logger.error('onTokensRefreshed hook threw', { reason: (err as Error)?.message });
      }
    }
    config.logger.debug('tokens refreshed', { sub: auth.sub, version: next.version });
    return { kind: 'refreshed', set: next };
  }

  /** docs/design.md "Failure semantics": transient -> nothing changes; otherwise the credential is dead. */
  private async classify(auth: AuthenticatedSession, err: unknown): Promise<RefreshOutcome> {
    if (isTransientProviderError(err)) return this.failed(err, 'refresh failed');
    const error = isOidcError(err) ? err : new OidcError('OIDC_SESSION_ENDED', String((err as Error)?.message ?? err), { cause: err });
    await this.tokens.end(auth.loginId).catch((e: unknown) => {
      this.settings.logger.error('could not mark the login ended in the token store', { reason: (e as Error)?.message });
    });
    return { kind: 'ended', error };
  }
}

function numberOrUndefined(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
