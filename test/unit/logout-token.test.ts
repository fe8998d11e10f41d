import { describe, expect, it } from 'vitest';
import type { JWTPayload } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT, checkLogoutTokenClaims } from '../../src/protocol/logout-token.js';
import { codeOf } from '../support/error-code.js';

const NOW = 1_800_000_000;
const MAX_AGE = 300;
const EXP = { issuer: 'https://op.example', clientId: 'client-1', clockTolerance: 60, maxAgeSeconds: MAX_AGE, now: NOW };
const valid = (extra: Record<string, unknown> = {}): JWTPayload => ({
  iss: 'https://op.example',
  aud: 'client-1',
  iat: NOW,
  exp: NOW + 120,
  jti: 'jti-1',
  sid: 'sid-1',
  events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  ...extra,
});
const rejects = (claims: JWTPayload) => codeOf(() => checkLogoutTokenClaims(claims, EXP));

describe('checkLogoutTokenClaims (Back-Channel Logout 1.0 section 2.6)', () => {
  it('accepts a token with sid, with sub, or with both', () => {
    expect(rejects(valid())).toBeUndefined();
    expect(rejects(valid({ sid: undefined, sub: 'user-1' }))).toBeUndefined();
    expect(rejects(valid({ sub: 'user-1' }))).toBeUndefined();
  });
  it('step 3: iss must equal the issuer; aud must contain the client', () => {
    expect(rejects(valid({ iss: 'https://evil.example' }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ aud: 'other' }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ aud: ['other', 'client-1'] }))).toBeUndefined();
  });
  it('step 3: iat not in the future beyond the tolerance; exp not in the past', () => {
    expect(rejects(valid({ iat: NOW + 61 }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ iat: NOW + 59 }))).toBeUndefined();
    expect(rejects(valid({ exp: NOW - 61 }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
  });
  it('without exp, iat must be recent: the jti cannot be remembered forever', () => {
    expect(rejects(valid({ exp: undefined, iat: NOW - MAX_AGE }))).toBeUndefined();
    expect(rejects(valid({ exp: undefined, iat: NOW - MAX_AGE - 61 }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
  });
  it('step 3 / Core 3.1.3.7 step 10: a stale iat is refused whatever exp says (a token issued a day ago, valid for two)', () => {
    expect(rejects(valid({ iat: NOW - 24 * 3600, exp: NOW + 24 * 3600 }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ iat: NOW - MAX_AGE - 61, exp: NOW + 600 }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    // The clock tolerance still applies at the edge.
    expect(rejects(valid({ iat: NOW - MAX_AGE - 59, exp: NOW + 600 }))).toBeUndefined();
    expect(codeOf(() => checkLogoutTokenClaims(valid({ iat: NOW - 100, exp: NOW + 600 }), { ...EXP, maxAgeSeconds: 30 }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
  });
  it('step 4: a sub or a sid is required, each a non-empty string', () => {
    expect(rejects(valid({ sid: undefined }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ sid: '' }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ sub: 42 }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
  });
  it('step 5: events must hold the back-channel logout member, a JSON object', () => {
    expect(rejects(valid({ events: undefined }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ events: {} }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
    expect(rejects(valid({ events: { [BACKCHANNEL_LOGOUT_EVENT]: [] } }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
  });
  it('step 6: a nonce is forbidden (an ID token is not a logout token)', () => {
    expect(rejects(valid({ nonce: 'n' }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
  });
  it('section 2.4: jti is required', () => {
    expect(rejects(valid({ jti: undefined }))).toBe('OIDC_LOGOUT_TOKEN_INVALID');
  });
});
