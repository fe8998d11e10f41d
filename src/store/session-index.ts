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

const sidKey = (iss: string, sid: string) => `idx:sid:${iss}|${sid}`;
const subKey = (iss: string, sub: string) => `idx:sub:${iss}|${sub}`;
const member = (s: IndexedSession) => `${s.sessionId} ${s.loginId}`;

export class SessionIndex {
  constructor(
    private readonly store: SharedStore,
    private readonly ttlMs: number,
  ) {}

  async add(iss: string, sub: string, sid: string | undefined, session: IndexedSession, sessionMaxAgeMs?: number): Promise<void> {
    const ttl = Math.max(this.ttlMs, sessionMaxAgeMs ?? 0);
    await this.store.addToSet(subKey(iss, sub), member(session), ttl);
    if (sid) await this.store.addToSet(sidKey(iss, sid), member(session), ttl);
  }

  async remove(iss: string, sub: string, sid: string | undefined, session: IndexedSession): Promise<void> {
    await this.store.removeFromSet(subKey(iss, sub), member(session));
    if (sid) await this.store.removeFromSet(sidKey(iss, sid), member(session));
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
