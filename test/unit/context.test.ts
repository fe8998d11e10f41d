/**
 * src/session/context.ts: req.oidc / req.user built from the session once per request. A fake
 * request with a minimal session stands in for express-session; the runtime is reduced to the
 * config the context reads (hooks, logger).
 */
import { describe, expect, it, vi, type Mock } from 'vitest';
import type { Request } from 'express';
import { attachContext, buildContext, continueWithContext, setContext } from '../../src/session/context.js';
import type { ContextSettings } from '../../src/session/context.js';
import type { AuthenticatedSession } from '../../src/session/session-data.js';
import type { OidcContext, OidcHooks, OidcUser } from '../../src/types.js';
import { captureLogger, type CapturedLog } from '../support/logger.js';

const T0 = 1_700_000_000;

function auth(overrides: Partial<AuthenticatedSession> = {}): AuthenticatedSession {
  return {
    loginId: 'login-1',
    iss: 'https://op.example.com',
    sub: 'user-1',
    claims: { iss: 'https://op.example.com', sub: 'user-1', email: 'user1@example.com' },
    user: { id: 'u1' },
    authTime: T0,
    renewAt: T0 + 900,
    accessToken: 'at-1',
    accessTokenExpiresAt: T0 + 300,
    refreshToken: 'rt-1',
    idToken: 'id-1',
    scope: 'openid email',
    tokensObtainedAt: T0,
    tokenVersion: 1,
    ...overrides,
  };
}

/** A request whose express-session holds `a` (or no login). */
function fakeReq(a?: AuthenticatedSession): Request {
  const done = (cb: (err?: unknown) => void) => cb();
  return { session: { regenerate: done, save: done, destroy: done, ...(a ? { oidc: { auth: a } } : {}) } } as unknown as Request;
}

interface FakeRuntime {
  rt: ContextSettings;
  logs: CapturedLog[];
}

/** attachContext reads only the hooks and the logger of the configuration. */
function fakeRuntime(hooks: OidcHooks = {}): FakeRuntime {
  const logs: CapturedLog[] = [];
  return { rt: { hooks, logger: captureLogger(logs) }, logs };
}

function expectAnonymousContext(ctx: OidcContext): void {
  expect(ctx.isAuthenticated()).toBe(false);
  expect(ctx).toMatchObject({
    user: undefined,
    claims: undefined,
    accessToken: undefined,
    idToken: undefined,
    refreshToken: undefined,
    accessTokenExpiresAt: undefined,
    scopes: [],
  });
}

describe('buildContext', () => {
  it("a login and a user: authenticated, with the session's claims, tokens and scopes", () => {
    const a = auth();
    const user = { id: 'u1' } as OidcUser;
    const ctx = buildContext(a, user);
    expect(ctx.isAuthenticated()).toBe(true);
    expect(ctx).toMatchObject({
      user,
      claims: a.claims,
      accessToken: 'at-1',
      idToken: 'id-1',
      refreshToken: 'rt-1',
      accessTokenExpiresAt: T0 + 300,
      scopes: ['openid', 'email'],
    });
  });

  it('no login: not authenticated, nothing exposed', () => {
    expectAnonymousContext(buildContext(undefined, { id: 'u1' } as OidcUser));
  });

  it('a login without a user (deserializeUser found none): not authenticated, no tokens leak out', () => {
    expectAnonymousContext(buildContext(auth(), undefined));
  });

  it.each([
    ['the session scope, space separated (extra spaces ignored)', { scope: ' openid  email ' }, ['openid', 'email']],
    ['the session scope before the claims', { scope: 'openid', claims: { iss: 'i', sub: 's', scope: 'admin', scp: ['x'] } }, ['openid']],
    ["else the claims' scope string (RFC 9068)", { scope: undefined, claims: { iss: 'i', sub: 's', scope: 'read write' } }, ['read', 'write']],
    // One reading of scopes everywhere (protocol/bearer-token.ts parseScopes): scope and scp merged, as for bearer tokens.
    ["else the claims' scope and scp, merged", { scope: undefined, claims: { iss: 'i', sub: 's', scope: 'read', scp: ['x', 'read'] } }, ['read', 'x']],
    [
      'else scp as an array (Entra, Okta), non-strings dropped',
      { scope: undefined, claims: { iss: 'i', sub: 's', scp: ['read', 42, 'write'] } },
      ['read', 'write'],
    ],
    ['else scp as a string', { scope: undefined, claims: { iss: 'i', sub: 's', scp: 'read write' } }, ['read', 'write']],
    ['none anywhere: no scopes', { scope: undefined, claims: { iss: 'i', sub: 's' } }, []],
    ['a scope claim of another type: no scopes', { scope: undefined, claims: { iss: 'i', sub: 's', scope: 42 } }, []],
  ] as const)('scopes: %s', (_name, overrides, scopes) => {
    expect(buildContext(auth(overrides as Partial<AuthenticatedSession>), { id: 'u1' } as OidcUser).scopes).toEqual(scopes);
  });

  it('isAuthenticated keeps its answer (the context is a snapshot)', () => {
    const a = auth();
    const ctx = buildContext(a, { id: 'u1' } as OidcUser);
    a.accessToken = 'changed';
    expect(ctx.isAuthenticated()).toBe(true);
    expect(ctx.accessToken).toBe('at-1');
  });
});

