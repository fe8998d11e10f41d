/**
 * src/users.ts: resolveUser, modelled on mozilla-django-oidc's
 * OIDCAuthenticationBackend.get_or_create_user.
 */
import { describe, it, expect } from 'vitest';
import type { Request } from 'express';
import { defaultUserFromClaims, defaultVerifyClaims, resolveUser, type UserResolution } from '../../src/session/users.js';
import type { OidcClaims, OidcHooks, OidcUser, UserHookContext } from '../../src/types.js';
import { codeOfAsync as codeOf } from '../support/error-code.js';

const claims: OidcClaims = {
  iss: 'https://op.example.com',
  sub: 'user-1',
  email: 'ada@example.com',
  email_verified: true,
  name: 'Ada',
  preferred_username: 'ada',
  aud: 'client-1',
  nonce: 'n',
  custom: 'x',
};
const ctx: UserHookContext = { req: {} as Request, source: 'login', idTokenClaims: claims, userinfo: undefined };

function opts(hooks: OidcHooks = {}, extra: Partial<UserResolution> = {}): UserResolution & { warnings: unknown[] } {
  const warnings: unknown[] = [];
  return {
    hooks,
    scopes: ['openid', 'email'],
    createUser: true,
    logger: { debug() {}, info() {}, warn: (...a: unknown[]) => warnings.push(a), error() {} },
    warnings,
    ...extra,
  };
}

describe('resolveUser: defaults (no hooks)', () => {
  it('returns a plain user built from the identifying claims', async () => {
    const user = await resolveUser(claims, ctx, opts());
    expect(user).toEqual({
      sub: 'user-1',
      iss: 'https://op.example.com',
      email: 'ada@example.com',
      email_verified: true,
      name: 'Ada',
      preferred_username: 'ada',
    });
  });

  it('defaultUserFromClaims leaves out protocol and unknown claims', () => {
    const user = defaultUserFromClaims(claims) as Record<string, unknown>;
    expect(user).not.toHaveProperty('aud');
    expect(user).not.toHaveProperty('nonce');
    expect(user).not.toHaveProperty('custom');
  });

  it('default verify (mozilla verify_claims): with the "email" scope an email claim is required -> OIDC_CLAIMS_REJECTED', async () => {
    const { email: _e, ...noEmail } = claims;
    expect(await codeOf(resolveUser(noEmail as OidcClaims, ctx, opts()))).toBe('OIDC_CLAIMS_REJECTED');
    expect(await codeOf(resolveUser({ ...claims, email: '' }, ctx, opts()))).toBe('OIDC_CLAIMS_REJECTED');
  });

  it('default verify: without the "email" scope no email is needed', async () => {
    const { email: _e, ...noEmail } = claims;
    const user = await resolveUser(noEmail as OidcClaims, ctx, opts({}, { scopes: ['openid', 'profile'] }));
    expect(user).toMatchObject({ sub: 'user-1' });
  });

  it('defaultVerifyClaims table', () => {
    expect(defaultVerifyClaims(claims, ['openid', 'email'])).toBe(true);
    expect(defaultVerifyClaims({ iss: 'i', sub: 's' }, ['openid', 'email'])).toBe(false);
    expect(defaultVerifyClaims({ iss: 'i', sub: 's', email: 42 } as unknown as OidcClaims, ['openid', 'email'])).toBe(false);
    expect(defaultVerifyClaims({ iss: 'i', sub: 's' }, ['openid'])).toBe(true);
  });
});

describe('resolveUser: verifyClaims hook', () => {
  it('verifyClaims returning false -> OIDC_CLAIMS_REJECTED', async () => {
    expect(await codeOf(resolveUser(claims, ctx, opts({ verifyClaims: () => false })))).toBe('OIDC_CLAIMS_REJECTED');
  });

  it('an async verifyClaims resolving false -> OIDC_CLAIMS_REJECTED', async () => {
    expect(await codeOf(resolveUser(claims, ctx, opts({ verifyClaims: async () => false })))).toBe('OIDC_CLAIMS_REJECTED');
  });

  it('only a literal true passes (a truthy non-boolean is refused)', async () => {
    const truthy = (() => 'yes') as unknown as OidcHooks['verifyClaims'];
    expect(await codeOf(resolveUser(claims, ctx, opts({ verifyClaims: truthy })))).toBe('OIDC_CLAIMS_REJECTED');
  });

  it('a custom verifyClaims replaces the default email rule and receives claims and ctx', async () => {
    const seen: unknown[] = [];
    const { email: _e, ...noEmail } = claims;
    const user = await resolveUser(
      noEmail as OidcClaims,
      ctx,
      opts({
        verifyClaims: (c, x) => {
          seen.push(c, x);
          return true;
        },
      }),
    );
    expect(user).toMatchObject({ sub: 'user-1' });
    expect(seen).toEqual([noEmail, ctx]);
  });
});

