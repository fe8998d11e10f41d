/**
 * Starting an authorization code flow (OIDC Core 3.1.2) for this browser tab: fresh state, nonce
 * and PKCE verifier, remembered in the session bound to the issuer and redirect_uri they were made
 * for. With DPoP, a key for the login (session/dpop-keys.ts) whose thumbprint goes along as
 * `dpop_jkt`; with PAR (RFC 9126), the parameters are pushed to the provider first and the browser
 * carries only a reference. Used by the login route and by sessionRefresh's silent
 * re-authentication (prompt=none).
 */
import type { Request } from 'express';
import { OidcError } from '../errors.js';
import { optionRef } from '../config.js';
import { authorizationParams, buildAuthorizationUrl, randomToken, requestForProvider } from '../protocol/authorization-request.js';
import type { ProviderMetadata } from '../protocol/discovery.js';
import type { Provider } from '../protocol/provider.js';
import { pushAuthorizationRequest, pushedAuthorizationUrl } from '../protocol/pushed-authorization-request.js';
import type { DpopKeys } from './dpop-keys.js';
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
  security: { par: boolean | undefined; dpop: boolean };
}

export interface BeginOptions {
  next: string | undefined;
  /** Silent re-authentication (prompt=none), see OIDC Core 3.1.2.1. */
  silent?: boolean;
}

export interface AuthorizationDeps {
  config: AuthorizationSettings;
  provider: Pick<Provider, 'http' | 'clientFor' | 'endpoint'>;
  dpopKeys: DpopKeys;
}

/** Whether this login pushes its request: as configured, else when the provider requires it (RFC 9126 5). */
function usePar(config: AuthorizationSettings, meta: ProviderMetadata): boolean {
  if (config.security.par === false && meta.requirePushedAuthorizationRequests) {
    throw new OidcError(
      'OIDC_CONFIG_INVALID',
      `express-oidc-rp: the provider requires pushed authorization requests (require_pushed_authorization_requests) but option ${optionRef('pushedAuthorizationRequests')} is false`,
      { statusCode: 500 },
    );
  }
  return config.security.par ?? meta.requirePushedAuthorizationRequests;
}

/** Remember a new login in the session, save it, and return the URL to send the browser to. */
export async function beginAuthorization(req: Request, deps: AuthorizationDeps, meta: ProviderMetadata, opts: BeginOptions): Promise<string> {
  const { config } = deps;
  const pushed = usePar(config, meta);
  if (pushed && !meta.pushedAuthorizationRequestEndpoint) {
    throw new OidcError(
      'OIDC_CONFIG_INVALID',
      `express-oidc-rp: option ${optionRef('pushedAuthorizationRequests')} is on but the provider has no pushed_authorization_request_endpoint`,
      { statusCode: 500 },
    );
  }
  const state = randomToken();
  const nonce = config.useNonce ? randomToken() : undefined;
  const codeVerifier = config.usePkce ? randomToken() : undefined;
  const dpop = config.security.dpop ? await deps.dpopKeys.begin() : undefined;
  const request = requestForProvider(meta.issuer, config.scopes, config.authRequestExtraParams);
  const params = {
    authorizationEndpoint: meta.authorizationEndpoint,
    clientId: config.clientId,
    redirectUri: config.redirectUri,
    scopes: request.scopes,
    state,
    nonce,
    codeVerifier,
    dpopJkt: dpop?.jkt,
    extraParams: opts.silent ? { ...request.extraParams, prompt: 'none' } : request.extraParams,
  };
  // Pushed before the session is written: a refused request leaves no pending login behind.
  let url: string;
  if (pushed) {
    const endpoint = deps.provider.endpoint(meta, 'pushedAuthorizationRequest') as string;
    const { requestUri } = await pushAuthorizationRequest(deps.provider.http, endpoint, deps.provider.clientFor(meta), authorizationParams(params));
    url = pushedAuthorizationUrl(meta.authorizationEndpoint, config.clientId, requestUri);
  } else {
    url = buildAuthorizationUrl(params);
  }
  addPendingLogin(
    req,
    state,
    {
      nonce,
      codeVerifier,
      issuer: meta.issuer,
      redirectUri: config.redirectUri,
      next: opts.next,
      createdAt: Date.now(),
      silent: opts.silent || undefined,
      dpopKeyRef: dpop?.ref,
    },
    config.maxStates,
    config.stateTtlSeconds * 1000,
  );
  // Persist before the browser leaves: the callback may arrive before express-session's own
  // end-of-response save would have finished.
  await saveSession(req);
  return url;
}
