/**
 * Client authentication at the token, revocation and introspection endpoints
 * (OIDC Core 9: client_secret_basic and client_secret_post).
 */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** true: client_secret_basic (default); false: client_secret_post. */
  useBasicAuth: boolean;
}

/** Adds the client's credentials to a form body and/or headers, returning both. */
export function authenticateClient(creds: ClientCredentials, form: Record<string, string>): { form: Record<string, string>; headers: Record<string, string> } {
  if (creds.useBasicAuth) {
    // RFC 6749 2.3.1: id and secret are form-urlencoded BEFORE base64, a detail many clients miss
    // (a secret with ':' or '%' then fails at strict providers).
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    const basic = Buffer.from(`${enc(creds.clientId)}:${enc(creds.clientSecret)}`).toString('base64');
    return { form, headers: { authorization: `Basic ${basic}` } };
  }
  return { form: { ...form, client_id: creds.clientId, client_secret: creds.clientSecret }, headers: {} };
}
