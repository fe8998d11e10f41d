/**
 * src/protocol/issuer.ts (Entra multi-tenant and Google issuer forms), the Google authorization
 * request (src/protocol/authorization-request.ts requestForProvider), the 12.2 tenant rule, and
 * the allowedTenants configuration.
 */
import { describe, expect, it } from 'vitest';
import { isIssuerValue, issuerProblem, tenantTemplateFor } from '../../src/protocol/issuer.js';
import { requestForProvider } from '../../src/protocol/authorization-request.js';
import { checkIdTokenClaims } from '../../src/protocol/id-token.js';
import { resolveConfig } from '../../src/config.js';
import { codeOf } from '../support/error-code.js';

const MS = 'https://login.microsoftonline.com';
const TEMPLATE = `${MS}/{tenantid}/v2.0`;
const A = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const B = '9188040d-6c67-4c5b-b112-36a304b66dad';
const entra = { issuer: `${MS}/common/v2.0`, tenantTemplate: TEMPLATE };

describe("tenantTemplateFor (OIDC Discovery 4.3 and Microsoft's multi-tenant exception)", () => {
  it.each(['common', 'organizations', 'consumers'])('%s: the template is accepted', (segment) => {
    expect(tenantTemplateFor(`${MS}/${segment}/v2.0`, TEMPLATE)).toBe(TEMPLATE);
  });
  it.each([
    ['a single-tenant issuer', `${MS}/${A}/v2.0`, TEMPLATE],
    ['another host', `${MS}/common/v2.0`, 'https://login.evil.example/{tenantid}/v2.0'],
    ['another version path', `${MS}/common/v2.0`, `${MS}/{tenantid}/v1.0`],
    ['no template', `${MS}/common/v2.0`, `${MS}/common/v2.0`],
    ['not a string', `${MS}/common/v2.0`, 42],
  ])('%s: no template (the strict rule applies)', (_name, configured, discovered) => {
    expect(tenantTemplateFor(configured, discovered)).toBeUndefined();
  });
});

describe('issuerProblem', () => {
  it("Entra: iss must be the template with the token's own tid", () => {
    expect(issuerProblem({ iss: `${MS}/${A}/v2.0`, tid: A }, entra)).toBeUndefined();
    expect(issuerProblem({ iss: `${MS}/${A}/v2.0`, tid: B }, entra)?.reason).toMatch(/is not/);
    expect(issuerProblem({ iss: `${MS}/${A}/v2.0` }, entra)?.reason).toMatch(/tid/);
    expect(issuerProblem({ iss: `${MS}/x/v2.0`, tid: 'x' }, entra)?.reason).toMatch(/tid/);
    expect(issuerProblem({ iss: `${MS}/common/v2.0`, tid: A }, entra)?.reason).toMatch(/is not/);
    expect(issuerProblem({ iss: TEMPLATE, tid: A }, entra)?.reason).toMatch(/is not/);
  });
  it('Entra with allowedTenants: only those tenants (case-insensitive), refusals name the tenant', () => {
    const exp = { ...entra, allowedTenants: [A] };
    expect(issuerProblem({ iss: `${MS}/${A}/v2.0`, tid: A }, exp)).toBeUndefined();
    expect(issuerProblem({ iss: `${MS}/${A.toUpperCase()}/v2.0`, tid: A.toUpperCase() }, exp)).toBeUndefined();
    expect(issuerProblem({ iss: `${MS}/${B}/v2.0`, tid: B }, exp)).toEqual({ reason: expect.stringContaining(B), tenantNotAllowed: B });
  });
  it("Google: exactly its two documented forms, for Google's issuer only", () => {
    const google = { issuer: 'https://accounts.google.com' };
    expect(issuerProblem({ iss: 'https://accounts.google.com' }, google)).toBeUndefined();
    expect(issuerProblem({ iss: 'accounts.google.com' }, google)).toBeUndefined();
    for (const iss of ['http://accounts.google.com', 'https://accounts.google.com/', 'ACCOUNTS.GOOGLE.COM', 'accounts.google.com.evil']) {
      expect(issuerProblem({ iss }, google)).toBeDefined();
    }
    expect(issuerProblem({ iss: 'accounts.google.com' }, { issuer: 'https://op.example.com' })).toBeDefined();
  });
  it('everything else: exact', () => {
    expect(issuerProblem({ iss: 'https://op.example.com' }, { issuer: 'https://op.example.com' })).toBeUndefined();
    expect(issuerProblem({ iss: 'https://op.example.com/' }, { issuer: 'https://op.example.com' })).toBeDefined();
    expect(issuerProblem({}, { issuer: 'https://op.example.com' })).toBeDefined();
    // No configured issuer (explicit endpoints): nothing to compare.
    expect(issuerProblem({ iss: 'anything' }, { issuer: undefined })).toBeUndefined();
  });
});

