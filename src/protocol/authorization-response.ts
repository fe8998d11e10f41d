/**
 * The authorization response at the callback (RFC 6749 4.1.2, OIDC Core 3.1.2.5-3.1.2.7,
 * RFC 9207). Pure: the caller looks the state record up and passes it in.
 */
import { OidcError } from '../errors.js';
import { isIssuerValue } from './issuer.js';

/** What the login step remembered for one authorization request (one browser tab). */
export interface PendingLogin {
  nonce?: string | undefined;
  codeVerifier?: string | undefined;
  /** The issuer and redirect_uri this state was made for: a state is never valid elsewhere. */
  issuer: string | undefined;
  redirectUri: string;
  /** Where to go after login (already checked by safeRedirectTarget). */
  next?: string | undefined;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Set for silent re-authentication (prompt=none): failures end the session quietly. */
  silent?: boolean | undefined;
  /** Where the login's DPoP key waits for the callback (session/dpop-keys.ts); the key itself is not here. */
  dpopKeyRef?: string | undefined;
}

export interface AuthorizationResponseExpectations {
  issuer: string | undefined;
  /** Entra multi-tenant: the issuer template, so `iss` may name any tenant (protocol/issuer.ts). */
  tenantTemplate?: string | undefined;
  redirectUri: string;
  /** RFC 9207 3: the provider advertised authorization_response_iss_parameter_supported. */
  issRequired: boolean;
  stateTtlMs: number;
  now?: number;
}

export interface ValidAuthorizationResponse {
  code: string;
}

/**
 * Validate the callback parameters against the pending login found for `state`.
 * Order matters: the state check comes first, so an error response for a request we never made
 * is reported as a state problem, not as a provider error.
 */
export function validateAuthorizationResponse(
  params: Record<string, unknown>,
  pending: PendingLogin | undefined,
  exp: AuthorizationResponseExpectations,
): ValidAuthorizationResponse {
  const state = params.state;
  if (typeof state !== 'string' || state === '') {
    throw new OidcError('OIDC_STATE_MISSING', 'authorization response has no state');
  }
  // RFC 6749 10.12: the state must be one we issued to this browser.
  if (!pending) throw new OidcError('OIDC_STATE_MISMATCH', 'authorization response state does not match a login of this session');
  // A state is bound to the provider and redirect_uri it was made for (Auth.js GHSA-x445-f3h2-j279).
  if (pending.issuer !== exp.issuer || pending.redirectUri !== exp.redirectUri) {
    throw new OidcError('OIDC_STATE_MISMATCH', 'authorization response state was issued for another provider or redirect_uri');
  }
  if ((exp.now ?? Date.now()) - pending.createdAt > exp.stateTtlMs) {
    throw new OidcError('OIDC_STATE_EXPIRED', 'the login took too long; start again');
  }

  // RFC 9207 2.4: when `iss` is present it MUST equal the issuer; when the provider says it always
  // sends it, a response without it MUST be rejected (mix-up attack defence). Applies to error
  // responses too.
  const iss = params.iss;
  if (iss !== undefined) {
    // With Entra's multi-tenant template, `iss` names the user's tenant (protocol/issuer.ts).
    if (exp.issuer !== undefined && !(typeof iss === 'string' && isIssuerValue(iss, exp))) {
      throw new OidcError('OIDC_ISS_MISMATCH', `authorization response "iss" ${String(iss)} is not ${exp.issuer}`);
    }
  } else if (exp.issRequired) {
    throw new OidcError('OIDC_ISS_MISMATCH', 'authorization response has no "iss" but the provider advertises it (RFC 9207)');
  }

  // RFC 6749 4.1.2.1 / OIDC Core 3.1.2.6: an error response ends the attempt.
  if (params.error !== undefined) {
    const error = String(params.error);
    const description = typeof params.error_description === 'string' ? `: ${params.error_description}` : '';
    throw new OidcError('OIDC_AUTHORIZATION_ERROR', `the provider answered ${error}${description}`, { oauthError: error });
  }
  if (typeof params.code !== 'string' || params.code === '') {
    throw new OidcError('OIDC_CODE_MISSING', 'authorization response has no code');
  }
  return { code: params.code };
}
