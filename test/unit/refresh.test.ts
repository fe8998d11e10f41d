/**
 * The pure parts of src/session/refresh.ts: the refresh-due rule (leeway before expiry, capped at
 * half the token's lifetime), and copying token sets between the session and the shared store.
 * TokenRefresher itself is covered by the integration tests (session-refresh, multi-instance).
 */
import { describe, expect, it } from 'vitest';
import { applyTokenSet, refreshDue, tokenSetFromSession, type TokenStorageSettings } from '../../src/session/refresh.js';
import type { AuthenticatedSession } from '../../src/session/session-data.js';
import type { TokenSet } from '../../src/store/token-store.js';

const OBTAINED = 1_700_000_000;

describe('refreshDue', () => {
  it('is never due without an expiry (no expires_in): nothing says when to refresh', () => {
    for (const now of [OBTAINED, OBTAINED + 3600, OBTAINED + 10 * 365 * 86400]) {
      expect(refreshDue(undefined, OBTAINED, 60, now)).toBe(false);
    }
  });

  it('a long-lived token is due `leeway` seconds before expiry, not a second earlier', () => {
    const exp = OBTAINED + 3600;
    expect(refreshDue(exp, OBTAINED, 60, exp - 61)).toBe(false);
    expect(refreshDue(exp, OBTAINED, 60, exp - 60)).toBe(true);
    expect(refreshDue(exp, OBTAINED, 60, exp - 1)).toBe(true);
  });

  it('stays due at and after expiry', () => {
    const exp = OBTAINED + 3600;
    expect(refreshDue(exp, OBTAINED, 60, exp)).toBe(true);
    expect(refreshDue(exp, OBTAINED, 60, exp + 86400)).toBe(true);
  });

  it('caps the leeway at half the lifetime, so a short-lived token is not refreshed on every request', () => {
    // 10 s token, 60 s leeway: due 5 s before expiry, not at once.
    const exp = OBTAINED + 10;
    expect(refreshDue(exp, OBTAINED, 60, OBTAINED)).toBe(false);
    expect(refreshDue(exp, OBTAINED, 60, exp - 6)).toBe(false);
    expect(refreshDue(exp, OBTAINED, 60, exp - 5)).toBe(true);
  });

  it('leeway exactly half the lifetime: the cap and the leeway agree', () => {
    const exp = OBTAINED + 120;
    expect(refreshDue(exp, OBTAINED, 60, exp - 61)).toBe(false);
    expect(refreshDue(exp, OBTAINED, 60, exp - 60)).toBe(true);
  });

  it('an odd lifetime halves to a fraction: due from the first whole second inside it', () => {
    const exp = OBTAINED + 11; // leeway 5.5 s
    expect(refreshDue(exp, OBTAINED, 60, exp - 6)).toBe(false);
    expect(refreshDue(exp, OBTAINED, 60, exp - 5)).toBe(true);
  });

  it('leeway 0: due exactly at expiry', () => {
    const exp = OBTAINED + 3600;
    expect(refreshDue(exp, OBTAINED, 0, exp - 1)).toBe(false);
    expect(refreshDue(exp, OBTAINED, 0, exp)).toBe(true);
  });

  it('an expiry before the time obtained (clock skew) counts as no lifetime: no leeway, due at expiry', () => {
    const exp = OBTAINED - 100;
    expect(refreshDue(exp, OBTAINED, 60, exp - 1)).toBe(false);
    expect(refreshDue(exp, OBTAINED, 60, exp)).toBe(true);
  });
});

function session(overrides: Partial<AuthenticatedSession> = {}): AuthenticatedSession {
  return {
    loginId: 'login-1',
    iss: 'https://op.example.com',
    sub: 'user-1',
    claims: { iss: 'https://op.example.com', sub: 'user-1' },
    user: { sub: 'user-1' },
    authTime: OBTAINED,
    renewAt: OBTAINED + 900,
    accessToken: 'at-1',
    accessTokenExpiresAt: OBTAINED + 300,
    refreshToken: 'rt-1',
    idToken: 'id-1',
    tokensObtainedAt: OBTAINED,
    tokenVersion: 1,
    ...overrides,
  };
}

const refreshedSet: TokenSet = {
  version: 2,
  accessToken: 'at-2',
  accessTokenExpiresAt: OBTAINED + 600,
  obtainedAt: OBTAINED + 300,
  refreshToken: 'rt-2',
  idToken: 'id-2',
};

