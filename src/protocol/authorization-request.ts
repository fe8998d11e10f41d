/**
 * The authorization request (OIDC Core 3.1.2.1) with its three per-request secrets:
 * `state` (RFC 6749 10.12, CSRF), `nonce` (OIDC Core 3.1.2.1, ID token replay) and the PKCE
 * code verifier (RFC 7636, S256 only: `plain` protects nothing against a leaked request).
 */
import { createHash, randomBytes } from 'node:crypto';
import { GOOGLE_ISSUER } from '../issuer-forms.js';

/** 32 random bytes, base64url: 256 bits, and a valid RFC 7636 4.1 code verifier (43 chars). */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** RFC 7636 4.2: code_challenge = BASE64URL(SHA256(ASCII(code_verifier))). */
export function pkceChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier, 'ascii').digest('base64url');
}

export interface AuthorizationRequestParams {
  authorizationEndpoint: string;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state: string;
  nonce: string | undefined;
  codeVerifier: string | undefined;
  /** RFC 9449 10: the thumbprint of the login's DPoP key, binding the code to it. */
  dpopJkt?: string | undefined;
  /** e.g. `prompt: 'none'` for silent re-authentication (OIDC Core 3.1.2.1). */
  extraParams?: Record<string, string>;
}

/** The authorization request's parameters (OIDC Core 3.1.2.1), for the URL or a pushed request. */
export function authorizationParams(p: AuthorizationRequestParams): Record<string, string> {
  const q: Record<string, string> = { ...p.extraParams };
  q.response_type = 'code';
  q.client_id = p.clientId;
  q.redirect_uri = p.redirectUri;
  q.scope = p.scopes.join(' ');
  q.state = p.state;
  if (p.nonce !== undefined) q.nonce = p.nonce;
  if (p.codeVerifier !== undefined) {
    q.code_challenge = pkceChallenge(p.codeVerifier);
    q.code_challenge_method = 'S256';
  }
  if (p.dpopJkt !== undefined) q.dpop_jkt = p.dpopJkt;
  return q;
}

export function buildAuthorizationUrl(p: AuthorizationRequestParams): string {
  // Keep any query the endpoint already has (some providers put tenant info there).
  const url = new URL(p.authorizationEndpoint);
  // Built apart and serialised once: each url.searchParams.set() rewrites the whole query.
  const query = new URLSearchParams(url.search);
  for (const [k, v] of Object.entries(authorizationParams(p))) query.set(k, v);
  url.search = query.toString();
  return url.toString();
}

/**
 * The scope and extra parameters as the provider understands them. Google issues refresh tokens
 * only for `access_type=offline`, and again for a user who already granted the app only with
 * `prompt=consent`; it does not know the `offline_access` scope (OIDC Core 11), which it would
 * refuse. So for Google's issuer a configured `offline_access` becomes those two parameters. A
 * `prompt` the app set itself is kept, and a silent re-authentication keeps `prompt=none`.
 */
export function requestForProvider(
  issuer: string | undefined,
  scopes: string[],
  extraParams: Record<string, string>,
): { scopes: string[]; extraParams: Record<string, string> } {
  if (issuer !== GOOGLE_ISSUER || !scopes.includes('offline_access')) return { scopes, extraParams };
  return {
    scopes: scopes.filter((s) => s !== 'offline_access'),
    extraParams: { access_type: 'offline', prompt: 'consent', ...extraParams },
  };
}
