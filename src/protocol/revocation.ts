/**
 * Token revocation (RFC 7009), used at logout so a stolen copy of the session's tokens dies with it.
 */
import type { HttpClient } from '../http/client.js';
import { authenticateClient, type ClientCredentials } from './client-auth.js';
import { OidcError } from '../errors.js';

export type RevocableTokenType = 'refresh_token' | 'access_token';

/** RFC 7009 2.1. Resolves on 200 (2.2: also for tokens already invalid); throws otherwise. */
export async function revokeToken(
  http: HttpClient,
  endpoint: string,
  creds: ClientCredentials,
  token: string,
  tokenTypeHint: RevocableTokenType,
): Promise<void> {
  const auth = authenticateClient(creds, { token, token_type_hint: tokenTypeHint });
  const res = await http.send(endpoint, { method: 'POST', form: auth.form, headers: auth.headers });
  if (res.status !== 200) {
    throw new OidcError('OIDC_HTTP_STATUS', `revocation endpoint answered HTTP ${res.status}`, { status: res.status });
  }
}
