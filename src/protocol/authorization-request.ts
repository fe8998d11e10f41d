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
  /** e.g. `prompt: 'none'` for silent re-authentication (OIDC Core 3.1.2.1). */
  extraParams?: Record<string, string>;
}

export function buildAuthorizationUrl(p: AuthorizationRequestParams): string {
  // Keep any query the endpoint already has (some providers put tenant info there).
  const url = new URL(p.authorizationEndpoint);
  const q = url.searchParams;
  for (const [k, v] of Object.entries(p.extraParams ?? {})) q.set(k, v);
  q.set('response_type', 'code');
  q.set('client_id', p.clientId);
  q.set('redirect_uri', p.redirectUri);
  q.set('scope', p.scopes.join(' '));
  q.set('state', p.state);
  if (p.nonce !== undefined) q.set('nonce', p.nonce);
  if (p.codeVerifier !== undefined) {
    q.set('code_challenge', pkceChallenge(p.codeVerifier));
    q.set('code_challenge_method', 'S256');
  }
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
