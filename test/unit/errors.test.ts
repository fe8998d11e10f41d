/**
 * src/errors.ts: stable error codes, the cross-copy isOidcError check, and the
 * transient-vs-dead classification of provider failures.
 */
import { describe, it, expect } from 'vitest';
import { OidcError, isOidcError, isTransientProviderError, type OidcErrorCode, type OidcErrorOptions } from '../../src/errors.js';

const e = (code: OidcErrorCode, opts: OidcErrorOptions = {}) => new OidcError(code, 'x', opts);

describe('OidcError', () => {
  it('carries code, oauthError, status, statusCode and cause', () => {
    const cause = new Error('root');
    const err = new OidcError('OIDC_OP_ERROR', 'msg', { cause, oauthError: 'invalid_grant', status: 400, statusCode: 401 });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('OidcError');
    expect(err.message).toBe('msg');
    expect(err.code).toBe('OIDC_OP_ERROR');
    expect(err.oauthError).toBe('invalid_grant');
    expect(err.status).toBe(400);
    expect(err.statusCode).toBe(401);
    expect(err.cause).toBe(cause);
  });

  it('has no cause property when none is given', () => {
    expect('cause' in e('OIDC_STATE_MISSING')).toBe(false);
  });
});

describe('isOidcError', () => {
  it('true for an OidcError', () => {
    expect(isOidcError(e('OIDC_STATE_MISSING'))).toBe(true);
  });

  it('true for a structurally identical object from another copy of the package (dual-package hazard)', () => {
    class ForeignOidcError extends Error {
      readonly code = 'OIDC_STATE_MISMATCH';
      constructor() {
        super('foreign');
        this.name = 'OidcError';
      }
    }
    const foreign = new ForeignOidcError();
    expect(foreign instanceof OidcError).toBe(false);
    expect(isOidcError(foreign)).toBe(true);
    expect(isOidcError({ name: 'OidcError', code: 'OIDC_HTTP_TIMEOUT', message: 'plain object' })).toBe(true);
  });

  it.each([
    ['a plain Error', new Error('x')],
    ['an error with a code but another name', Object.assign(new Error('x'), { code: 'OIDC_STATE_MISSING' })],
    ['name OidcError without a string code', { name: 'OidcError', code: 42 }],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'OidcError'],
  ])('false for %s', (_l, v) => {
    expect(isOidcError(v)).toBe(false);
  });
});

describe('isTransientProviderError (failure semantics: attempt failed vs credential dead)', () => {
  it.each([
    ['timeout', e('OIDC_HTTP_TIMEOUT')],
    ['network error', e('OIDC_HTTP_NETWORK')],
    ['discovery failure', e('OIDC_DISCOVERY_FAILED')],
    ['refresh failed', e('OIDC_REFRESH_FAILED')],
    ['HTTP 500', e('OIDC_HTTP_STATUS', { status: 500 })],
    ['HTTP 502', e('OIDC_HTTP_STATUS', { status: 502 })],
    ['HTTP 503', e('OIDC_HTTP_STATUS', { status: 503 })],
    ['HTTP 429', e('OIDC_HTTP_STATUS', { status: 429 })],
    ['HTTP status unknown', e('OIDC_HTTP_STATUS')],
    ['proxy HTML error page (invalid body, 502)', e('OIDC_HTTP_INVALID_BODY', { status: 502 })],
    ['response too large', e('OIDC_HTTP_RESPONSE_TOO_LARGE')],
    ['OAuth temporarily_unavailable', e('OIDC_OP_ERROR', { oauthError: 'temporarily_unavailable', status: 400 })],
    ['OAuth error with a 5xx status', e('OIDC_OP_ERROR', { oauthError: 'server_error', status: 500 })],
    ['OAuth error body with HTTP 429', e('OIDC_OP_ERROR', { oauthError: 'slow_down', status: 429 })],
  ])('transient: %s', (_l, err) => {
    expect(isTransientProviderError(err)).toBe(true);
  });

  it.each([
    ['invalid_grant (refresh token dead)', e('OIDC_OP_ERROR', { oauthError: 'invalid_grant', status: 400 })],
    ['invalid_client', e('OIDC_OP_ERROR', { oauthError: 'invalid_client', status: 401 })],
    ['HTTP 400 without an OAuth body', e('OIDC_HTTP_STATUS', { status: 400 })],
    ['HTTP 401', e('OIDC_HTTP_STATUS', { status: 401 })],
    ['HTTP 404', e('OIDC_HTTP_STATUS', { status: 404 })],
    ['invalid JSON with a 200', e('OIDC_HTTP_INVALID_BODY', { status: 200 })],
    ['ID token invalid', e('OIDC_ID_TOKEN_INVALID')],
    ['ID token signature', e('OIDC_ID_TOKEN_SIGNATURE')],
    ['ID token expired', e('OIDC_ID_TOKEN_EXPIRED')],
    ['ID token alg', e('OIDC_ID_TOKEN_ALG')],
    ['ID token missing', e('OIDC_ID_TOKEN_MISSING')],
    ['token response invalid', e('OIDC_TOKEN_RESPONSE_INVALID')],
    ['session ended', e('OIDC_SESSION_ENDED')],
    ['config invalid', e('OIDC_CONFIG_INVALID')],
    ['issuer mismatch', e('OIDC_DISCOVERY_ISSUER_MISMATCH')],
  ])('not transient: %s', (_l, err) => {
    expect(isTransientProviderError(err)).toBe(false);
  });

  it.each([
    ['a plain Error', new Error('ECONNRESET')],
    ['undefined', undefined],
    ['a string', 'timeout'],
  ])('not an OidcError (%s) -> false', (_l, v) => {
    expect(isTransientProviderError(v)).toBe(false);
  });

  it('works on a structurally identical foreign error', () => {
    expect(isTransientProviderError({ name: 'OidcError', code: 'OIDC_HTTP_TIMEOUT' })).toBe(true);
  });
});
