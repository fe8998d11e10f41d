/**
 * Which sessions belong to a provider session (`sid`) or a user (`sub`), so a back-channel or
 * front-channel logout can end them without the user's browser. Kept in the shared store (Redis when
 * configured, so every instance sees every session), written at login, cleaned at logout, and expiring
 * with the sessions it points to.
 */
import type { SharedStore } from './shared-store.js';

export interface IndexedSession {
  /** express-session's id. */
  sessionId: string;
  /** The login's id (its token set). */
  loginId: string;
}

// `index:` (not the `idx:` plain sets of earlier versions, which expire on their own): these are
// sets of expiring members, a different Redis type under the same name would fail.
const sidKey = (iss: string, sid: string) => `index:sid:${iss}|${sid}`;
const subKey = (iss: string, sub: string) => `index:sub:${iss}|${sub}`;
const member = (s: IndexedSession) => `${s.sessionId} ${s.loginId}`;

export class SessionIndex {
  constructor(
    private readonly store: SharedStore,
    private readonly ttlMs: number,
  ) {}

  async add(iss: string, sub: string, sid: string | undefined, session: IndexedSession, sessionMaxAgeMs?: number): Promise<void> {
    const ttl = Math.max(this.ttlMs, sessionMaxAgeMs ?? 0);
    // Two keys, two independent writes: with Redis, one round trip of waiting instead of two.
    await Promise.all([
      this.store.addToSet(subKey(iss, sub), member(session), ttl),
      sid ? this.store.addToSet(sidKey(iss, sid), member(session), ttl) : undefined,
    ]);
  }

  async remove(iss: string, sub: string, sid: string | undefined, session: IndexedSession): Promise<void> {
    await this.store.removeFromSet(subKey(iss, sub), member(session));
    if (sid) await this.store.removeFromSet(sidKey(iss, sid), member(session));
  }

  /**
   * Drop sessions a logout ended from the keys it found them by, and from the user's key when the
   * logout names the user (a sid-only back-channel logout leaves the sub entry to expire with its
   * TTL). Removing a member a key does not hold is a no-op.
   */
  async forget(iss: string, target: { sid?: string | undefined; sub?: string | undefined }, sessions: IndexedSession[]): Promise<void> {
    for (const s of sessions) {
      if (target.sid) await this.store.removeFromSet(sidKey(iss, target.sid), member(s));
      if (target.sub) await this.store.removeFromSet(subKey(iss, target.sub), member(s));
    }
  }

  /**
   * Back-Channel Logout 1.0 section 2.7: with a sid, exactly the sessions of that provider session
   * (even when sub is present too); with only a sub, every session of that user.
   */
  async find(iss: string, target: { sid?: string | undefined; sub?: string | undefined }): Promise<IndexedSession[]> {
    const key = target.sid ? sidKey(iss, target.sid) : target.sub ? subKey(iss, target.sub) : undefined;
    if (!key) return [];
    return (await this.store.members(key)).map((m) => {
      const [sessionId = '', loginId = ''] = m.split(' ');
      return { sessionId, loginId };
    });
  }
}
