/**
 * The load test's grant accounting (test/load/accounting.ts) on made-up grant logs: it must count
 * what is harmless as harmless and flag each kind of library failure.
 */
import { describe, expect, it } from 'vitest';
import type { TokenGrantRecord } from '../support/fake-op.js';
import { accountGrants, servedAfterRefusal, type AccountingSettings } from './accounting.js';

const T0 = 1_700_000_000_000; // ms; a whole second
const TTL = 3;
const settings: AccountingSettings = { accessTokenTtlSeconds: TTL, refreshLeewaySeconds: 30 };

/** A grant received at T0 + `at` ms, decided 5 ms and answered 10 ms later unless told otherwise. */
function grant(at: number, g: Partial<TokenGrantRecord> & Pick<TokenGrantRecord, 'outcome'>): TokenGrantRecord {
  const receivedAt = T0 + at;
  const decided = g.outcome === 'pending' ? {} : { decidedAt: receivedAt + 5 };
  const answered = g.outcome === 'pending' || g.outcome === 'dropped' ? {} : { answeredAt: receivedAt + 10 };
  return { grantType: 'refresh_token', query: { rp: 'a1' }, receivedAt, familyId: 'f1', ...decided, ...answered, ...g };
}

/** Tokens issued at T0 + `at` ms: the access token expires TTL whole seconds later. */
function issued(at: number, refreshToken: string): TokenGrantRecord['issued'] {
  return { accessToken: `at-${refreshToken}`, accessTokenExpiresAt: Math.floor((T0 + at) / 1000) + TTL, refreshToken };
}

const login = grant(0, { grantType: 'authorization_code', outcome: 'issued', issued: issued(0, 'rt1') });

