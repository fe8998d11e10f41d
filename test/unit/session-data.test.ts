/**
 * src/session/session-data.ts: pending logins kept in the session (bounded, expiring,
 * single use) and the express-session presence check.
 */
import { describe, it, expect } from 'vitest';
import type { Request } from 'express';
import {
  addPendingLogin,
  destroySession,
  readOidcData,
  regenerateSession,
  requireSession,
  saveRegeneratedSession,
  saveSession,
  takePendingLogin,
  writeOidcData,
} from '../../src/session/session-data.js';
import type { PendingLogin } from '../../src/protocol/authorization-response.js';
import type { OidcError } from '../../src/errors.js';

const TTL = 600_000;
const T0 = 1_700_000_000_000;

function fakeReq(): Request & { session: Record<string, unknown> } {
  const calls: string[] = [];
  return {
    session: {
      calls,
      regenerate(cb: (err?: unknown) => void) {
        calls.push('regenerate');
        cb();
      },
      save(cb: (err?: unknown) => void) {
        calls.push('save');
        cb();
      },
      destroy(cb: (err?: unknown) => void) {
        calls.push('destroy');
        cb();
      },
    },
  } as unknown as Request & { session: Record<string, unknown> };
}

const pending = (createdAt: number, extra: Partial<PendingLogin> = {}): PendingLogin => ({
  issuer: 'https://op.example.com',
  redirectUri: 'https://app.example.com/oidc/callback',
  createdAt,
  ...extra,
});

const stateKeys = (req: Request) => Object.keys(readOidcData(req)?.states ?? {});

describe('requireSession', () => {
  it('returns the session when express-session is mounted', () => {
    const req = fakeReq();
    expect(requireSession(req)).toBe(req.session);
  });

  it.each([
    ['no session', {}],
    ['a session object without regenerate (e.g. cookie-session)', { session: { save() {} } }],
  ])('%s -> OIDC_SESSION_MISSING (statusCode 500), never a silent unauthenticated pass', (_l, req) => {
    let err: OidcError | undefined;
    try {
      requireSession(req as unknown as Request);
    } catch (e) {
      err = e as OidcError;
    }
    expect(err?.code).toBe('OIDC_SESSION_MISSING');
    expect(err?.statusCode).toBe(500);
    expect(err?.message).toContain('express-session');
  });

  it('the other helpers also throw OIDC_SESSION_MISSING without a session', () => {
    const req = {} as Request;
    expect(() => readOidcData(req)).toThrow(expect.objectContaining({ code: 'OIDC_SESSION_MISSING' }));
    expect(() => addPendingLogin(req, 's', pending(T0), 5, TTL)).toThrow(expect.objectContaining({ code: 'OIDC_SESSION_MISSING' }));
    expect(() => takePendingLogin(req, 's')).toThrow(expect.objectContaining({ code: 'OIDC_SESSION_MISSING' }));
  });
});

describe('session promise wrappers', () => {
  it("regenerate/save/destroy call express-session's callback API", async () => {
    const req = fakeReq();
    await regenerateSession(req);
    await saveSession(req);
    await destroySession(req);
    expect(req.session.calls).toEqual(['regenerate', 'save', 'destroy']);
  });

  it('a callback error rejects the promise', async () => {
    const boom = new Error('store down');
    const req = { session: { regenerate: (cb: (e?: unknown) => void) => cb(boom), save: () => {}, destroy: () => {} } } as unknown as Request;
    await expect(regenerateSession(req)).rejects.toBe(boom);
  });
});

describe('saveRegeneratedSession', () => {
  it("saves once; the session's own save() then writes only when it changed (express-session's end-of-response save)", async () => {
    const req = fakeReq();
    const calls = req.session.calls as string[];
    writeOidcData(req, { loggedOutAt: 1 });
    await saveRegeneratedSession(req);
    expect(calls).toEqual(['save']);
    // As express-session calls it when the response ends: unchanged, no store write, callback still called.
    const save = (req.session as unknown as { save(cb: () => void): unknown }).save;
    await new Promise<void>((resolve) => save.call(req.session, resolve));
    expect(calls).toEqual(['save']);
    // A change to the cookie alone is not a change (express-session's own comparison ignores it).
    (req.session as Record<string, unknown>).cookie = { maxAge: 5 };
    await new Promise<void>((resolve) => save.call(req.session, resolve));
    expect(calls).toEqual(['save']);
    // Changed after the save: written.
    writeOidcData(req, { loggedOutAt: 2 });
    await new Promise<void>((resolve) => save.call(req.session, resolve));
    expect(calls).toEqual(['save', 'save']);
  });

  it('a failed save rejects, and save() stays as it was', async () => {
    const req = fakeReq();
    const failing = (cb: (err?: unknown) => void) => cb(new Error('store down'));
    (req.session as Record<string, unknown>).save = failing;
    await expect(saveRegeneratedSession(req)).rejects.toThrow('store down');
    expect((req.session as Record<string, unknown>).save).toBe(failing);
  });
});

