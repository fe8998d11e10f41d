/**
 * The authoritative token set of a login, kept outside the session (docs/design.md "Tokens under
 * concurrency"): express-session writes each request's whole copy of the session back when the
 * request ends, so a request that loaded the session before a refresh would write the old refresh
 * token back over the rotated one. The session keeps only a read-only copy; refresh reads and
 * writes here, with compare-and-set on the serialised value (which carries a version).
 */
import type { JWK } from 'jose';
import type { SharedStore } from './shared-store.js';

export interface TokenSet {
  /** Incremented on every write; the session copy records which version it mirrors. */
  version: number;
  accessToken?: string | undefined;
  /** Epoch seconds. */
  accessTokenExpiresAt?: number | undefined;
  /** Epoch seconds when the access token was obtained (its lifetime bounds the refresh leeway). */
  obtainedAt: number;
  refreshToken?: string | undefined;
  idToken?: string | undefined;
  /** `DPoP` when the access token is bound to `dpopKey` (RFC 9449 5); absent for Bearer. */
  tokenType?: 'DPoP' | undefined;
  /** The login's DPoP private key (session/dpop-keys.ts): every instance signs proofs with it. */
  dpopKey?: { alg: string; jwk: JWK } | undefined;
  /** Tombstone: the credential is dead (invalid_grant...). Every instance ends its sessions of this login. */
  ended?: true | undefined;
}

/** A token set as read, with the exact stored string for compare-and-set. */
export interface StoredTokenSet {
  set: TokenSet;
  raw: string;
}

// `{loginId}` is a Redis Cluster hash tag: a login's token set and its refresh lock (store/lock.ts)
// live in one slot, so one script can address both.
const key = (loginId: string) => `tokens:{${loginId}}`;
const channel = (loginId: string) => `tokens-changed:{${loginId}}`;

/** How long a login that had no stored set stays marked ended (see TokenStore.end). */
export const END_GUARD_MS = 5 * 60_000;

export class TokenStore {
  constructor(
    private readonly store: SharedStore,
    private readonly ttlMs: number,
  ) {}

  async read(loginId: string): Promise<StoredTokenSet | undefined> {
    const raw = await this.store.get(key(loginId));
    if (raw === undefined) return undefined;
    try {
      return { set: JSON.parse(raw) as TokenSet, raw };
    } catch {
      return undefined; // unreadable: treated as absent, the session copy seeds it again
    }
  }

  /**
   * TTL of a write: the configured one, but never shorter than the session that points to the set
   * (a session outliving its token set would fall back to its own, possibly stale, copy).
   */
  private ttl(sessionMaxAgeMs: number | undefined): number {
    return Math.max(this.ttlMs, sessionMaxAgeMs ?? 0);
  }

  /** Write at login (a new login id, nobody else knows it yet). */
  async create(loginId: string, set: TokenSet, sessionMaxAgeMs?: number): Promise<void> {
    await this.store.set(key(loginId), JSON.stringify(set), this.ttl(sessionMaxAgeMs));
    await this.store.replicate(key(loginId));
  }

  /**
   * Replace `previous` with `next`. With `previous` undefined, only if no set exists (a set seeded
   * from the session copy). False when another writer got there first.
   */
  async replace(loginId: string, previous: StoredTokenSet | undefined, next: TokenSet, sessionMaxAgeMs?: number): Promise<boolean> {
    const value = JSON.stringify(next);
    const ttl = this.ttl(sessionMaxAgeMs);
    const written = previous ? await this.store.compareAndSet(key(loginId), previous.raw, value, ttl) : await this.store.setIfAbsent(key(loginId), value, ttl);
    // A rotated refresh token must outlive a failover of the primary that took it.
    if (written) {
      await this.store.replicate(key(loginId));
      await this.announce(loginId);
    }
    return written;
  }

  /**
   * Mark the login's credential dead for every instance. A set that exists becomes a tombstone for
   * the store TTL (as long as a session could still point to it). One that does not (expired, or
   * never written since a restart) gets a tombstone only for END_GUARD_MS: long enough for
   * requests in flight when the login ended to finish and write their copy back, not the 30 days a
   * full tombstone would add per ended login.
   */
  async end(loginId: string): Promise<void> {
    const tombstone = JSON.stringify({ version: Number.MAX_SAFE_INTEGER, obtainedAt: Math.floor(Date.now() / 1000), ended: true } satisfies TokenSet);
    if (!(await this.store.setIfPresent(key(loginId), tombstone, this.ttlMs))) {
      await this.store.setIfAbsent(key(loginId), tombstone, Math.min(this.ttlMs, END_GUARD_MS));
    }
    await this.announce(loginId);
  }

  /**
   * Run `fn` when another writer changes this login's set (pub/sub, at most once: waiters poll
   * too). Resolves to the unsubscribe function.
   */
  onChange(loginId: string, fn: () => void): Promise<() => Promise<void>> {
    return this.store.subscribe(channel(loginId), fn);
  }

  /** Tell waiting instances the set changed. Best effort: a lost message costs them one poll. */
  private async announce(loginId: string): Promise<void> {
    await this.store.publish(channel(loginId)).catch(() => undefined);
  }
}
