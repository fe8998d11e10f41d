/**
 * Resolving the app's user from the claims, as mozilla-django-oidc's
 * `OIDCAuthenticationBackend.get_or_create_user` does: verify claims, look users up, then
 * none -> create (if allowed), one -> update, several -> refuse.
 */
import { OidcError } from '../errors.js';
import type { OidcClaims, OidcHooks, OidcUser, UserHookContext } from '../types.js';
import type { OidcLogger } from '../types.js';

export interface UserResolution {
  hooks: OidcHooks;
  scopes: string[];
  createUser: boolean;
  logger: OidcLogger;
}

/**
 * mozilla-django-oidc's default verify_claims: when the `email` scope was requested, an email
 * claim must be present (the default user lookup keys on it there).
 */
export function defaultVerifyClaims(claims: OidcClaims, scopes: string[]): boolean {
  return scopes.includes('email') ? typeof claims.email === 'string' && claims.email !== '' : true;
}

/** The user object when the app gives no hooks: the identifying claims, keyed by iss + sub. */
export function defaultUserFromClaims(claims: OidcClaims): OidcUser {
  const user: Record<string, unknown> = { sub: claims.sub, iss: claims.iss };
  for (const key of ['email', 'email_verified', 'name', 'preferred_username', 'given_name', 'family_name', 'picture']) {
    if (claims[key] !== undefined) user[key] = claims[key];
  }
  return user as OidcUser;
}

export async function resolveUser(claims: OidcClaims, ctx: UserHookContext, opts: UserResolution): Promise<OidcUser> {
  const { hooks } = opts;
  const verified = hooks.verifyClaims ? await hooks.verifyClaims(claims, ctx) : defaultVerifyClaims(claims, opts.scopes);
  if (verified !== true) throw new OidcError('OIDC_CLAIMS_REJECTED', 'verifyClaims refused the claims');

  const users = hooks.filterUsersByClaims ? await hooks.filterUsersByClaims(claims, ctx) : [];
  if (!Array.isArray(users)) throw new TypeError('filterUsersByClaims must return an array of users');

  if (users.length === 1) {
    const user = users[0] as OidcUser;
    return hooks.updateUser ? await hooks.updateUser(user, claims, ctx) : user;
  }
  if (users.length > 1) {
    // mozilla-django-oidc: "Multiple users returned" -> refuse rather than pick one (account takeover).
    opts.logger.warn('several users match the claims; refusing the login', { sub: claims.sub, iss: claims.iss, count: users.length });
    throw new OidcError('OIDC_USER_AMBIGUOUS', `${users.length} users match the claims`);
  }
  if (!opts.createUser) throw new OidcError('OIDC_USER_NOT_FOUND', 'no user matches the claims and OIDC_CREATE_USER is off');
  const created = hooks.createUser ? await hooks.createUser(claims, ctx) : defaultUserFromClaims(claims);
  if (created === undefined || created === null) throw new OidcError('OIDC_USER_NOT_FOUND', 'createUser returned no user');
  return created;
}
