/**
 * protocol/userinfo.ts userinfoWanted: when the login calls userinfo (OIDC_FETCH_USERINFO).
 */
import { describe, expect, it } from 'vitest';
import { userinfoWanted } from '../../src/protocol/userinfo.js';

const ID_TOKEN = { iss: 'https://op.example.com', sub: 'u1', aud: 'c', exp: 2, iat: 1 };

describe('userinfoWanted', () => {
  it('true and false are as configured, whatever the ID token carries', () => {
    expect(userinfoWanted(true, ['openid'], ID_TOKEN)).toBe(true);
    expect(userinfoWanted(false, ['openid', 'email', 'groups'], ID_TOKEN)).toBe(false);
  });

  it('auto: skipped when the ID token carries a claim of every requested standard scope', () => {
    const claims = { ...ID_TOKEN, email: 'u1@example.com', name: 'U One', phone_number: '+1 555', address: { country: 'FR' } };
    expect(userinfoWanted('auto', ['openid', 'email'], claims)).toBe(false);
    expect(userinfoWanted('auto', ['openid', 'email', 'profile', 'phone', 'address', 'offline_access'], claims)).toBe(false);
    // Any one profile claim will do (they are all optional for a given user).
    expect(userinfoWanted('auto', ['openid', 'profile'], { ...ID_TOKEN, preferred_username: 'u1' })).toBe(false);
  });

  it('auto: only openid (and offline_access) asks for no claims: nothing to fetch', () => {
    expect(userinfoWanted('auto', ['openid'], ID_TOKEN)).toBe(false);
    expect(userinfoWanted('auto', ['openid', 'offline_access'], ID_TOKEN)).toBe(false);
  });

  it.each([
    ["email scope, no email claim (OIDC Core 5.4: with the code flow, they are userinfo's)", ['openid', 'email'], { name: 'U One' }],
    ['profile scope, no profile claim', ['openid', 'email', 'profile'], { email: 'u1@example.com' }],
    ['phone scope, email_verified is not phone_number', ['openid', 'phone'], { email_verified: true }],
    ['address scope, no address', ['openid', 'address'], { email: 'u1@example.com' }],
    ["a scope of the provider's own, whose claims the library cannot know", ['openid', 'email', 'groups'], { email: 'u1@example.com' }],
  ])('auto: called for %s', (_what, scopes, extra) => {
    expect(userinfoWanted('auto', scopes, { ...ID_TOKEN, ...extra })).toBe(true);
  });

  it('auto: a claims request parameter (OIDC Core 5.5) always calls', () => {
    const claims = { ...ID_TOKEN, email: 'u1@example.com' };
    expect(userinfoWanted('auto', ['openid', 'email'], claims, { claims: '{"userinfo":{"nickname":null}}' })).toBe(true);
    expect(userinfoWanted('auto', ['openid', 'email'], claims, { audience: 'api' })).toBe(false);
  });
});
