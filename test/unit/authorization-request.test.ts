/**
 * src/protocol/authorization-request.ts: PKCE (RFC 7636), random tokens, and the
 * authorization request URL (OIDC Core 3.1.2.1).
 */
import { describe, it, expect } from 'vitest';
import { buildAuthorizationUrl, pkceChallenge, randomToken, type AuthorizationRequestParams } from '../../src/protocol/authorization-request.js';

describe('pkceChallenge (RFC 7636 4.2, S256)', () => {
  it('matches the RFC 7636 Appendix B test vector', () => {
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('is base64url without padding', () => {
    expect(pkceChallenge(randomToken())).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('randomToken', () => {
  it('is 43 base64url characters (32 bytes; a valid RFC 7636 4.1 code verifier)', () => {
    const t = randomToken();
    expect(t).toHaveLength(43);
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('is unique across many calls', () => {
    const set = new Set(Array.from({ length: 1000 }, () => randomToken()));
    expect(set.size).toBe(1000);
  });
});

describe('buildAuthorizationUrl (OIDC Core 3.1.2.1)', () => {
  const params: AuthorizationRequestParams = {
    authorizationEndpoint: 'https://op.example.com/authorize',
    clientId: 'client 1',
    redirectUri: 'https://app.example.com/oidc/callback',
    scopes: ['openid', 'email', 'profile'],
    state: 'state-1',
    nonce: 'nonce-1',
    codeVerifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
  };

  it('sets response_type=code, client_id, redirect_uri, scope, state, nonce and S256 PKCE', () => {
    const url = new URL(buildAuthorizationUrl(params));
    expect(url.origin + url.pathname).toBe('https://op.example.com/authorize');
    const q = url.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe('client 1');
    expect(q.get('redirect_uri')).toBe('https://app.example.com/oidc/callback');
    expect(q.get('scope')).toBe('openid email profile');
    expect(q.get('state')).toBe('state-1');
    expect(q.get('nonce')).toBe('nonce-1');
    expect(q.get('code_challenge')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    expect(q.get('code_challenge_method')).toBe('S256');
  });

  it('never sends the code verifier itself', () => {
    const s = buildAuthorizationUrl(params);
    expect(s).not.toContain(params.codeVerifier as string);
    expect(new URL(s).searchParams.has('code_verifier')).toBe(false);
  });

  it('omits nonce and PKCE parameters when they are off', () => {
    const q = new URL(buildAuthorizationUrl({ ...params, nonce: undefined, codeVerifier: undefined })).searchParams;
    expect(q.has('nonce')).toBe(false);
    expect(q.has('code_challenge')).toBe(false);
    expect(q.has('code_challenge_method')).toBe(false);
  });

  it('keeps query parameters the endpoint already has (e.g. a tenant)', () => {
    const url = new URL(buildAuthorizationUrl({ ...params, authorizationEndpoint: 'https://op.example.com/authorize?tenant=acme&p=B2C_1' }));
    expect(url.searchParams.get('tenant')).toBe('acme');
    expect(url.searchParams.get('p')).toBe('B2C_1');
    expect(url.searchParams.get('state')).toBe('state-1');
  });

  it('adds extraParams (e.g. prompt=none for silent re-authentication)', () => {
    const q = new URL(buildAuthorizationUrl({ ...params, extraParams: { prompt: 'none', acr_values: 'mfa' } })).searchParams;
    expect(q.get('prompt')).toBe('none');
    expect(q.get('acr_values')).toBe('mfa');
  });

  it('extraParams cannot override the per-request parameters (they are set after)', () => {
    const extraParams = {
      state: 'attacker-state',
      nonce: 'attacker-nonce',
      redirect_uri: 'https://evil.example.com/cb',
      client_id: 'other',
      response_type: 'token',
      code_challenge: 'x',
      code_challenge_method: 'plain',
    };
    const q = new URL(buildAuthorizationUrl({ ...params, extraParams })).searchParams;
    expect(q.getAll('state')).toEqual(['state-1']);
    expect(q.getAll('nonce')).toEqual(['nonce-1']);
    expect(q.getAll('redirect_uri')).toEqual(['https://app.example.com/oidc/callback']);
    expect(q.getAll('client_id')).toEqual(['client 1']);
    expect(q.getAll('response_type')).toEqual(['code']);
    expect(q.getAll('code_challenge')).toEqual(['E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM']);
    expect(q.getAll('code_challenge_method')).toEqual(['S256']);
  });

  it("the endpoint's own state parameter is replaced, not duplicated", () => {
    const q = new URL(buildAuthorizationUrl({ ...params, authorizationEndpoint: 'https://op.example.com/authorize?state=stale' })).searchParams;
    expect(q.getAll('state')).toEqual(['state-1']);
  });
});
