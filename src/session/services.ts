/**
 * The services one createOidcAuth() builds, in dependency order: the provider (HTTP, discovery,
 * keys, ID token validation), the stores (shared store, token sets, session index, bearer cache,
 * lock), then the refresher on top of both. Handlers take the part they use
 * (`Pick<Services, ...>`), so nothing is patched in after construction.
 */
import type { ResolvedConfig } from '../config.js';
import { createProvider, type Provider } from '../protocol/provider.js';
import { createStores, type Stores } from '../store/stores.js';
import { TokenRefresher } from './refresh.js';
import { DpopKeys } from './dpop-keys.js';
import { tokenActions } from './resource-fetch.js';
import type { ContextSettings } from './context.js';

export interface Services {
  config: ResolvedConfig;
  provider: Provider;
  stores: Stores;
  refresher: TokenRefresher;
  /** Each login's DPoP key (RFC 9449), kept in the shared store. */
  dpopKeys: DpopKeys;
  /** What building req.oidc needs: the user hooks, the logger, and req.oidc.fetch's maker. */
  context: ContextSettings;
}

export function createServices(config: ResolvedConfig): Services {
  const provider = createProvider(config);
  const stores = createStores(config);
  const dpopKeys = new DpopKeys(stores.sealed, config.dpopSigningAlg, config.stateTtlSeconds * 1000);
  const refresher = new TokenRefresher({ settings: config, provider, tokens: stores.tokens, lock: stores.lock, flights: stores.flights, dpopKeys });
  const fetcher = tokenActions({ config, provider, tokens: stores.tokens, refresher, dpopKeys });
  return { config, provider, stores, refresher, dpopKeys, context: { hooks: config.hooks, logger: config.logger, fetcher } };
}

/** Release what the services hold open (the provider's connection pool, the memory store's sweeper). */
export async function closeServices(services: Pick<Services, 'provider' | 'stores'>): Promise<void> {
  await services.provider.close();
  await services.stores.close();
}