/** applyTokenSet reads only the OIDC_STORE_* flags. */
function runtimeStoring(flags: { access: boolean; refresh: boolean; id: boolean }): TokenStorageSettings {
  return { storeAccessToken: flags.access, storeRefreshToken: flags.refresh, storeIdToken: flags.id };
}

const STORE_ALL = runtimeStoring({ access: true, refresh: true, id: true });

describe('tokenSetFromSession', () => {
  it('mirrors the session copy: version, tokens, expiry and when they were obtained', () => {
    expect(tokenSetFromSession(session())).toEqual({
      version: 1,
      accessToken: 'at-1',
      accessTokenExpiresAt: OBTAINED + 300,
      obtainedAt: OBTAINED,
      refreshToken: 'rt-1',
      idToken: 'id-1',
    });
  });

  it('carries tokens the session does not keep as undefined, and is never a tombstone', () => {
    const set = tokenSetFromSession(session({ accessToken: undefined, refreshToken: undefined, idToken: undefined }));
    expect(set.accessToken).toBeUndefined();
    expect(set.refreshToken).toBeUndefined();
    expect(set.idToken).toBeUndefined();
    expect(set.ended).toBeUndefined();
  });

  it("round-trips through applyTokenSet: copying the session's own set back changes nothing", () => {
    const auth = session();
    expect(applyTokenSet(auth, tokenSetFromSession(auth), STORE_ALL)).toBe(false);
    expect(auth).toEqual(session());
  });
});

describe('applyTokenSet', () => {
  it('copies a newer set into the session and says so', () => {
    const auth = session();
    expect(applyTokenSet(auth, refreshedSet, STORE_ALL)).toBe(true);
    expect(auth).toEqual(
      session({
        tokenVersion: 2,
        tokensObtainedAt: OBTAINED + 300,
        accessTokenExpiresAt: OBTAINED + 600,
        accessToken: 'at-2',
        refreshToken: 'rt-2',
        idToken: 'id-2',
      }),
    );
  });

  it('the same version and expiry: nothing changes, false (no session write needed)', () => {
    const auth = session({ tokenVersion: 2, accessTokenExpiresAt: OBTAINED + 600 });
    const before = structuredClone(auth);
    expect(applyTokenSet(auth, refreshedSet, STORE_ALL)).toBe(false);
    expect(auth).toEqual(before);
  });

  it('the same version with another expiry still counts as a change', () => {
    const auth = session({ tokenVersion: 2 });
    expect(applyTokenSet(auth, refreshedSet, STORE_ALL)).toBe(true);
    expect(auth.accessTokenExpiresAt).toBe(OBTAINED + 600);
  });

  it.each([
    ['access token', { access: false, refresh: true, id: true }, 'accessToken'],
    ['refresh token', { access: true, refresh: false, id: true }, 'refreshToken'],
    ['ID token', { access: true, refresh: true, id: false }, 'idToken'],
  ] as const)('a %s the config does not store stays as it was in the session; the rest is copied', (_name, flags, kept) => {
    const auth = session();
    expect(applyTokenSet(auth, refreshedSet, runtimeStoring(flags))).toBe(true);
    expect(auth[kept]).toBe(session()[kept]);
    for (const field of ['accessToken', 'refreshToken', 'idToken'] as const) {
      if (field !== kept) expect(auth[field]).toBe(refreshedSet[field]);
    }
    expect(auth.tokenVersion).toBe(2);
    expect(auth.accessTokenExpiresAt).toBe(OBTAINED + 600);
    expect(auth.tokensObtainedAt).toBe(OBTAINED + 300);
  });

  it('a set without a refresh token (the provider did not rotate) clears it only where it is stored', () => {
    const withoutRefresh: TokenSet = { ...refreshedSet, refreshToken: undefined };
    const stored = session();
    applyTokenSet(stored, withoutRefresh, STORE_ALL);
    expect(stored.refreshToken).toBeUndefined();
    const notStored = session();
    applyTokenSet(notStored, withoutRefresh, runtimeStoring({ access: true, refresh: false, id: true }));
    expect(notStored.refreshToken).toBe('rt-1');
  });

  it('leaves everything else in the session alone', () => {
    const auth = session({ sid: 'sid-1', scope: 'openid email' });
    applyTokenSet(auth, refreshedSet, STORE_ALL);
    expect(auth).toMatchObject({
      loginId: 'login-1',
      sub: 'user-1',
      sid: 'sid-1',
      scope: 'openid email',
      authTime: OBTAINED,
      renewAt: OBTAINED + 900,
      user: { sub: 'user-1' },
    });
  });
});
