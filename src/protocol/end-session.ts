/**
 * RP-Initiated Logout 1.0: the URL that ends the user's session at the provider.
 */
export interface EndSessionParams {
  endSessionEndpoint: string;
  clientId: string;
  /** RECOMMENDED (section 2): lets the provider skip asking the user which session to end. */
  idTokenHint: string | undefined;
  /** Must be registered at the provider. */
  postLogoutRedirectUri: string | undefined;
  state?: string;
}

export function buildEndSessionUrl(p: EndSessionParams): string {
  const url = new URL(p.endSessionEndpoint);
  if (p.idTokenHint) url.searchParams.set('id_token_hint', p.idTokenHint);
  // Section 2: client_id lets the provider check post_logout_redirect_uri even without a hint.
  url.searchParams.set('client_id', p.clientId);
  if (p.postLogoutRedirectUri) url.searchParams.set('post_logout_redirect_uri', p.postLogoutRedirectUri);
  if (p.state) url.searchParams.set('state', p.state);
  return url.toString();
}
