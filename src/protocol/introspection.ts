/**
 * Asking the provider about an opaque access token: RFC 7662 token introspection, or (the
 * mozilla-django-oidc DRF way, for providers without introspection) calling the UserInfo endpoint
 * (OIDC Core 5.3) with the token and taking a 200 as "valid".
 *
 * Both return the claims to authenticate the request with. A token the provider says is not
 * valid becomes OIDC_ACCESS_TOKEN_INVALID; a provider that cannot answer (network, timeout, 5xx)
 * keeps the HTTP client's error code, which isTransientProviderError classifies as temporary.
 */
import { OidcError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import type { OidcClaims } from '../types.js';
import type { ClientAuthenticator } from './client-auth.js';

export interface IntrospectionExpectations {
  /** The provider's issuer identifier; `iss`, when present, must equal it. */
  issuer: string | undefined;
  /** `aud`, when present, must contain one of these (the resource server's audience, the client id). */
  audiences: string[];
  clockTolerance: number;
  /** Epoch seconds; injectable for tests. */
  now?: number;
}

const invalid = (message: string): never => {
  throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', `access token rejected: ${message}`);
};

/**
 * RFC 7662 2.1: POST `token` (and the hint `token_type_hint=access_token`), with the client's
 * authentication (2.1: the endpoint MUST require some form of authorization). Returns the raw
 * response (2.2); throws the HTTP client's errors for non-2xx answers.
 */
export async function introspectToken(http: HttpClient, endpoint: string, client: ClientAuthenticator, token: string): Promise<Record<string, unknown>> {
  const auth = await client.authenticate(endpoint, { token, token_type_hint: 'access_token' });
  return http.json(endpoint, { method: 'POST', form: auth.form, headers: auth.headers });
}

/**
 * The checks on an introspection response. Pure.
 * RFC 7662 2.2: `active` is REQUIRED; anything but boolean true means the token is not usable
 * (expired, revoked, unknown, or not meant for this client: the provider does not say which, on
 * purpose). The optional members are checked when present, as for a JWT access token (RFC 9068 4),
 * so a provider serving several resource servers cannot make us accept a token meant for another.
 */
export function checkIntrospectionResponse(body: Record<string, unknown>, exp: IntrospectionExpectations): OidcClaims {
  const now = exp.now ?? Math.floor(Date.now() / 1000);
  const tol = exp.clockTolerance;
  if (body.active !== true) invalid('the provider reports it inactive (expired, revoked or unknown)');

  if (body.iss !== undefined && exp.issuer !== undefined && body.iss !== exp.issuer) {
    invalid(`introspection "iss" ${String(body.iss)} is not ${exp.issuer}`);
  }
  if (body.aud !== undefined) {
    const aud = typeof body.aud === 'string' ? [body.aud] : body.aud;
    if (!Array.isArray(aud) || !aud.some((a) => exp.audiences.includes(a as string))) {
      invalid(`introspection "aud" does not contain ${exp.audiences.join(' or ')}`);
    }
  }
  if (body.exp !== undefined && (typeof body.exp !== 'number' || body.exp <= now - tol)) invalid('introspection "exp" is in the past');
  if (body.nbf !== undefined && (typeof body.nbf !== 'number' || body.nbf > now + tol)) invalid('introspection "nbf" is in the future');
  // RFC 7662 2.2 makes `sub` optional; a token without one (e.g. a client credentials grant at
  // some providers) identifies no user, and this library's job is to resolve one.
  if (typeof body.sub !== 'string' || body.sub === '') invalid('introspection response has no "sub"');

  const { active: _active, ...claims } = body;
  const iss = typeof body.iss === 'string' ? body.iss : (exp.issuer ?? '');
  return { ...claims, iss, sub: body.sub as string } as OidcClaims;
}

/** introspectToken + checkIntrospectionResponse. */
export async function introspectAccessToken(
  http: HttpClient,
  endpoint: string,
  client: ClientAuthenticator,
  token: string,
  exp: IntrospectionExpectations,
): Promise<OidcClaims> {
  return checkIntrospectionResponse(await introspectToken(http, endpoint, client, token), exp);
}

/**
 * The UserInfo endpoint as a token check: 200 with a `sub` -> the token is good and the response
 * is the claims (`iss` set to the provider's issuer; userinfo responses carry none). 401, 403 or
 * 400 (RFC 6750 3.1: invalid_token, insufficient_scope, invalid_request) -> the token is not
 * usable. 5xx, 429, network errors and timeouts propagate unchanged (transient).
 */
export async function userinfoAccessTokenClaims(http: HttpClient, endpoint: string, token: string, issuer: string | undefined): Promise<OidcClaims> {
  let body: Record<string, unknown>;
  try {
    body = await http.json(endpoint, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    const status = (err as OidcError).status;
    if (status === 400 || status === 401 || status === 403) {
      throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', `access token rejected: the userinfo endpoint answered ${status}`, { cause: err, status });
    }
    throw err;
  }
  if (typeof body.sub !== 'string' || body.sub === '') invalid('userinfo response has no "sub"');
  return { ...body, iss: issuer ?? '', sub: body.sub as string } as OidcClaims;
}
