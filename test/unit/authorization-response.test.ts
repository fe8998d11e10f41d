/**
 * src/protocol/authorization-response.ts: the callback parameters (RFC 6749 4.1.2, 10.12;
 * OIDC Core 3.1.2.5-3.1.2.7; RFC 9207 mix-up defence).
 */
import { describe, it, expect } from 'vitest';
import { validateAuthorizationResponse, type AuthorizationResponseExpectations, type PendingLogin } from '../../src/protocol/authorization-response.js';
import { codeOf, errorOf } from '../support/error-code.js';

const ISS = 'https://op.example.com';
const REDIRECT = 'https://app.example.com/oidc/callback';
const NOW = 1_700_000_000_000;
const TTL = 600_000;

const exp: AuthorizationResponseExpectations = { issuer: ISS, redirectUri: REDIRECT, issRequired: false, stateTtlMs: TTL, now: NOW };
const pending: PendingLogin = { issuer: ISS, redirectUri: REDIRECT, createdAt: NOW - 1000, nonce: 'n', codeVerifier: 'v' };

describe('validateAuthorizationResponse: state (RFC 6749 10.12)', () => {
  it.each([
    ['absent', {}],
    ['empty', { state: '' }],
    ['not a string', { state: ['a', 'b'] }],
  ])('state %s -> OIDC_STATE_MISSING', (_l, params) => {
    expect(codeOf(() => validateAuthorizationResponse({ code: 'c', ...params }, pending, exp))).toBe('OIDC_STATE_MISSING');
  });

  it('state present but no pending login for it -> OIDC_STATE_MISMATCH', () => {
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c' }, undefined, exp))).toBe('OIDC_STATE_MISMATCH');
  });

  it('pending login made for another issuer -> OIDC_STATE_MISMATCH', () => {
    const other = { ...pending, issuer: 'https://other-op.example.com' };
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c' }, other, exp))).toBe('OIDC_STATE_MISMATCH');
  });

  it('pending login made for another redirect_uri -> OIDC_STATE_MISMATCH', () => {
    const other = { ...pending, redirectUri: 'https://app.example.com/other/callback' };
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c' }, other, exp))).toBe('OIDC_STATE_MISMATCH');
  });

  it('pending login older than the state TTL -> OIDC_STATE_EXPIRED', () => {
    const old = { ...pending, createdAt: NOW - TTL - 1 };
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c' }, old, exp))).toBe('OIDC_STATE_EXPIRED');
  });

  it('pending login exactly at the TTL is still accepted', () => {
    const edge = { ...pending, createdAt: NOW - TTL };
    expect(validateAuthorizationResponse({ state: 's', code: 'c' }, edge, exp)).toEqual({ code: 'c' });
  });

  it('a state problem is reported before an error response (a response we never asked for)', () => {
    expect(codeOf(() => validateAuthorizationResponse({ error: 'access_denied' }, pending, exp))).toBe('OIDC_STATE_MISSING');
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', error: 'access_denied' }, undefined, exp))).toBe('OIDC_STATE_MISMATCH');
  });
});

describe('validateAuthorizationResponse: RFC 9207 iss parameter', () => {
  it('2.4: "iss" present and different from the issuer -> OIDC_ISS_MISMATCH', () => {
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c', iss: 'https://evil.example.com' }, pending, exp))).toBe('OIDC_ISS_MISMATCH');
  });

  it('2.4: comparison is exact (trailing slash differs) -> OIDC_ISS_MISMATCH', () => {
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c', iss: `${ISS}/` }, pending, exp))).toBe('OIDC_ISS_MISMATCH');
  });

  it('2.4: "iss" equal to the issuer passes', () => {
    expect(validateAuthorizationResponse({ state: 's', code: 'c', iss: ISS }, pending, exp)).toEqual({ code: 'c' });
  });

  it('3: "iss" missing although the provider advertises authorization_response_iss_parameter_supported -> OIDC_ISS_MISMATCH', () => {
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c' }, pending, { ...exp, issRequired: true }))).toBe('OIDC_ISS_MISMATCH');
  });

  it('"iss" missing and not advertised -> accepted', () => {
    expect(validateAuthorizationResponse({ state: 's', code: 'c' }, pending, exp)).toEqual({ code: 'c' });
  });

  it('"iss" is checked before the error parameter (error responses are covered too)', () => {
    const params = { state: 's', error: 'access_denied', iss: 'https://evil.example.com' };
    expect(codeOf(() => validateAuthorizationResponse(params, pending, exp))).toBe('OIDC_ISS_MISMATCH');
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', error: 'access_denied' }, pending, { ...exp, issRequired: true }))).toBe(
      'OIDC_ISS_MISMATCH',
    );
  });
});

describe('validateAuthorizationResponse: error response (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6)', () => {
  it('error -> OIDC_AUTHORIZATION_ERROR with oauthError and the description in the message', () => {
    const err = errorOf(() =>
      validateAuthorizationResponse({ state: 's', error: 'login_required', error_description: 'user must log in', iss: ISS }, pending, exp),
    );
    expect(err?.code).toBe('OIDC_AUTHORIZATION_ERROR');
    expect(err?.oauthError).toBe('login_required');
    expect(err?.message).toContain('login_required');
    expect(err?.message).toContain('user must log in');
  });

  it('error wins over a code sent alongside it', () => {
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', error: 'access_denied', code: 'c' }, pending, exp))).toBe('OIDC_AUTHORIZATION_ERROR');
  });
});

describe('validateAuthorizationResponse: code', () => {
  it.each([
    ['absent', {}],
    ['empty', { code: '' }],
    ['not a string', { code: ['a'] }],
  ])('code %s -> OIDC_CODE_MISSING', (_l, params) => {
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', ...params }, pending, exp))).toBe('OIDC_CODE_MISSING');
  });

  it('happy path returns the code', () => {
    expect(validateAuthorizationResponse({ state: 's', code: 'the-code', iss: ISS }, pending, exp)).toEqual({ code: 'the-code' });
  });

  it('without a configured issuer (explicit endpoints) a pending login with issuer undefined matches', () => {
    const noIss = { ...exp, issuer: undefined };
    expect(validateAuthorizationResponse({ state: 's', code: 'c' }, { ...pending, issuer: undefined }, noIss)).toEqual({ code: 'c' });
  });

  it('uses the current time when "now" is not given', () => {
    const live = { ...exp, now: undefined };
    expect(validateAuthorizationResponse({ state: 's', code: 'c' }, { ...pending, createdAt: Date.now() }, live)).toEqual({ code: 'c' });
    expect(codeOf(() => validateAuthorizationResponse({ state: 's', code: 'c' }, { ...pending, createdAt: Date.now() - TTL - 5000 }, live))).toBe(
      'OIDC_STATE_EXPIRED',
    );
  });
});
