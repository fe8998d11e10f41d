/**
 * The UserInfo endpoint (OIDC Core 5.3).
 */
import { OidcError } from '../errors.js';
import type { HttpClient } from '../http/client.js';

export async function fetchUserinfo(http: HttpClient, endpoint: string, accessToken: string, expectedSub: string): Promise<Record<string, unknown>> {
  const body = await http.json(endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  return checkUserinfoSubject(body, expectedSub);
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
