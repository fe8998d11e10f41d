/**
 * Starting an authorization code flow (OIDC Core 3.1.2) for this browser tab: fresh state, nonce
 * and PKCE verifier, remembered in the session bound to the issuer and redirect_uri they were made
 * for. Used by the login route and by sessionRefresh's silent re-authentication (prompt=none).
 */
import type { Request } from 'express';
import { buildAuthorizationUrl, randomToken, requestForProvider } from '../protocol/authorization-request.js';
import type { ProviderMetadata } from '../protocol/discovery.js';
import { addPendingLogin, saveSession } from './session-data.js';

/** The configuration an authorization request reads (ResolvedConfig has all of it). */
export interface AuthorizationSettings {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  useNonce: boolean;
  usePkce: boolean;
  maxStates: number;
  stateTtlSeconds: number;
  authRequestExtraParams: Record<string, string>;
}

export interface BeginOptions {
  next: string | undefined;
  /** Silent re-authentication (prompt=none), see OIDC Core 3.1.2.1. */
  silent?: boolean;
}

/** Remember a new login in the session, save it, and return the authorization URL. */
export async function beginAuthorization(req: Request, config: AuthorizationSettings, meta: ProviderMetadata, opts: BeginOptions): Promise<string> {
  const state = randomToken();
  const nonce = config.useNonce ? randomToken() : undefined;
  const codeVerifier = config.usePkce ? randomToken() : undefined;
  addPendingLogin(
    req,
    state,
    { nonce, codeVerifier, issuer: meta.issuer, redirectUri: config.redirectUri, next: opts.next, createdAt: Date.now(), silent: opts.silent || undefined },
    config.maxStates,
    config.stateTtlSeconds * 1000,
  );
  // Persist before the browser leaves: the callback may arrive before express-session's own
  // end-of-response save would have finished.
  await saveSession(req);
  const request = requestForProvider(meta.issuer, config.scopes, config.authRequestExtraParams);
  return buildAuthorizationUrl({
    authorizationEndpoint: meta.authorizationEndpoint,
    clientId: config.clientId,
    redirectUri: config.redirectUri,
    scopes: request.scopes,
    state,
    nonce,
    codeVerifier,
    extraParams: opts.silent ? { ...request.extraParams, prompt: 'none' } : request.extraParams,
  });
}