describe('setContext', () => {
  it('authenticated: sets req.oidc and req.user', () => {
    const req = fakeReq();
    const user = { id: 'u1' } as OidcUser;
    setContext(req, auth(), user);
    expect(req.oidc.isAuthenticated()).toBe(true);
    expect(req.user).toBe(user);
  });

  it('not authenticated (logout in the same request): replaces req.oidc and removes req.user', () => {
    const req = fakeReq();
    setContext(req, auth(), { id: 'u1' } as OidcUser);
    setContext(req, undefined, undefined);
    expectAnonymousContext(req.oidc);
    expect('user' in req).toBe(false);
  });

  it('marks the request, so attachContext afterwards keeps the context that was set', () => {
    const req = fakeReq(auth());
    setContext(req, undefined, undefined);
    const deserializeUser = vi.fn(() => ({ id: 'u1' }) as OidcUser);
    const ctx = attachContext(req, fakeRuntime({ deserializeUser }).rt);
    expect(ctx).toBe(req.oidc);
    expect((ctx as OidcContext).isAuthenticated()).toBe(false);
    expect(deserializeUser).not.toHaveBeenCalled();
  });
});

describe('req.oidc.fetch and req.oidc.refresh: made on first use', () => {
  function fetcher() {
    const made: Array<{ req: Request; auth: AuthenticatedSession; onRefreshed: () => void }> = [];
    const fetch = vi.fn(async () => new Response('ok'));
    const refresh = vi.fn(async () => {});
    const make = vi.fn((req: Request, a: AuthenticatedSession, onRefreshed: () => void) => {
      made.push({ req, auth: a, onRefreshed });
      return { fetch, refresh };
    });
    return { make, made, fetch, refresh };
  }

  it('a request that never uses them never makes them; the first use makes them once, for this request and login', async () => {
    const f = fetcher();
    const req = fakeReq();
    const a = auth();
    setContext(req, a, { id: 'u1' } as OidcUser, f.make);
    expect(f.make).not.toHaveBeenCalled();
    // Destructured, as an app may: the functions need no `this`.
    const { fetch, refresh } = req.oidc;
    await fetch('https://api.example.com/x');
    await refresh();
    await req.oidc.fetch('https://api.example.com/y');
    expect(f.make).toHaveBeenCalledTimes(1);
    expect(f.made[0]).toMatchObject({ req, auth: a });
    expect(f.fetch).toHaveBeenCalledTimes(2);
    expect(f.refresh).toHaveBeenCalledTimes(1);
  });

  it('after a refresh through them, req.oidc shows the new tokens (a new context for the same request)', async () => {
    const f = fetcher();
    const req = fakeReq();
    const a = auth();
    setContext(req, a, { id: 'u1' } as OidcUser, f.make);
    await req.oidc.refresh();
    a.accessToken = 'at-2';
    f.made[0]?.onRefreshed();
    expect(req.oidc.accessToken).toBe('at-2');
  });

  it('without a signed-in user they reject with OIDC_NOT_AUTHENTICATED, and the maker is never called', async () => {
    const f = fetcher();
    const req = fakeReq();
    setContext(req, auth(), undefined, f.make);
    const { fetch } = req.oidc;
    await expect(fetch('https://api.example.com/x')).rejects.toMatchObject({ code: 'OIDC_NOT_AUTHENTICATED' });
    await expect(req.oidc.refresh()).rejects.toMatchObject({ code: 'OIDC_NOT_AUTHENTICATED' });
    expect(f.make).not.toHaveBeenCalled();
  });

  it('each request gets its own scopes array (the parse is shared, the array is not)', () => {
    const one = buildContext(auth(), { id: 'u1' } as OidcUser);
    one.scopes.push('admin');
    const two = buildContext(auth(), { id: 'u1' } as OidcUser);
    expect(two.scopes).toEqual(['openid', 'email']);
    const { isAuthenticated } = two;
    expect(isAuthenticated()).toBe(true);
  });
});

