/**
 * The UserInfo endpoint (OIDC Core 5.3).
 */
import { OidcError } from '../errors.js';
import { jsonBody, type HttpClient } from '../http/client.js';
import { sendWithDpop, type DpopContext } from './dpop.js';

/**
 * The claims each standard scope asks for (OIDC Core 5.4). `openid` and `offline_access` ask for
 * none; any other scope is the provider's own, with claims the library cannot know.
 */
const SCOPE_CLAIMS: Record<string, readonly string[]> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email'],
  address: ['address'],
  phone: ['phone_number'],
};
const NO_CLAIMS = new Set(['openid', 'offline_access']);

/**
 * Whether the login calls userinfo (OIDC_FETCH_USERINFO). true and false are as configured. With
 * `'auto'`, only when the ID token may lack claims the app asked for: with the code flow the
 * claims of the profile, email, address and phone scopes are userinfo's to return (OIDC Core 5.4);
 * many providers put them in the ID token as well, and then the call adds nothing. So it is skipped
 * only when every requested scope is one of those (or asks for no claims) and the ID token carries
 * at least one claim of each; a scope of the provider's own, or a `claims` request parameter
 * (OIDC Core 5.5), always calls. Pure.
 */
export function userinfoWanted(
  setting: boolean | 'auto',
  scopes: readonly string[],
  idTokenClaims: Record<string, unknown>,
  extraParams: Record<string, string> = {},
): boolean {
  if (setting !== 'auto') return setting;
  if (extraParams.claims !== undefined) return true;
  for (const scope of scopes) {
    if (NO_CLAIMS.has(scope)) continue;
    const claims = SCOPE_CLAIMS[scope];
    if (!claims?.some((c) => idTokenClaims[c] !== undefined)) return true;
  }
  return false;
}

/**
 * GET the claims with the access token: `Bearer` (RFC 6750 2.1), or for a DPoP-bound token the
 * `DPoP` scheme with a proof carrying its hash (RFC 9449 7.1), retried once for a nonce.
 */
export async function fetchUserinfo(
  http: HttpClient,
  endpoint: string,
  accessToken: string,
  expectedSub: string,
  dpop?: DpopContext,
): Promise<Record<string, unknown>> {
  const scheme = dpop ? 'DPoP' : 'Bearer';
  const res = await sendWithDpop(http, endpoint, () => ({ method: 'GET', headers: { authorization: `${scheme} ${accessToken}` } }), dpop, accessToken);
  return checkUserinfoSubject(jsonBody(res), expectedSub);
}

/**
 * OIDC Core 5.3.4: the sub in the UserInfo response MUST exactly match the sub in the ID token;
 * if not, the response MUST NOT be used (token substitution). Pure.
 */
export function checkUserinfoSubject(body: Record<string, unknown>, expectedSub: string): Record<string, unknown> {
  if (body.sub !== expectedSub) {
    throw new OidcError('OIDC_USERINFO_SUB_MISMATCH', `userinfo "sub" ${String(body.sub)} does not match the ID token "sub"`);
  }
  return body;
}
