/**
 * The token endpoint: authorization code grant (RFC 6749 4.1.3, OIDC Core 3.1.3) and
 * refresh token grant (RFC 6749 6, OIDC Core 12). Response validation is pure
 * (`parseTokenResponse`); the request goes through the one HTTP client.
 */
import { OidcError } from '../errors.js';
import { jsonBody, type HttpClient } from '../http/client.js';
import type { ClientAuthenticator } from './client-auth.js';
import { sendWithDpop, type DpopContext } from './dpop.js';

export interface TokenResponse {
  accessToken: string;
  /** `Bearer`, or `DPoP` for a token bound to the login's DPoP key (RFC 9449 5). */
  tokenType: 'Bearer' | 'DPoP';
  /** Epoch seconds when the response was received: expiresAt counts from here. */
  obtainedAt: number;
  /** Epoch seconds, when the provider sent expires_in. */
  expiresAt: number | undefined;
  idToken: string | undefined;
  refreshToken: string | undefined;
  scope: string | undefined;
}

/**
 * RFC 6749 5.1 successful response. Pure. `dpop`: the request carried a DPoP proof, so the token
 * may be of type DPoP (RFC 9449 5); a provider that does not bind it answers Bearer, which
 * `requireBound` (FAPI 2.0: sender-constrained tokens only) refuses.
 */
export function parseTokenResponse(
  body: Record<string, unknown>,
  now = Math.floor(Date.now() / 1000),
  binding: { dpop: boolean; requireBound?: boolean } = { dpop: false },
): TokenResponse {
  const bad = (why: string): never => {
    throw new OidcError('OIDC_TOKEN_RESPONSE_INVALID', `token endpoint response ${why}`);
  };
  if (typeof body.access_token !== 'string' || body.access_token === '') bad('has no access_token');
  if (typeof body.token_type !== 'string') bad('has no token_type');
  // token_type is case-insensitive (RFC 6749 5.1). Bearer (RFC 6750), or DPoP when we asked for it.
  const type = (body.token_type as string).toLowerCase();
  let tokenType: TokenResponse['tokenType'];
  if (type === 'bearer') {
    if (binding.dpop && binding.requireBound) bad('has token_type Bearer although DPoP was used: the provider did not bind the token (RFC 9449 5)');
    tokenType = 'Bearer';
  } else if (type === 'dpop' && binding.dpop) tokenType = 'DPoP';
  else tokenType = bad(`has token_type "${String(body.token_type)}", not ${binding.dpop ? 'DPoP or Bearer' : 'Bearer'}`);
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
    tokenType,
    obtainedAt: now,
    expiresAt: expiresIn === undefined ? undefined : now + Math.floor(expiresIn),
    idToken: optional('id_token'),
    refreshToken: optional('refresh_token'),
    scope: optional('scope'),
  };
}

/** Where a token request goes, and how it is authenticated and bound. */
export interface TokenEndpointCall {
  http: HttpClient;
  endpoint: string;
  client: ClientAuthenticator;
  /** The login's DPoP key: every token request then carries a proof (RFC 9449 5). */
  dpop?: DpopContext | undefined;
  /** Refuse an unbound (Bearer) token when DPoP was used (FAPI 2.0). */
  requireBound?: boolean;
}

async function tokenRequest(call: TokenEndpointCall, form: Record<string, string>): Promise<TokenResponse> {
  // Built afresh for a nonce retry: a new client assertion (its jti is single-use) and a new proof.
  const res = await sendWithDpop(
    call.http,
    call.endpoint,
    async () => ({ method: 'POST' as const, ...(await call.client.authenticate(call.endpoint, form)) }),
    call.dpop,
  );
  let body: Record<string, unknown>;
  try {
    body = jsonBody(res);
  } catch (err) {
    // A token endpoint that answers 200 with non-JSON is a broken response, not a network blip.
    if ((err as OidcError).code === 'OIDC_HTTP_INVALID_BODY' && (err as OidcError).status === 200) {
      throw new OidcError('OIDC_TOKEN_RESPONSE_INVALID', 'token endpoint response is not a JSON object', { cause: err, status: 200 });
    }
    throw err;
  }
  return parseTokenResponse(body, undefined, { dpop: call.dpop !== undefined, requireBound: call.requireBound });
}

/** RFC 6749 4.1.3 + RFC 7636 4.5. */
export async function exchangeAuthorizationCode(
  call: TokenEndpointCall,
  p: { code: string; redirectUri: string; codeVerifier: string | undefined },
): Promise<TokenResponse> {
  const form: Record<string, string> = { grant_type: 'authorization_code', code: p.code, redirect_uri: p.redirectUri };
  if (p.codeVerifier !== undefined) form.code_verifier = p.codeVerifier;
  const res = await tokenRequest(call, form);
  // OIDC Core 3.1.3.3: a successful code exchange for an openid request includes an ID token.
  if (res.idToken === undefined) throw new OidcError('OIDC_ID_TOKEN_MISSING', 'token endpoint response has no id_token');
  return res;
}

/** RFC 6749 6: refresh grant. The refresh token may or may not be rotated by the provider. */
export function refreshTokenGrant(call: TokenEndpointCall, refreshToken: string): Promise<TokenResponse> {
  return tokenRequest(call, { grant_type: 'refresh_token', refresh_token: refreshToken });
}
