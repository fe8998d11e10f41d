/**
 * The provider's side of the load test's pass criteria, computed from the fake OP's grant log
 * (FakeOp.tokenGrants) alone. Pure, so test/load/accounting.test.ts can check it on made-up logs.
 *
 * - Refresh grants per session per expiry: in each login (token family), a refresh grant is issued
 *   only once the access token it replaces was due (the library's refresh leeway: at most half the
 *   lifetime before expiry), each refresh token is redeemed at most once, and no refresh token is
 *   presented while an earlier presentation of it is still being answered (the single flight across
 *   instances held).
 * - Refresh tokens presented twice. Presenting a token again after a failed attempt the provider
 *   did not process (an injected 500, a stall it dropped, a restart that cut it) is a harmless
 *   retry. Presenting it after the provider rotated it is a reuse, which a provider counts as theft
 *   (and revokes the login). A reuse is explained when the rotation's answer never reached the
 *   library: the connection was lost before the answer (the library's timeout fired first, or the
 *   provider restarted), or the answer went to the app instance that was killed, shortly before its
 *   death. Any other reuse is a library bug.
 * - Theft signals: the provider's `reuse` outcomes. Besides the reuses above, a request the library
 *   had abandoned (its timeout fired) that the provider processed only after the library's retry
 *   had rotated the token: the library never presented a rotated token, the provider still sees one.
 */
import type { TokenGrantRecord } from '../support/fake-op.js';

export interface AccountingSettings {
  /** The access token lifetime the provider issues, in seconds. */
  accessTokenTtlSeconds: number;
  /** The library's refreshLeewaySeconds (capped at half the lifetime, as refreshDue does). */
  refreshLeewaySeconds: number;
  /**
   * The app instance killed on purpose (its `?rp=` tag at the token endpoint) and when it was seen
   * dead; a rotation answered to it within `windowMs` before its death may never have been stored.
   */
  kill?: { tag: string; at: number; windowMs: number };
}

/** A presentation of a refresh token after the provider had rotated it. */
export interface ReuseEvent {
  refreshToken: string;
  familyId: string | undefined;
  /** Who presented it again, and when. */
  by: string | undefined;
  at: number;
  /** Why the library did not know of the rotation: 'lost-answer', 'killed-instance', or 'unexplained' (a bug). */
  cause: 'lost-answer' | 'killed-instance' | 'unexplained';
}

export interface GrantAccounting {
  tokenRequests: number;
  byOutcome: Record<TokenGrantRecord['outcome'], number>;
  codeGrantsIssued: number;
  refreshGrantsIssued: number;
  /** Logins (families) that made at least one refresh grant. */
  familiesRefreshed: number;
  /** Most refresh grants issued for one token lifetime (one refresh token): must be <= 1. */
  maxIssuedPerLifetime: number;
  /** Most presentations of one refresh token, retries included. */
  maxPresentationsPerLifetime: number;
  /** Refresh grants issued before the access token they replace was due: must be 0. */
  earlyRefreshes: number;
  /** Presentations of a refresh token while an earlier presentation of it was still being answered: must be 0. */
  concurrentPresentations: number;
  /** Refresh tokens presented more than once, and how many extra presentations in all. */
  presentedTwice: { tokens: number; extraPresentations: number };
  /** Presentations after rotation, each with its cause. */
  reuses: ReuseEvent[];
  reuseByCause: Record<ReuseEvent['cause'], number>;
  /** The provider's `reuse` outcomes (theft signals): the reuses it processed, and abandoned requests it processed late. */
  theftSignals: { total: number; abandonedProcessedLate: number };
}

