/**
 * The client authentication methods (OIDC Core 9; RFC 8705 2.1 and 2.2 for the mTLS ones): a base
 * module, so the configuration can check a configured method and protocol/client-auth.ts can
 * perform it without either importing the other.
 */
export const CLIENT_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
  'none',
] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** RFC 8705: these authenticate with the TLS client certificate. */
export const MTLS_METHODS: readonly ClientAuthMethod[] = ['tls_client_auth', 'self_signed_tls_client_auth'];