describe('isIssuerValue (RFC 9207 iss parameter, front-channel logout iss)', () => {
  it('the issuer, or the template with any tenant id', () => {
    expect(isIssuerValue(`${MS}/common/v2.0`, entra)).toBe(true);
    expect(isIssuerValue(`${MS}/${A}/v2.0`, entra)).toBe(true);
    expect(isIssuerValue(`${MS}/evil/v2.0`, entra)).toBe(false);
    expect(isIssuerValue(`${MS}//v2.0`, entra)).toBe(false);
    expect(isIssuerValue(`https://login.evil.example/${A}/v2.0`, entra)).toBe(false);
    expect(isIssuerValue('https://op.example.com', { issuer: 'https://op.example.com' })).toBe(true);
    expect(isIssuerValue(`https://op.example.com/${A}`, { issuer: 'https://op.example.com' })).toBe(false);
  });
});

describe('OIDC Core 12.2 with a tenant: a refresh does not change tid', () => {
  const NOW = 1_800_000_000;
  const exp = { ...entra, clientId: 'c', nonce: undefined, clockTolerance: 60, now: NOW };
  const claims = (tid: string) => ({ iss: `${MS}/${tid}/v2.0`, tid, sub: 'u', aud: 'c', iat: NOW, exp: NOW + 300 });
  it('same tenant passes; another tenant (even with a consistent iss) fails', () => {
    const previous = { iss: `${MS}/${A}/v2.0`, sub: 'u', tid: A };
    expect(codeOf(() => checkIdTokenClaims(claims(A), exp, previous))).toBeUndefined();
    expect(codeOf(() => checkIdTokenClaims(claims(B), exp, previous))).toBe('OIDC_ID_TOKEN_INVALID');
    expect(codeOf(() => checkIdTokenClaims(claims(B), exp, { ...previous, iss: `${MS}/${B}/v2.0` }))).toBe('OIDC_ID_TOKEN_INVALID');
  });
  it('a tenant outside allowedTenants: OIDC_TENANT_NOT_ALLOWED', () => {
    expect(codeOf(() => checkIdTokenClaims(claims(B), { ...exp, allowedTenants: [A] }))).toBe('OIDC_TENANT_NOT_ALLOWED');
  });
});

describe('requestForProvider: Google knows no offline_access scope', () => {
  it('Google: offline_access becomes access_type=offline and prompt=consent', () => {
    expect(requestForProvider('https://accounts.google.com', ['openid', 'email', 'offline_access'], {})).toEqual({
      scopes: ['openid', 'email'],
      extraParams: { access_type: 'offline', prompt: 'consent' },
    });
  });
  it('Google: a prompt the app chose wins; without offline_access nothing changes', () => {
    expect(requestForProvider('https://accounts.google.com', ['openid', 'offline_access'], { prompt: 'select_account' }).extraParams).toEqual({
      access_type: 'offline',
      prompt: 'select_account',
    });
    expect(requestForProvider('https://accounts.google.com', ['openid'], {})).toEqual({ scopes: ['openid'], extraParams: {} });
  });
  it('any other issuer: unchanged', () => {
    expect(requestForProvider('https://op.example.com', ['openid', 'offline_access'], {})).toEqual({ scopes: ['openid', 'offline_access'], extraParams: {} });
  });
});

describe('allowedTenants / OIDC_OP_ALLOWED_TENANTS', () => {
  const base = { clientId: 'c', clientSecret: 's', baseUrl: 'https://app.example.com', env: {} };
  it('tenant ids with a multi-tenant issuer, from code or the env (lower-cased)', () => {
    expect(resolveConfig({ ...base, issuer: `${MS}/common/v2.0`, allowedTenants: [A.toUpperCase()] }).allowedTenants).toEqual([A]);
    expect(resolveConfig({ ...base, issuer: `${MS}/organizations/v2.0`, env: { OIDC_OP_ALLOWED_TENANTS: `${A}, ${B}` } }).allowedTenants).toEqual([A, B]);
    expect(resolveConfig({ ...base, issuer: 'https://op.example.com' }).allowedTenants).toEqual([]);
  });
  it('refused: entries that are not tenant ids, and a list for an issuer that is not multi-tenant', () => {
    expect(() => resolveConfig({ ...base, issuer: `${MS}/common/v2.0`, allowedTenants: ['contoso.onmicrosoft.com'] })).toThrow(
      /"allowedTenants" \(env OIDC_OP_ALLOWED_TENANTS\) entry "contoso.onmicrosoft.com" is not a tenant id/,
    );
    expect(() => resolveConfig({ ...base, issuer: `${MS}/${A}/v2.0`, allowedTenants: [A] })).toThrow(/applies only to a Microsoft Entra multi-tenant/);
  });
});
