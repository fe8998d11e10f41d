/**
 * Token revocation (RFC 7009), used at logout so a stolen copy of the session's tokens dies with it.
 */
import type { HttpClient } from '../http/client.js';
import type { ClientAuthenticator } from './client-auth.js';
import { sendWithDpop, type DpopContext } from './dpop.js';
import { OidcError } from '../errors.js';

export type RevocableTokenType = 'refresh_token' | 'access_token';

/**
 * RFC 7009 2.1. Resolves on 200 (2.2: also for tokens already invalid); throws otherwise. With the
 * login's DPoP key, the request carries a proof: a provider may ask one for a DPoP-bound refresh
 * token of a public client (RFC 9449 5).
 */
export async function revokeToken(
  http: HttpClient,
  endpoint: string,
  client: ClientAuthenticator,
  token: string,
  tokenTypeHint: RevocableTokenType,
  dpop?: DpopContext,
): Promise<void> {
  const form = { token, token_type_hint: tokenTypeHint };
  const res = await sendWithDpop(http, endpoint, async () => ({ method: 'POST' as const, ...(await client.authenticate(endpoint, form)) }), dpop);
  if (res.status !== 200) {
    throw new OidcError('OIDC_HTTP_STATUS', `revocation endpoint answered HTTP ${res.status}`, { status: res.status });
  }
}
