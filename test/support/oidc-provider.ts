/**
 * A real OpenID Provider (oidc-provider, via examples/dev-provider.ts) with one client registered
 * for one RP app (rp-app.ts): the RP's port is reserved first, so the client's redirect URIs can
 * name it.
 */
import { startDevProvider, type DevProvider, type DevProviderClient, type DevProviderOptions } from '../../examples/dev-provider.js';
import { reservePort, startRpApp, type RpApp } from './rp-app.js';
import type { OidcAuthOptions } from '../../src/types.js';

export interface DevProviderWithRp {
  op: DevProvider;
  rp: RpApp;
}

export interface DevProviderWithRpOptions {
  client: { client_id: string; client_secret: string };
  /** More client metadata, from the RP's URL; the callback is always a redirect URI. */
  clientMetadata?: (rpUrl: string) => Partial<DevProviderClient>;
  provider?: Omit<DevProviderOptions, 'clients'>;
  /** RP options beyond the client credentials; scopes default to openid email profile offline_access. */
  oidc?: OidcAuthOptions;
}

export async function startDevProviderWithRp(opts: DevProviderWithRpOptions): Promise<DevProviderWithRp> {
  const reserved = await reservePort();
  const op = await startDevProvider({
    ...opts.provider,
    clients: [{ ...opts.client, redirect_uris: [`${reserved.url}/oidc/callback`], ...opts.clientMetadata?.(reserved.url) }],
  });
  try {
    const rp = await startRpApp({
      reserved,
      oidc: {
        issuer: op.issuer,
        clientId: opts.client.client_id,
        clientSecret: opts.client.client_secret,
        // offline_access: the provider grants a refresh token.
        scopes: ['openid', 'email', 'profile', 'offline_access'],
        ...opts.oidc,
      },
    });
    return { op, rp };
  } catch (err) {
    // The caller never gets the provider to close.
    await op.close();
    throw err;
  }
}
