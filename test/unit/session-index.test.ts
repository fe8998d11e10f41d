/**
 * SessionIndex (src/store/session-index.ts) and TokenStore.end on the in-memory store with a clock
 * the test moves: the index holds only live sessions, however often one user logs in, and only
 * token sets that exist get a tombstone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySharedStore } from '../../src/store/shared-store.js';
import { SessionIndex } from '../../src/store/session-index.js';
import { END_GUARD_MS, TokenStore } from '../../src/store/token-store.js';

const ISS = 'https://op.example.com';
const HOUR = 3600_000;
let t = 1_800_000_000_000;
const store = new MemorySharedStore(60_000, () => t);
afterEach(() => {
  t += 1000 * HOUR;
});

describe('SessionIndex: bounded', () => {
  it('one user logging in 1,000 times, each session living an hour: the index holds only the live ones', async () => {
    const index = new SessionIndex(store, HOUR);
    for (let i = 0; i < 1000; i++) {
      await index.add(ISS, 'user-1', `sid-${i}`, { sessionId: `s-${i}`, loginId: `l-${i}` });
      t += 60_000; // a login a minute
    }
    // A minute after the last login: the logins of the last hour are 941..999 (940 is exactly an
    // hour old, expired), 59 of 1,000.
    const live = await index.find(ISS, { sub: 'user-1' });
    expect(live).toHaveLength(59);
    expect(live.map((s) => s.loginId)).toContain('l-999');
    expect(live.map((s) => s.loginId)).toContain('l-941');
    expect(live.map((s) => s.loginId)).not.toContain('l-940');
    // Each provider session's own entry expired with it.
    expect(await index.find(ISS, { sid: 'sid-0' })).toEqual([]);
    expect(await index.find(ISS, { sid: 'sid-999' })).toEqual([{ sessionId: 's-999', loginId: 'l-999' }]);
  });

  it('forget drops ended sessions from the sid key and, when the logout names the user, from the sub key', async () => {
    const index = new SessionIndex(store, HOUR);
    const a = { sessionId: 's-a', loginId: 'l-a' };
    const b = { sessionId: 's-b', loginId: 'l-b' };
    await index.add(ISS, 'user-2', 'sid-x', a);
    await index.add(ISS, 'user-2', 'sid-x', b);
    await index.forget(ISS, { sid: 'sid-x', sub: 'user-2' }, [a]);
    expect(await index.find(ISS, { sid: 'sid-x' })).toEqual([b]);
    expect(await index.find(ISS, { sub: 'user-2' })).toEqual([b]);
    await index.forget(ISS, { sid: 'sid-x' }, [b]);
    expect(await index.find(ISS, { sid: 'sid-x' })).toEqual([]);
    // A sid-only logout leaves the user's entry to expire with its TTL.
    expect(await index.find(ISS, { sub: 'user-2' })).toEqual([b]);
  });
});

describe('TokenStore.end: a full tombstone only for sets that exist', () => {
  it('an existing set becomes a tombstone for the store TTL; an expired or unknown one only for END_GUARD_MS', async () => {
    const tokens = new TokenStore(store, HOUR);
    await tokens.create('live', { version: 1, obtainedAt: 0, refreshToken: 'rt' });
    await tokens.end('live');
    await tokens.create('old', { version: 1, obtainedAt: 0, refreshToken: 'rt' });
    t += 2 * HOUR;
    expect(await tokens.read('live')).toBeUndefined(); // the tombstone lived the store TTL
    await tokens.end('old');
    await tokens.end('never-existed');
    // Requests in flight when these logins ended still find them ended...
    expect((await tokens.read('old'))?.set.ended).toBe(true);
    expect((await tokens.read('never-existed'))?.set.ended).toBe(true);
    // ...for END_GUARD_MS, not for the 30 days of a full tombstone.
    t += END_GUARD_MS;
    expect(await tokens.read('old')).toBeUndefined();
    expect(await tokens.read('never-existed')).toBeUndefined();
  });
});