describe('load test grant accounting', () => {
  it('a login refreshed once per lifetime, when due: no finding', () => {
    const a = accountGrants(
      [
        login,
        grant(1600, { refreshToken: 'rt1', outcome: 'issued', issued: issued(1600, 'rt2') }),
        grant(3300, { refreshToken: 'rt2', outcome: 'issued', issued: issued(3300, 'rt3') }),
      ],
      settings,
    );
    expect(a).toMatchObject({
      tokenRequests: 3,
      codeGrantsIssued: 1,
      refreshGrantsIssued: 2,
      familiesRefreshed: 1,
      maxIssuedPerLifetime: 1,
      maxPresentationsPerLifetime: 1,
      earlyRefreshes: 0,
      concurrentPresentations: 0,
      presentedTwice: { tokens: 0, extraPresentations: 0 },
      reuses: [],
      theftSignals: { total: 0, abandonedProcessedLate: 0 },
    });
  });

  it('a retry after a 500, a dropped stall or a cut connection is not a reuse', () => {
    const a = accountGrants(
      [
        login,
        grant(1600, { refreshToken: 'rt1', outcome: 'fault' }),
        grant(1700, { refreshToken: 'rt1', outcome: 'dropped', connectionLostAt: T0 + 2700 }),
        grant(2800, { refreshToken: 'rt1', outcome: 'pending', connectionLostAt: T0 + 2900 }),
        grant(3000, { refreshToken: 'rt1', outcome: 'issued', issued: issued(3000, 'rt2') }),
      ],
      settings,
    );
    expect(a.presentedTwice).toEqual({ tokens: 1, extraPresentations: 3 });
    expect(a.maxPresentationsPerLifetime).toBe(4);
    expect(a.maxIssuedPerLifetime).toBe(1);
    expect(a.concurrentPresentations).toBe(0);
    expect(a.reuses).toEqual([]);
  });

  it('a reuse after a lost answer or after the killed instance got the rotation is explained; any other is not', () => {
    const lost = accountGrants(
      [
        login,
        { ...grant(1600, { refreshToken: 'rt1', outcome: 'issued', issued: issued(1600, 'rt2'), connectionLostAt: T0 + 1602 }), answeredAt: undefined },
        grant(2000, { refreshToken: 'rt1', outcome: 'reuse', query: { rp: 'b' } }),
      ],
      settings,
    );
    expect(lost.presentedTwice).toEqual({ tokens: 1, extraPresentations: 1 });
    expect(lost.theftSignals).toEqual({ total: 1, abandonedProcessedLate: 0 });
    expect(lost.reuses).toEqual([{ refreshToken: 'rt1', familyId: 'f1', by: 'b', at: T0 + 2000, cause: 'lost-answer' }]);

    const log = [
      login,
      grant(1600, { refreshToken: 'rt1', outcome: 'issued', issued: issued(1600, 'rt2') }),
      grant(4000, { refreshToken: 'rt1', outcome: 'reuse', query: { rp: 'b' } }),
      grant(4100, { refreshToken: 'rt1', outcome: 'revoked', query: { rp: 'b' } }),
    ];
    const killed = accountGrants(log, { ...settings, kill: { tag: 'a1', at: T0 + 2000, windowMs: 2000 } });
    expect(killed.reuseByCause).toEqual({ 'lost-answer': 0, 'killed-instance': 2, unexplained: 0 });
    expect(killed.reuses).toHaveLength(2);
    // The same log when the kill came long after the rotation was answered, or hit another instance.
    expect(accountGrants(log, { ...settings, kill: { tag: 'a1', at: T0 + 9000, windowMs: 2000 } }).reuseByCause.unexplained).toBe(2);
    expect(accountGrants(log, { ...settings, kill: { tag: 'a2', at: T0 + 2000, windowMs: 2000 } }).reuseByCause.unexplained).toBe(2);
    expect(accountGrants(log, settings).reuses.map((r) => r.cause)).toEqual(['unexplained', 'unexplained']);
  });

  it('presenting a token the provider refused (never rotated) again is no reuse', () => {
    const a = accountGrants(
      [login, grant(1600, { refreshToken: 'rt1', outcome: 'revoked' }), grant(1700, { refreshToken: 'rt1', outcome: 'revoked' })],
      settings,
    );
    expect(a.presentedTwice).toEqual({ tokens: 1, extraPresentations: 1 });
    expect(a.reuses).toEqual([]);
  });

  it('a request the library abandoned, processed by the provider after the retry rotated the token: a theft signal, not a reuse', () => {
    const a = accountGrants(
      [
        login,
        // Stalled at the provider: the library gives up at 2600, retries at 3000; the stalled one is processed at 3200.
        { ...grant(1600, { refreshToken: 'rt1', outcome: 'reuse', connectionLostAt: T0 + 2600 }), decidedAt: T0 + 3200, answeredAt: undefined },
        grant(3000, { refreshToken: 'rt1', outcome: 'issued', issued: issued(3000, 'rt2') }),
      ],
      settings,
    );
    expect(a.reuses).toEqual([]);
    expect(a.theftSignals).toEqual({ total: 1, abandonedProcessedLate: 1 });
    expect(a.concurrentPresentations).toBe(0);
  });

  it('flags a refresh before the token was due and a presentation while another is being answered', () => {
    const early = accountGrants([login, grant(1400, { refreshToken: 'rt1', outcome: 'issued', issued: issued(1400, 'rt2') })], settings);
    expect(early.earlyRefreshes).toBe(1);

    const overlapping = accountGrants(
      [
        login,
        { ...grant(1600, { refreshToken: 'rt1', outcome: 'issued', issued: issued(1600, 'rt2') }), answeredAt: T0 + 1900 },
        grant(1700, { refreshToken: 'rt1', outcome: 'reuse', query: { rp: 'b' } }),
      ],
      settings,
    );
    expect(overlapping.concurrentPresentations).toBe(1);
  });

  it('a page served as signed in after the library was told the refresh token is dead is found, with its login', () => {
    const log = [
      login,
      grant(1600, { refreshToken: 'rt1', outcome: 'issued', issued: issued(1600, 'rt2') }),
      // The refusal reaches the library at 3010.
      grant(3000, { refreshToken: 'rt2', outcome: 'revoked', query: { rp: 'b' } }),
    ];
    const pages = [
      { accessToken: 'at-rt2', sentAt: T0 + 2000 },
      { accessToken: 'at-rt2', sentAt: T0 + 3500 },
      { accessToken: 'at-unknown', sentAt: T0 + 3500 },
    ];
    expect(servedAfterRefusal(log, pages)).toEqual([{ accessToken: 'at-rt2', sentAt: T0 + 3500, familyId: 'f1', refusedAt: T0 + 3010 }]);
    // A refusal that never reached the library (the connection was lost), or reached the instance killed right after, does not count.
    const lost = [...log.slice(0, 2), { ...grant(3000, { refreshToken: 'rt2', outcome: 'reuse' }), answeredAt: undefined, connectionLostAt: T0 + 2999 }];
    expect(servedAfterRefusal(lost, pages)).toEqual([]);
    expect(servedAfterRefusal(log, pages, { tag: 'b', at: T0 + 3100, windowMs: 2000 })).toEqual([]);
  });
});