describe('writeOidcData', () => {
  it('removes the oidc key when there is nothing left to keep', () => {
    const req = fakeReq();
    writeOidcData(req, { states: { s: pending(T0) } });
    expect(req.session.oidc).toBeDefined();
    writeOidcData(req, { states: {} });
    expect('oidc' in req.session).toBe(false);
  });
});

describe('addPendingLogin (mozilla-django-oidc add_state_and_verifier_and_nonce_to_session)', () => {
  it('stores the pending login under its state', () => {
    const req = fakeReq();
    const p = pending(T0, { nonce: 'n', codeVerifier: 'v', next: '/after' });
    addPendingLogin(req, 'state-1', p, 50, TTL);
    expect(readOidcData(req)?.states).toEqual({ 'state-1': p });
  });

  it('drops expired states (older than the TTL) when adding a new one', () => {
    const req = fakeReq();
    addPendingLogin(req, 'old', pending(T0), 50, TTL);
    addPendingLogin(req, 'edge', pending(T0 + 1), 50, TTL);
    addPendingLogin(req, 'new', pending(T0 + TTL + 1), 50, TTL);
    expect(stateKeys(req).sort()).toEqual(['edge', 'new']);
  });

  it('keeps at most maxStates, dropping the oldest (one tab per pending login)', () => {
    const req = fakeReq();
    for (let i = 0; i < 5; i++) addPendingLogin(req, `s${i}`, pending(T0 + i), 3, TTL);
    expect(stateKeys(req).sort()).toEqual(['s2', 's3', 's4']);
  });

  it('drops by creation time, not insertion order', () => {
    const req = fakeReq();
    addPendingLogin(req, 'newer', pending(T0 + 10), 2, TTL);
    addPendingLogin(req, 'older', pending(T0 + 5), 2, TTL);
    addPendingLogin(req, 'latest', pending(T0 + 20), 2, TTL);
    expect(stateKeys(req).sort()).toEqual(['latest', 'newer']);
  });

  it('maxStates 1 keeps only the newest', () => {
    const req = fakeReq();
    addPendingLogin(req, 'a', pending(T0), 1, TTL);
    addPendingLogin(req, 'b', pending(T0 + 1), 1, TTL);
    addPendingLogin(req, 'c', pending(T0 + 2), 1, TTL);
    expect(stateKeys(req)).toEqual(['c']);
  });

  it('keeps the authenticated part of the session untouched', () => {
    const req = fakeReq();
    const auth = { loginId: 'l', iss: 'i', sub: 's', claims: { iss: 'i', sub: 's' }, user: {}, authTime: 1, renewAt: 2, tokensObtainedAt: 1, tokenVersion: 1 };
    writeOidcData(req, { auth });
    addPendingLogin(req, 'st', pending(T0), 5, TTL);
    expect(readOidcData(req)?.auth).toEqual(auth);
  });
});

describe('takePendingLogin (RFC 6749 10.12: state is single use)', () => {
  it('returns the pending login once; a replayed callback finds nothing', () => {
    const req = fakeReq();
    const p = pending(T0, { nonce: 'n' });
    addPendingLogin(req, 'state-1', p, 50, TTL);
    expect(takePendingLogin(req, 'state-1')).toEqual(p);
    expect(takePendingLogin(req, 'state-1')).toBeUndefined();
  });

  it('removes only the taken state', () => {
    const req = fakeReq();
    addPendingLogin(req, 'a', pending(T0), 50, TTL);
    addPendingLogin(req, 'b', pending(T0 + 1), 50, TTL);
    takePendingLogin(req, 'a');
    expect(stateKeys(req)).toEqual(['b']);
  });

  it('removes the oidc key once the last state is taken and no one is logged in', () => {
    const req = fakeReq();
    addPendingLogin(req, 'a', pending(T0), 50, TTL);
    takePendingLogin(req, 'a');
    expect('oidc' in req.session).toBe(false);
  });

  it('returns undefined without any pending login', () => {
    expect(takePendingLogin(fakeReq(), 'state-1')).toBeUndefined();
  });

  it.each([
    ['unknown', 'nope'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['a number', 1],
    ['an array', ['a']],
    ['an object', { a: 1 }],
    ['undefined', undefined],
    ['null', null],
  ])('ignores %s as state (own string keys only)', (_l, state) => {
    const req = fakeReq();
    addPendingLogin(req, 'a', pending(T0), 50, TTL);
    expect(takePendingLogin(req, state)).toBeUndefined();
    expect(stateKeys(req)).toEqual(['a']);
  });
});