export function accountGrants(grants: readonly TokenGrantRecord[], settings: AccountingSettings): GrantAccounting {
  const byOutcome: GrantAccounting['byOutcome'] = { pending: 0, issued: 0, fault: 0, dropped: 0, reuse: 0, revoked: 0, invalid: 0 };
  for (const g of grants) byOutcome[g.outcome]++;

  // Presentations of each refresh token, in order of arrival.
  const presentations = new Map<string, TokenGrantRecord[]>();
  for (const g of grants) {
    if (g.grantType !== 'refresh_token' || g.refreshToken === undefined) continue;
    const list = presentations.get(g.refreshToken);
    if (list) list.push(g);
    else presentations.set(g.refreshToken, [g]);
  }
  // The grant that issued each refresh token (to find the lifetime a refresh replaces).
  const issuedBy = new Map<string, TokenGrantRecord>();
  for (const g of grants) if (g.outcome === 'issued' && g.issued?.refreshToken) issuedBy.set(g.issued.refreshToken, g);

  const lifetime = settings.accessTokenTtlSeconds;
  const leeway = Math.min(settings.refreshLeewaySeconds, lifetime / 2);
  let maxIssuedPerLifetime = 0;
  let maxPresentationsPerLifetime = 0;
  let earlyRefreshes = 0;
  let concurrentPresentations = 0;
  let abandonedProcessedLate = 0;
  const presentedTwice = { tokens: 0, extraPresentations: 0 };
  const reuses: ReuseEvent[] = [];

  for (const [token, list] of presentations) {
    maxPresentationsPerLifetime = Math.max(maxPresentationsPerLifetime, list.length);
    if (list.length > 1) {
      presentedTwice.tokens++;
      presentedTwice.extraPresentations += list.length - 1;
    }
    const issued = list.filter((g) => g.outcome === 'issued');
    maxIssuedPerLifetime = Math.max(maxIssuedPerLifetime, issued.length);

    // Due: the replaced access token's expiry minus the leeway. The library counts from when it
    // received the token (whole seconds, never before the provider's `iat` on this one clock), so a
    // grant that arrives before the provider's expiry minus the leeway came early.
    const origin = issuedBy.get(token)?.issued;
    for (const g of issued) {
      if (origin && g.receivedAt / 1000 < origin.accessTokenExpiresAt - leeway) earlyRefreshes++;
    }

    // Single flight: nothing arrives while an earlier presentation still waits for its answer.
    for (let i = 1; i < list.length; i++) {
      const later = list[i] as TokenGrantRecord;
      const pending = (e: TokenGrantRecord) =>
        later.receivedAt < Math.min(e.answeredAt ?? Number.POSITIVE_INFINITY, e.connectionLostAt ?? Number.POSITIVE_INFINITY);
      if (list.slice(0, i).some(pending)) concurrentPresentations++;
    }

    const rotation = issued[0];
    if (!rotation) continue;
    const rotatedAt = rotation.decidedAt ?? rotation.receivedAt;
    for (const p of list) {
      if (p === rotation) continue;
      if (p.receivedAt < rotatedAt) {
        // Sent before the rotation; a reuse outcome means the provider processed it after the
        // rotation, once the library had given up on it (else it counts as concurrent above).
        if (p.outcome === 'reuse') abandonedProcessedLate++;
        continue;
      }
      const answeredTo = rotation.answeredAt ?? rotation.receivedAt;
      let cause: ReuseEvent['cause'] = 'unexplained';
      if (rotation.connectionLostAt !== undefined) cause = 'lost-answer';
      else if (
        settings.kill &&
        rotation.query.rp === settings.kill.tag &&
        answeredTo <= settings.kill.at &&
        answeredTo >= settings.kill.at - settings.kill.windowMs
      ) {
        cause = 'killed-instance';
      }
      reuses.push({ refreshToken: token, familyId: p.familyId ?? rotation.familyId, by: p.query.rp, at: p.receivedAt, cause });
    }
  }

  const reuseByCause: GrantAccounting['reuseByCause'] = { 'lost-answer': 0, 'killed-instance': 0, unexplained: 0 };
  for (const r of reuses) reuseByCause[r.cause]++;
  const refreshIssued = grants.filter((g) => g.grantType === 'refresh_token' && g.outcome === 'issued');
  return {
    tokenRequests: grants.length,
    byOutcome,
    codeGrantsIssued: grants.filter((g) => g.grantType === 'authorization_code' && g.outcome === 'issued').length,
    refreshGrantsIssued: refreshIssued.length,
    familiesRefreshed: new Set(refreshIssued.map((g) => g.familyId)).size,
    maxIssuedPerLifetime,
    maxPresentationsPerLifetime,
    earlyRefreshes,
    concurrentPresentations,
    presentedTwice,
    reuses,
    reuseByCause,
    theftSignals: { total: byOutcome.reuse, abandonedProcessedLate },
  };
}

/** A page answered as signed in although the library had been told the login was dead. */
export interface ServedAfterRefusal {
  accessToken: string;
  familyId: string;
  sentAt: number;
  /** When the provider's refusal of the login's refresh token reached the library. */
  refusedAt: number;
}

/**
 * Half-broken sessions, from the provider's side: a request answered as signed in (with an access
 * token of some login) that was sent after the provider had told the library, in an answer that
 * reached it, that the login's refresh token is dead (revoked, or reused). The library knew, so the
 * session should have ended then. Refusals answered to the killed instance shortly before its
 * death do not count (it may have died before ending the session).
 */
export function servedAfterRefusal(
  grants: readonly TokenGrantRecord[],
  served: ReadonlyArray<{ accessToken: string; sentAt: number }>,
  kill?: AccountingSettings['kill'],
): ServedAfterRefusal[] {
  const familyOf = new Map<string, string>();
  for (const g of grants) if (g.issued && g.familyId !== undefined) familyOf.set(g.issued.accessToken, g.familyId);
  const refusedAt = new Map<string, number>();
  for (const g of grants) {
    if (g.grantType !== 'refresh_token' || g.familyId === undefined || g.answeredAt === undefined || g.connectionLostAt !== undefined) continue;
    if (g.outcome !== 'revoked' && g.outcome !== 'reuse') continue;
    if (kill && g.query.rp === kill.tag && g.answeredAt <= kill.at && g.answeredAt >= kill.at - kill.windowMs) continue;
    refusedAt.set(g.familyId, Math.min(refusedAt.get(g.familyId) ?? Number.POSITIVE_INFINITY, g.answeredAt));
  }
  const out: ServedAfterRefusal[] = [];
  for (const s of served) {
    const familyId = familyOf.get(s.accessToken);
    const refused = familyId === undefined ? undefined : refusedAt.get(familyId);
    if (familyId !== undefined && refused !== undefined && s.sentAt > refused) out.push({ ...s, familyId, refusedAt: refused });
  }
  return out;
}
