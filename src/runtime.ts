/**
 * The wiring shared by routes and middleware: resolved config, the HTTP client, discovery, keys.
 * Built once by createOidcAuth(); holds no per-user state.
 */
import type { Request } from 'express';
import type { ResolvedConfig } from './config.js';
import { createHttpClient, type HttpClient } from './http/client.js';
import { createDiscovery, type Discovery, type ProviderMetadata } from './protocol/discovery.js';
import { createKeyResolver, type KeyResolver } from './keys/jwks.js';
import type { ClientCredentials } from './protocol/client-auth.js';
import { validateIdToken, type PreviousIdToken } from './protocol/id-token.js';
import { allowedIdTokenAlgorithms } from './protocol/jwt-verification.js';
import type { OidcClaims } from './types.js';
import { MemorySharedStore, type SharedStore } from './store/shared-store.js';
import { RedisSharedStore } from './store/redis-store.js';
import { TokenStore } from './store/token-store.js';
import { SessionIndex } from './store/session-index.js';
import { InProcessSingleFlight, SharedLock } from './store/lock.js';
import { TokenRefresher } from './session/refresh.js';

export interface Runtime {
  config: ResolvedConfig;
  http: HttpClient;
  discovery: Discovery;
  creds: ClientCredentials;
  /** The verification key resolver for this provider (JWKS, pinned key, or client secret for HS*). */
  keysFor(meta: ProviderMetadata): KeyResolver;
  /** Validate an ID token from the token endpoint (code or refresh grant). */
  validateIdToken(idToken: string, meta: ProviderMetadata, nonce: string | undefined, previous?: PreviousIdToken): Promise<OidcClaims>;
  /** Login path as the browser sees it (base URL path prefix + routes.login). */
  loginPath: string;
  /** An absolute URL for an app-relative target (post_logout_redirect_uri needs one). */
  absoluteUrl(target: string): string;
  wantsJson(req: Request): boolean;
  /** Memory, or Redis when the `redis` option is given: shared by every instance. */
  shared: SharedStore;
  tokens: TokenStore;
  /** sid / sub -> sessions, for logout from the provider side. */
  index: SessionIndex;
  refresher: TokenRefresher;
  close(): Promise<void>;
}

export function createRuntime(config: ResolvedConfig): Runtime {
  const http = createHttpClient({
    timeoutMs: config.timeoutMs,
    proxy: config.proxy,
    verifySsl: config.verifySsl,
    maxResponseBytes: config.maxResponseBytes,
  });
  const discovery = createDiscovery(config, http);
  const creds: ClientCredentials = {
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    useBasicAuth: config.tokenUseBasicAuth,
  };

  // One key resolver per JWKS URL (the URL only becomes known after discovery).
  let keys: { uri: string | undefined; resolver: KeyResolver } | undefined;
  const keysFor = (meta: ProviderMetadata): KeyResolver => {
    if (!keys || keys.uri !== meta.jwksUri) {
      keys = {
        uri: meta.jwksUri,
        resolver: createKeyResolver({
          clientSecret: config.clientSecret,
          idpSignKey: config.idpSignKey,
          jwksUri: meta.jwksUri,
          http,
          timeoutMs: config.timeoutMs,
        }),
      };
    }
    return keys.resolver;
  };

  const base = new URL(config.baseUrl);
  const basePath = base.pathname === '/' ? '' : base.pathname;

  const shared: SharedStore = config.redis ? new RedisSharedStore(config.redis, config.redisPrefix) : new MemorySharedStore();
  const tokens = new TokenStore(shared, config.tokenStoreTtlSeconds * 1000);
  // The lock outlives one refresh with margin: up to three provider calls in a row, each bounded
  // by the HTTP timeout (discovery if not cached, the grant, a JWKS fetch for the new ID token).
  // A waiter waits a little longer, so a holder that died is replaced, not waited for forever.
  const lockTtlMs = config.timeoutMs * 3 + 2000;
  const lock = new SharedLock(shared, { ttlMs: lockTtlMs, maxWaitMs: lockTtlMs + 1000, pollMs: 25 });

  const rt: Runtime = {
    config,
    http,
    shared,
    tokens,
    index: new SessionIndex(shared, config.tokenStoreTtlSeconds * 1000),
    refresher: undefined as unknown as TokenRefresher,
    async close() {
      await http.close();
      if (shared instanceof MemorySharedStore) shared.close();
    },
    discovery,
    creds,
    loginPath: basePath + config.routes.login,
    keysFor,
    validateIdToken(idToken, meta, nonce, previous) {
      const algorithms = allowedIdTokenAlgorithms(config.signAlgo, meta.idTokenSigningAlgValues, config.allowUnsecuredJwt);
      return validateIdToken(idToken, {
        issuer: meta.issuer,
        clientId: config.clientId,
        nonce,
        clockTolerance: config.clockToleranceSeconds,
        algorithms,
        getKey: keysFor(meta),
        allowUnsecured: config.allowUnsecuredJwt,
        previous,
      });
    },
    absoluteUrl(target) {
      return new URL(target, `${base.origin}/`).toString();
    },
    wantsJson(req) {
      // XHR/fetch callers cannot follow a redirect to the provider's login page.
      if (String(req.get('x-requested-with') ?? '').toLowerCase() === 'xmlhttprequest') return true;
      const accept = req.get('accept');
      if (!accept) return false;
      return req.accepts(['html', 'json']) === 'json';
    },
  };
  rt.refresher = new TokenRefresher(rt, tokens, lock, new InProcessSingleFlight());
  return rt;
}
