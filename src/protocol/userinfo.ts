/**
 * The UserInfo endpoint (OIDC Core 5.3).
 */
import { OidcError } from '../errors.js';
import { jsonBody, type HttpClient } from '../http/client.js';
import { sendWithDpop, type DpopContext } from './dpop.js';

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
