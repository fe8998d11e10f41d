/**
 * Which `iss` values stand for the configured provider. OIDC Core 3.1.3.7 step 2 (and RFC 9068 4,
 * Back-Channel Logout 2.6 step 3) want the token's `iss` to equal the issuer exactly; two providers
 * that Express apps use most document something else, and both are handled here, narrowly:
 *
 * - Microsoft Entra ID multi-tenant (`.../common/v2.0`, `organizations`, `consumers`): the discovery
 *   document's issuer is a template, `https://login.microsoftonline.com/{tenantid}/v2.0`, and each
 *   token carries its user's tenant: `iss` is the template with `{tenantid}` replaced by the token's
 *   own `tid` claim. Microsoft's documented validation rule is exactly that substitution; a token
 *   without `tid`, or whose `iss` differs from the substituted template in any other way, is refused.
 *   `allowedTenants` restricts the tenants (otherwise any Entra account of any organisation signs in).
 * - Google: its ID tokens carry `https://accounts.google.com` or `accounts.google.com` (Google's
 *   documented two forms); for that issuer exactly these two are accepted, nothing else.
 *
 * Everything else keeps the strict comparison. Pure.
 */

import { GOOGLE_ISSUER, GOOGLE_ISSUER_FORMS, MULTI_TENANT_SEGMENTS, TENANT_PLACEHOLDER, isTenantId } from '../issuer-forms.js';

export interface IssuerExpectation {
  /** The configured issuer; undefined only without one (explicit endpoints): nothing to compare. */
  issuer: string | undefined;
  /** The discovered issuer template containing `{tenantid}` (Entra multi-tenant), when there is one. */
  tenantTemplate?: string | undefined;
  /** OIDC_OP_ALLOWED_TENANTS: the tenants a multi-tenant issuer may sign in from (empty: any). */
  allowedTenants?: readonly string[] | undefined;
}

/** Why a token's issuer is refused; `tenantNotAllowed` when only allowedTenants refuses it. */
export interface IssuerProblem {
  reason: string;
  tenantNotAllowed?: string;
}

/**
 * OIDC Discovery 4.3 wants the document's issuer to equal the configured one. Microsoft documents
 * the exception: for `common`, `organizations` and `consumers` the document names the template.
 * Returns the template when `discovered` is that template for `configured` (the `{tenantid}`
 * segment standing where the configured issuer has common/organizations/consumers, all else
 * identical), else undefined (then the strict rule applies).
 */
export function tenantTemplateFor(configured: string, discovered: unknown): string | undefined {
  if (typeof discovered !== 'string' || !discovered.includes(TENANT_PLACEHOLDER)) return undefined;
  for (const segment of MULTI_TENANT_SEGMENTS) {
    if (discovered.replace(TENANT_PLACEHOLDER, segment) === configured) return discovered;
  }
  return undefined;
}

/** Whether `iss` is the configured issuer (exactly, or as its documented Google / Entra forms). */
export function issuerProblem(claims: { iss?: unknown; tid?: unknown }, exp: IssuerExpectation): IssuerProblem | undefined {
  if (exp.issuer === undefined) return undefined;
  const iss = claims.iss;
  if (typeof iss !== 'string') return { reason: 'missing "iss"' };
  if (exp.tenantTemplate !== undefined) {
    const tid = claims.tid;
    if (typeof tid !== 'string' || !isTenantId(tid)) return { reason: `no tenant ("tid") in a token of the multi-tenant issuer ${exp.issuer}` };
    const expected = exp.tenantTemplate.replace(TENANT_PLACEHOLDER, tid);
    if (iss !== expected) return { reason: `"iss" ${iss} is not ${expected} (the issuer template with the token's "tid")` };
    const allowed = exp.allowedTenants ?? [];
    if (allowed.length > 0 && !allowed.some((t) => t.toLowerCase() === tid.toLowerCase())) {
      return { reason: `tenant ${tid} is not in OIDC_OP_ALLOWED_TENANTS`, tenantNotAllowed: tid };
    }
    return undefined;
  }
  if (exp.issuer === GOOGLE_ISSUER && GOOGLE_ISSUER_FORMS.includes(iss)) return undefined;
  return iss === exp.issuer ? undefined : { reason: `"iss" ${iss} is not ${exp.issuer}` };
}

/**
 * An issuer named without a token to read `tid` from (RFC 9207's `iss` authorization response
 * parameter, Front-Channel Logout's `iss`): the issuer, or with a template, the template for some
 * tenant id.
 */
export function isIssuerValue(value: string, exp: IssuerExpectation): boolean {
  if (value === exp.issuer) return true;
  if (exp.tenantTemplate === undefined) return false;
  const [before, after] = exp.tenantTemplate.split(TENANT_PLACEHOLDER) as [string, string];
  if (!value.startsWith(before) || !value.endsWith(after) || value.length <= before.length + after.length) return false;
  return isTenantId(value.slice(before.length, value.length - after.length));
}
