/**
 * src/protocol/token-endpoint.ts: parseTokenResponse, the RFC 6749 5.1 successful response.
 */
import { describe, it, expect } from 'vitest';
import { parseTokenResponse } from '../../src/protocol/token-endpoint.js';
import { codeOf } from '../support/error-code.js';

const NOW = 1_700_000_000;

const ok = { access_token: 'at', token_type: 'Bearer' };

describe('parseTokenResponse (RFC 6749 5.1)', () => {
  it('a minimal response parses, absent optional fields are undefined', () => {
    expect(parseTokenResponse(ok, NOW)).toEqual({
      accessToken: 'at',
      tokenType: 'Bearer',
      obtainedAt: NOW,
      expiresAt: undefined,
      idToken: undefined,
      refreshToken: undefined,
      scope: undefined,
    });
  });

  it('a full response parses', () => {
    const r = parseTokenResponse({ ...ok, expires_in: 3600, id_token: 'a.b.c', refresh_token: 'rt', scope: 'openid email' }, NOW);
    // expiresAt counts from obtainedAt, the instant the response was read.
    expect(r).toEqual({
      accessToken: 'at',
      tokenType: 'Bearer',
      obtainedAt: NOW,
      expiresAt: NOW + 3600,
      idToken: 'a.b.c',
      refreshToken: 'rt',
      scope: 'openid email',
    });
  });

  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('5.1: token_type is case-insensitive: %s accepted (as Bearer)', (t) => {
    expect(parseTokenResponse({ ...ok, token_type: t }, NOW).tokenType).toBe('Bearer');
  });

  it.each(['DPoP', 'mac', 'Basic', '', 'Bearer '])('RFC 6750: token_type %j is not Bearer -> OIDC_TOKEN_RESPONSE_INVALID', (t) => {
    expect(codeOf(() => parseTokenResponse({ ...ok, token_type: t }, NOW))).toBe('OIDC_TOKEN_RESPONSE_INVALID');
  });

  it.each(['DPoP', 'dpop'])('RFC 9449 5: with a DPoP proof sent, token_type %s is a DPoP-bound token', (t) => {
    expect(parseTokenResponse({ ...ok, token_type: t }, NOW, { dpop: true }).tokenType).toBe('DPoP');
  });

  it('RFC 9449 5: with a proof sent, a Bearer answer (the provider did not bind) is accepted, unless bound tokens are required (FAPI 2.0)', () => {
    expect(parseTokenResponse(ok, NOW, { dpop: true }).tokenType).toBe('Bearer');
    expect(codeOf(() => parseTokenResponse(ok, NOW, { dpop: true, requireBound: true }))).toBe('OIDC_TOKEN_RESPONSE_INVALID');
  });

  it.each([
    ['missing', undefined],
    ['a number', 1],
  ])('token_type %s -> OIDC_TOKEN_RESPONSE_INVALID', (_l, t) => {
    expect(codeOf(() => parseTokenResponse({ access_token: 'at', token_type: t }, NOW))).toBe('OIDC_TOKEN_RESPONSE_INVALID');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['a number', 42],
    ['null', null],
  ])('5.1: access_token %s -> OIDC_TOKEN_RESPONSE_INVALID', (_l, at) => {
    expect(codeOf(() => parseTokenResponse({ access_token: at, token_type: 'Bearer' }, NOW))).toBe('OIDC_TOKEN_RESPONSE_INVALID');
  });

  describe('expires_in', () => {
    it.each([
      [3600, NOW + 3600],
      ['3600', NOW + 3600],
      [0, NOW],
      [59.9, NOW + 59],
      ['120.5', NOW + 120],
    ])('%j -> expiresAt now + floor(value)', (v, expected) => {
      expect(parseTokenResponse({ ...ok, expires_in: v }, NOW).expiresAt).toBe(expected);
    });

    it.each([
      ['negative number', -1],
      ['negative string', '-60'],
      ['garbage string', 'abc'],
      ['NaN string', 'NaN'],
      ['Infinity string', 'Infinity'],
      ['boolean', true],
      ['object', {}],
      ['array', [3600]],
      ['null', null],
      ['blank string', ''],
      ['whitespace string', '  '],
    ])('%s -> OIDC_TOKEN_RESPONSE_INVALID', (_l, v) => {
      expect(codeOf(() => parseTokenResponse({ ...ok, expires_in: v }, NOW))).toBe('OIDC_TOKEN_RESPONSE_INVALID');
    });
  });

  describe('optional string fields (id_token, refresh_token, scope)', () => {
    it.each(['id_token', 'refresh_token', 'scope'])('%s: null is treated as absent', (key) => {
      expect(() => parseTokenResponse({ ...ok, [key]: null }, NOW)).not.toThrow();
    });

    it.each([
      ['id_token', ''],
      ['id_token', 42],
      ['refresh_token', ''],
      ['refresh_token', {}],
      ['scope', ''],
      ['scope', ['openid']],
    ])('%s = %j -> OIDC_TOKEN_RESPONSE_INVALID (must be a non-empty string)', (key, v) => {
      expect(codeOf(() => parseTokenResponse({ ...ok, [key]: v }, NOW))).toBe('OIDC_TOKEN_RESPONSE_INVALID');
    });
  });

  it('uses the current time when "now" is not given', () => {
    const before = Math.floor(Date.now() / 1000);
    const r = parseTokenResponse({ ...ok, expires_in: 100 });
    expect(r.expiresAt).toBeGreaterThanOrEqual(before + 100);
    expect(r.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 100);
  });
});