describe('attachContext', () => {
  it('a session without a stored user (the default one): req.user is made from the claims, and deserializeUser receives it', async () => {
    const { user: _stored, ...withoutUser } = auth({ claims: { iss: 'https://op.example.com', sub: 'user-1', email: 'user1@example.com', aud: 'c', exp: 1 } });
    const req = fakeReq(withoutUser as AuthenticatedSession);
    const ctx = attachContext(req, fakeRuntime().rt) as OidcContext;
    expect(ctx.isAuthenticated()).toBe(true);
    expect(req.user).toEqual({ sub: 'user-1', iss: 'https://op.example.com', email: 'user1@example.com' });
    const deserializeUser = vi.fn((stored: unknown) => ({ ...(stored as object), loaded: true }) as OidcUser);
    const req2 = fakeReq(withoutUser as AuthenticatedSession);
    await attachContext(req2, fakeRuntime({ deserializeUser }).rt);
    expect(deserializeUser).toHaveBeenCalledWith({ sub: 'user-1', iss: 'https://op.example.com', email: 'user1@example.com' }, req2);
    expect(req2.user).toMatchObject({ sub: 'user-1', loaded: true });
  });

  it("a context attached to another request is not this request's (it is built from this one's session)", () => {
    const first = fakeReq(auth());
    setContext(first, auth(), { id: 'first' } as OidcUser);
    const second = fakeReq(auth({ user: { id: 'second' } }));
    second.oidc = first.oidc;
    const ctx = attachContext(second, fakeRuntime().rt) as OidcContext;
    expect(ctx).not.toBe(first.oidc);
    expect(ctx.user).toEqual({ id: 'second' });
  });

  it('no deserializeUser: synchronous, the stored user becomes req.user', () => {
    const req = fakeReq(auth({ user: { id: 'stored' } }));
    const ctx = attachContext(req, fakeRuntime().rt);
    expect(ctx).not.toBeInstanceOf(Promise);
    expect((ctx as OidcContext).isAuthenticated()).toBe(true);
    expect(req.oidc).toBe(ctx);
    expect(req.user).toEqual({ id: 'stored' });
  });

  it('no login in the session: synchronous and not authenticated, even with a deserializeUser hook (not called)', () => {
    const req = fakeReq();
    const deserializeUser = vi.fn(() => ({ id: 'u1' }) as OidcUser);
    const ctx = attachContext(req, fakeRuntime({ deserializeUser }).rt);
    expect(ctx).not.toBeInstanceOf(Promise);
    expectAnonymousContext(ctx as OidcContext);
    expect(req.user).toBeUndefined();
    expect(deserializeUser).not.toHaveBeenCalled();
  });

  it('a stored user of null (serializeUser returned nothing): not authenticated', () => {
    const req = fakeReq(auth({ user: null }));
    expectAnonymousContext(attachContext(req, fakeRuntime().rt) as OidcContext);
  });

  it('with deserializeUser: a promise; the hook gets the stored user and the request; its user becomes req.user', async () => {
    const req = fakeReq(auth({ user: 'u1' }));
    const deserializeUser = vi.fn((stored: unknown) => ({ id: stored }) as OidcUser);
    const pending = attachContext(req, fakeRuntime({ deserializeUser }).rt);
    expect(pending).toBeInstanceOf(Promise);
    const ctx = await pending;
    expect(deserializeUser).toHaveBeenCalledWith('u1', req);
    expect(ctx.isAuthenticated()).toBe(true);
    expect(req.oidc).toBe(ctx);
    expect(req.user).toEqual({ id: 'u1' });
  });

  it('an async deserializeUser is awaited', async () => {
    const req = fakeReq(auth());
    const ctx = await attachContext(req, fakeRuntime({ deserializeUser: async () => ({ id: 'async' }) as OidcUser }).rt);
    expect(ctx.user).toEqual({ id: 'async' });
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
  ])('deserializeUser returning %s: not authenticated, and logged (at info) as such', async (_name, result) => {
    const req = fakeReq(auth());
    const { rt, logs } = fakeRuntime({ deserializeUser: () => result as unknown as OidcUser });
    const ctx = await attachContext(req, rt);
    expectAnonymousContext(ctx);
    expect(req.user).toBeUndefined();
    expect(logs).toEqual([{ level: 'info', message: 'deserializeUser returned no user; treating the session as logged out', meta: { sub: 'user-1' } }]);
  });

  it('is idempotent per request: the second call returns the same context without running the hook again', async () => {
    const req = fakeReq(auth());
    const deserializeUser = vi.fn(() => ({ id: 'u1' }) as OidcUser);
    const { rt } = fakeRuntime({ deserializeUser });
    const first = await attachContext(req, rt);
    const second = attachContext(req, rt);
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toBe(first);
    expect(deserializeUser).toHaveBeenCalledTimes(1);
  });

  it('idempotent on the synchronous path too', () => {
    const req = fakeReq(auth());
    const { rt } = fakeRuntime();
    const first = attachContext(req, rt);
    expect(attachContext(req, rt)).toBe(first);
  });

  it('without express-session: throws OIDC_SESSION_MISSING (never a silent anonymous pass)', () => {
    expect(() => attachContext({} as Request, fakeRuntime().rt)).toThrow(expect.objectContaining({ code: 'OIDC_SESSION_MISSING' }));
  });
});

