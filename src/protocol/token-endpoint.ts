/**
 * The token endpoint: authorization code grant (RFC 6749 4.1.3, OIDC Core 3.1.3) and
 * refresh token grant (RFC 6749 6, OIDC Core 12). Response validation is pure
 * (`parseTokenResponse`); the request goes through the one HTTP client.
 */
import { OidcError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import { authenticateClient, type ClientCredentials } from './client-auth.js';

export interface TokenResponse {
  accessToken: string;
  tokenType: string;
  /** Epoch seconds when the response was received: expiresAt counts from here. */
  obtainedAt: number;
  /** Epoch seconds, when the provider sent expires_in. */
  expiresAt: number | undefined;
  idToken: string | undefined;
  refreshToken: string | undefined;
  scope: string | undefined;
}

/** RFC 6749 5.1 successful response. Pure. */
export function parseTokenResponse(body: Record<string, unknown>, now = Math.floor(Date.now() / 1000)): TokenResponse {
  const bad = (why: string): never => {
    throw new OidcError('OIDC_TOKEN_RESPONSE_INVALID', `token endpoint response ${why}`);
  };
  if (typeof body.access_token !== 'string' || body.access_token === '') bad('has no access_token');
  if (typeof body.token_type !== 'string') bad('has no token_type');
  // RFC 6750: we only know how to use Bearer tokens (token_type is case-insensitive, RFC 6749 5.1).
  if ((body.token_type as string).toLowerCase() !== 'bearer') bad(`has token_type "${String(body.token_type)}", not Bearer`);
  let expiresIn: number | undefined;
  if (body.expires_in !== undefined) {
    // Some providers send it as a string; anything not a non-negative number is malformed.
    const raw = body.expires_in;
    // Number('') is 0: a blank string must not read as "expires now".
    const n = typeof raw === 'string' ? (raw.trim() === '' ? Number.NaN : Number(raw)) : raw;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) bad('has an invalid expires_in');
    expiresIn = n as number;
  }
  const optional = (key: string): string | undefined => {
    const v = body[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') bad(`has an invalid ${key}`);
    return v as string;
  };
  return {
    accessToken: body.access_token as string,
    tokenType: body.token_type as string,
    obtainedAt: now,
    expiresAt: expiresIn === undefined ? undefined : now + Math.floor(expiresIn),
    idToken: optional('id_token'),
    refreshToken: optional('refresh_token'),
    scope: optional('scope'),
  };
}

async function tokenRequest(http: HttpClient, endpoint: string, creds: ClientCredentials, form: Record<string, string>): Promise<TokenResponse> {
  const auth = authenticateClient(creds, form);
  let body: Record<string, unknown>;
  try {
    body = await http.json(endpoint, { method: 'POST', form: auth.form, headers: auth.headers });
  } catch (err) {
    // A token endpoint that answers 200 with non-JSON is a broken response, not a network blip.
    if ((err as OidcError).code === 'OIDC_HTTP_INVALID_BODY' && (err as OidcError).status === 200) {
      throw new OidcError('OIDC_TOKEN_RESPONSE_INVALID', 'token endpoint response is not a JSON object', { cause: err, status: 200 });
    }
    throw err;
  }
  return parseTokenResponse(body);
}

/** RFC 6749 4.1.3 + RFC 7636 4.5. */
export async function exchangeAuthorizationCode(
  http: HttpClient,
  endpoint: string,
  creds: ClientCredentials,
  p: { code: string; redirectUri: string; codeVerifier: string | undefined },
): Promise<TokenResponse> {
  const form: Record<string, string> = { grant_type: 'authorization_code', code: p.code, redirect_uri: p.redirectUri };
  if (p.codeVerifier !== undefined) form.code_verifier = p.codeVerifier;
  const res = await tokenRequest(http, endpoint, creds, form);
  // OIDC Core 3.1.3.3: a successful code exchange for an openid request includes an ID token.
  if (res.idToken === undefined) throw new OidcError('OIDC_ID_TOKEN_MISSING', 'token endpoint response has no id_token');
  return res;
}

/** RFC 6749 6: refresh grant. The refresh token may or may not be rotated by the provider. */
export function refreshTokenGrant(http: HttpClient, endpoint: string, creds: ClientCredentials, refreshToken: string): Promise<TokenResponse> {
  return tokenRequest(http, endpoint, creds, { grant_type: 'refresh_token', refresh_token: refreshToken });
}
