/**
 * authenticated(req) (src/middleware/require-auth.ts): a handler behind requireAuth() gets the
 * signed-in request typed without `| undefined`; anywhere else it throws OIDC_NOT_AUTHENTICATED.
 */
import type { Request } from 'express';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { authenticated } from '../../src/index.js';
import { buildContext } from '../../src/session/context.js';
import type { AuthenticatedSession } from '../../src/session/session-data.js';
import type { OidcClaims, OidcUser } from '../../src/types.js';

const claims: OidcClaims = { iss: 'https://op.example', sub: 'alice', email: 'alice@example.com', email_verified: true };
const auth = {
  loginId: 'l',
  iss: claims.iss,
  sub: claims.sub,
  claims,
  user: {},
  authTime: 0,
  renewAt: 0,
  tokensObtainedAt: 0,
  tokenVersion: 1,
} as AuthenticatedSession;

describe('authenticated(req)', () => {
  it('returns the request, typed: user and claims present, standard claims typed', () => {
    const user = { id: 1 } as unknown as OidcUser;
    const req = { user, oidc: buildContext(auth, user) } as unknown as Request;
    const r = authenticated(req);
    expect(r).toBe(req);
    expect(r.oidc.claims.email).toBe('alice@example.com');
    expectTypeOf(r.user).toEqualTypeOf<OidcUser>();
    expectTypeOf(r.oidc.claims).toEqualTypeOf<OidcClaims>();
    expectTypeOf(r.oidc.claims.email).toEqualTypeOf<string | undefined>();
    expectTypeOf(r.oidc.claims.email_verified).toEqualTypeOf<boolean | undefined>();
  });

  it.each([
    ['before oidc.router (no req.oidc at all)', {}],
    ['an anonymous request', { oidc: buildContext(undefined, undefined) }],
  ])('throws OIDC_NOT_AUTHENTICATED (401) for %s', (_what, req) => {
    expect(() => authenticated(req as unknown as Request)).toThrow(expect.objectContaining({ code: 'OIDC_NOT_AUTHENTICATED', statusCode: 401 }));
  });
});

describe('requireAuth(opts)', () => {
  it("refuses a function (express-openid-connect's requiresAuth(fn)): it would otherwise mean 'signed in is enough'", async () => {
    const { createOidcAuth } = await import('../../src/index.js');
    const oidc = createOidcAuth({ issuer: 'https://op.example', clientId: 'c', clientSecret: 's', baseUrl: 'https://app.example', env: {} });
    try {
      expect(() => oidc.requireAuth((() => true) as never)).toThrow(/use claimCheck\(fn\)/);
    } finally {
      await oidc.close();
    }
  });
});