/** A next() spy, and a promise settled when it is first called (the asynchronous path). */
function spyNext(): { next: Mock<(err?: unknown) => void>; called: Promise<void> } {
  let resolve!: () => void;
  const called = new Promise<void>((r) => (resolve = r));
  return { next: vi.fn((_err?: unknown) => resolve()), called };
}

describe('continueWithContext', () => {
  it('the synchronous path calls next() before returning, with no error', () => {
    const req = fakeReq(auth());
    const next = vi.fn();
    continueWithContext(req, fakeRuntime().rt, next);
    expect(next).toHaveBeenCalledTimes(1);
    expect(next).toHaveBeenCalledWith();
    expect(req.oidc.isAuthenticated()).toBe(true);
  });

  it('with deserializeUser: next() once the context is set', async () => {
    const req = fakeReq(auth());
    const { next, called } = spyNext();
    continueWithContext(req, fakeRuntime({ deserializeUser: async () => ({ id: 'u1' }) as OidcUser }).rt, next);
    expect(next).not.toHaveBeenCalled();
    await called;
    expect(next).toHaveBeenCalledWith();
    expect(req.user).toEqual({ id: 'u1' });
  });

  it('a deserializeUser that throws synchronously reaches next(err)', () => {
    const boom = new Error('user database down');
    const next = vi.fn();
    continueWithContext(
      fakeReq(auth()),
      fakeRuntime({
        deserializeUser: () => {
          throw boom;
        },
      }).rt,
      next,
    );
    expect(next).toHaveBeenCalledTimes(1);
    expect(next).toHaveBeenCalledWith(boom);
  });

  it('a deserializeUser whose promise rejects reaches next(err)', async () => {
    const boom = new Error('user database down');
    const { next, called } = spyNext();
    continueWithContext(fakeReq(auth()), fakeRuntime({ deserializeUser: async () => Promise.reject(boom) }).rt, next);
    await called;
    expect(next).toHaveBeenCalledTimes(1);
    expect(next).toHaveBeenCalledWith(boom);
  });

  it('a missing express-session reaches next(err) with OIDC_SESSION_MISSING', () => {
    const next = vi.fn();
    continueWithContext({} as Request, fakeRuntime().rt, next);
    expect(next).toHaveBeenCalledWith(expect.objectContaining({ code: 'OIDC_SESSION_MISSING' }));
  });
});
