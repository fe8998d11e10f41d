/**
 * Facts about issuer identifiers that both the configuration checks (src/config/) and token
 * validation (src/protocol/issuer.ts) need: Microsoft Entra's tenant ids and multi-tenant issuers,
 * and Google's issuer. Values only, no logic beyond recognising them.
 */

/** Where the tenant goes in Entra's multi-tenant issuer template (its discovery document's issuer). */
export const TENANT_PLACEHOLDER = '{tenantid}';

/** The tenant-independent path segments of Microsoft's multi-tenant issuers. */
export const MULTI_TENANT_SEGMENTS: readonly string[] = ['common', 'organizations', 'consumers'];

/** Google's issuer, and the two forms its ID tokens carry (Google's OpenID Connect documentation). */
export const GOOGLE_ISSUER = 'https://accounts.google.com';
export const GOOGLE_ISSUER_FORMS: readonly string[] = [GOOGLE_ISSUER, 'accounts.google.com'];

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An Entra tenant id: a GUID. */
export function isTenantId(value: string): boolean {
  return TENANT_ID.test(value);
}

/** A configured issuer that names no tenant: `https://login.microsoftonline.com/common/v2.0` and the like. */
export function isMultiTenantIssuer(issuer: string): boolean {
  if (!URL.canParse(issuer)) return false;
  return new URL(issuer).pathname.split('/').some((s) => MULTI_TENANT_SEGMENTS.includes(s.toLowerCase()));
}