describe('resolveUser: user lookup (filterUsersByClaims)', () => {
  const existing = { id: 7, email: 'ada@example.com' } as OidcUser;

  it('0 users -> createUser hook creates one', async () => {
    const created = { id: 8 } as OidcUser;
    const user = await resolveUser(claims, ctx, opts({ filterUsersByClaims: () => [], createUser: async () => created }));
    expect(user).toBe(created);
  });

  it('0 users and no createUser hook -> the default user from claims', async () => {
    const user = await resolveUser(claims, ctx, opts({ filterUsersByClaims: async () => [] }));
    expect(user).toMatchObject({ sub: 'user-1', iss: 'https://op.example.com' });
  });

  it('0 users with createUser false -> OIDC_USER_NOT_FOUND, createUser hook not called', async () => {
    let called = false;
    const hooks: OidcHooks = {
      filterUsersByClaims: () => [],
      createUser: () => {
        called = true;
        return {} as OidcUser;
      },
    };
    expect(await codeOf(resolveUser(claims, ctx, opts(hooks, { createUser: false })))).toBe('OIDC_USER_NOT_FOUND');
    expect(called).toBe(false);
  });

  it('no hooks at all with createUser false -> OIDC_USER_NOT_FOUND', async () => {
    expect(await codeOf(resolveUser(claims, ctx, opts({}, { createUser: false })))).toBe('OIDC_USER_NOT_FOUND');
  });

  it('a createUser hook returning nothing -> OIDC_USER_NOT_FOUND', async () => {
    const hooks = { createUser: () => undefined as unknown as OidcUser };
    expect(await codeOf(resolveUser(claims, ctx, opts(hooks)))).toBe('OIDC_USER_NOT_FOUND');
  });

  it('1 user -> returned as is without updateUser', async () => {
    const user = await resolveUser(claims, ctx, opts({ filterUsersByClaims: () => [existing] }));
    expect(user).toBe(existing);
  });

  it('1 user -> updateUser receives it with the claims and its result is returned', async () => {
    const updated = { id: 7, name: 'Ada L.' } as OidcUser;
    const seen: unknown[] = [];
    const user = await resolveUser(
      claims,
      ctx,
      opts({
        filterUsersByClaims: () => [existing],
        updateUser: async (u, c) => {
          seen.push(u, c);
          return updated;
        },
      }),
    );
    expect(user).toBe(updated);
    expect(seen).toEqual([existing, claims]);
  });

  it('1 user with createUser false still logs in (creation is not needed)', async () => {
    const user = await resolveUser(claims, ctx, opts({ filterUsersByClaims: () => [existing] }, { createUser: false }));
    expect(user).toBe(existing);
  });

  it('several users -> OIDC_USER_AMBIGUOUS (refuse rather than pick one), with a warning', async () => {
    const o = opts({ filterUsersByClaims: () => [existing, { id: 9 } as OidcUser] });
    expect(await codeOf(resolveUser(claims, ctx, o))).toBe('OIDC_USER_AMBIGUOUS');
    expect(o.warnings).toHaveLength(1);
  });

  it('filterUsersByClaims returning a non-array -> TypeError', async () => {
    const bad = { filterUsersByClaims: () => null as unknown as OidcUser[] };
    await expect(resolveUser(claims, ctx, opts(bad))).rejects.toBeInstanceOf(TypeError);
  });

  it('verifyClaims runs before the lookup: a rejected login never queries users', async () => {
    let looked = false;
    const hooks: OidcHooks = {
      verifyClaims: () => false,
      filterUsersByClaims: () => {
        looked = true;
        return [];
      },
    };
    await expect(resolveUser(claims, ctx, opts(hooks))).rejects.toMatchObject({ code: 'OIDC_CLAIMS_REJECTED' });
    expect(looked).toBe(false);
  });
});
