/**
 * Pushed Authorization Requests (RFC 9126): the authorization request's parameters go to the
 * provider over the back channel, authenticated as the client, and the browser carries only
 * `client_id` and the `request_uri` the provider returned. The parameters can then neither be read
 * nor altered in the browser, and the provider knows the client before the user sees anything.
 */
import { OidcError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import type { ClientAuthenticator } from './client-auth.js';

export interface PushedRequest {
  /** RFC 9126 2.2: the reference to the pushed request. */
  requestUri: string;
  /** Seconds the reference stays valid. */
  expiresIn: number;
}

/** RFC 9126 2.2: a 201 with `request_uri` and `expires_in`. Pure. */
export function parsePushedAuthorizationResponse(body: Record<string, unknown>): PushedRequest {
  const bad = (why: string): never => {
    throw new OidcError('OIDC_PAR_FAILED', `pushed authorization response ${why}`);
  };
  if (typeof body.request_uri !== 'string' || body.request_uri === '') bad('has no request_uri');
  if (typeof body.expires_in !== 'number' || !Number.isFinite(body.expires_in) || body.expires_in <= 0) bad('has no positive expires_in');
  return { requestUri: body.request_uri as string, expiresIn: body.expires_in as number };
}

/** RFC 9126 2.1: POST the parameters, with client authentication, to the PAR endpoint. */
export async function pushAuthorizationRequest(
  http: HttpClient,
  endpoint: string,
  client: ClientAuthenticator,
  params: Record<string, string>,
): Promise<PushedRequest> {
  const auth = await client.authenticate(endpoint, params);
  const res = await http.send(endpoint, { method: 'POST', form: auth.form, headers: auth.headers });
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    body = undefined;
  }
  const obj = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  // RFC 9126 2.2 says 201; a 200 with the same body is accepted (some providers answer so).
  if (res.status === 201 || res.status === 200) {
    if (!obj) throw new OidcError('OIDC_PAR_FAILED', `${endpoint} answered ${res.status} without a JSON object`, { status: res.status });
    return parsePushedAuthorizationResponse(obj);
  }
  // RFC 9126 2.3: an error response as at the token endpoint. 5xx and 429 stay retryable (503 to the user).
  const error = typeof obj?.error === 'string' ? ` ${obj.error}${typeof obj.error_description === 'string' ? `: ${obj.error_description}` : ''}` : '';
  throw new OidcError('OIDC_PAR_FAILED', `the pushed authorization request was refused: ${endpoint} answered ${res.status}${error}`, {
    status: res.status,
    oauthError: typeof obj?.error === 'string' ? obj.error : undefined,
    statusCode: res.status >= 500 || res.status === 429 ? 503 : 500,
  });
}

/** RFC 9126 4: the authorization request that refers to the pushed one. */
export function pushedAuthorizationUrl(authorizationEndpoint: string, clientId: string, requestUri: string): string {
  const url = new URL(authorizationEndpoint);
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('request_uri', requestUri);
  return url.toString();
}
