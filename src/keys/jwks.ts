/**
 * Where verification keys come from, in the order mozilla-django-oidc documents:
 * OIDC_RP_IDP_SIGN_KEY (a pinned public key) wins over the JWKS; HS* algorithms use the client
 * secret (OIDC Core 3.1.3.7 step 8, 10.1).
 *
 * The JWKS is jose's createRemoteJWKSet: single-flight fetch, a cache, and one refetch on an
 * unknown `kid` limited by a cooldown, so a provider's key rotation just works without letting a
 * stream of forged kids hammer the provider. It fetches through our HTTP client (timeout, proxy,
 * TLS, size cap).
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  importSPKI,
  type CryptoKey,
  type JWK,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';
import { OidcError } from '../errors.js';
import { optionRef } from '../config.js';
import type { HttpClient } from '../http/client.js';

export interface KeySourceOptions {
  /** The HS* key (OIDC Core 10.1); a client without a secret accepts no HS* token. */
  clientSecret: string | undefined;
  idpSignKey: string | undefined;
  jwksUri: string | undefined;
  http: HttpClient;
  timeoutMs: number;
  /** Minimum time between two JWKS fetches triggered by an unknown kid. */
  cooldownMs?: number;
}

export type KeyResolver = JWTVerifyGetKey;

/** Build the key resolver for jose's jwtVerify. */
export function createKeyResolver(opts: KeySourceOptions): KeyResolver {
  const secret = opts.clientSecret === undefined ? undefined : new TextEncoder().encode(opts.clientSecret);
  const remote = opts.jwksUri ? remoteKeysWithRotation(opts) : undefined;
  const pinned = opts.idpSignKey ? pinnedKeyResolver(opts.idpSignKey) : undefined;

  return async (header: JWSHeaderParameters, token) => {
    const alg = header.alg ?? '';
    if (alg.startsWith('HS')) {
      if (secret) return secret;
      throw new OidcError('OIDC_ID_TOKEN_SIGNATURE', `${alg} needs the client secret (option ${optionRef('clientSecret')}), which is not configured`);
    }
    if (pinned) return pinned(header);
    if (remote) return remote(header, token);
    throw new OidcError('OIDC_ID_TOKEN_SIGNATURE', `no key source for ${alg}: configure option ${optionRef('jwksUri')} or ${optionRef('idpSignKey')}`);
  };
}

/**
 * jose's remote JWKS, with the unknown-kid refetch rate-limited by the time of the last refetch
 * that a miss caused, not by the last fetch of any kind. (jose's own cooldown starts at every
 * fetch, including the first: a provider rotating its keys within 30 s of our first login would
 * then be refused for up to 30 s.) Concurrent misses share one reload.
 *
 * A reload that fails (JWKS down, not 200, not JSON) does not start the cooldown: within it the
 * answer would be "no matching key", which callers report as a bad token (a back-channel logout
 * refused for good instead of retried). Instead, for FAILED_RELOAD_BACKOFF_MS after a failure,
 * misses get that failure again (a transient error: 503, try later) without a new fetch, and then
 * a new attempt is allowed.
 */
const FAILED_RELOAD_BACKOFF_MS = 1000;

function remoteKeysWithRotation(opts: KeySourceOptions): (header: JWSHeaderParameters, token?: FlattenedJWSInput) => Promise<CryptoKey> {
  const cooldownMs = opts.cooldownMs ?? 30_000;
  const jwks = createRemoteJWKSet(new URL(opts.jwksUri as string), {
    timeoutDuration: opts.timeoutMs,
    // Misses are handled below; jose only refetches when its cache is older than cacheMaxAge.
    cooldownDuration: Number.MAX_SAFE_INTEGER,
    cacheMaxAge: 10 * 60_000,
    [customFetch]: opts.http.fetch,
  });
  let lastMissReload = Number.NEGATIVE_INFINITY;
  let lastFailure: { at: number; error: unknown } | undefined;
  let pendingReload: Promise<void> | undefined;

  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      if (!pendingReload) {
        if (lastFailure && Date.now() - lastFailure.at < FAILED_RELOAD_BACKOFF_MS) throw lastFailure.error;
        // A forged kid must not turn every request into a JWKS fetch: at most one per cooldown.
        if (Date.now() - lastMissReload < cooldownMs) throw err;
        pendingReload = jwks.reload().then(
          () => {
            lastMissReload = Date.now();
            lastFailure = undefined;
            pendingReload = undefined;
          },
          (error: unknown) => {
            lastFailure = { at: Date.now(), error };
            pendingReload = undefined;
            throw error;
          },
        );
      }
      await pendingReload;
      return jwks(header, token);
    }
  };
}

/** OIDC_RP_IDP_SIGN_KEY: a PEM SPKI public key, or a JWK / JWKS as JSON. */
function pinnedKeyResolver(material: string): (header: JWSHeaderParameters) => Promise<CryptoKey> {
  const trimmed = material.trim();
  if (trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed) as { keys?: JWK[] } & JWK;
    const local = createLocalJWKSet(parsed.keys ? { keys: parsed.keys } : { keys: [parsed] });
    return (header) => local(header);
  }
  // A PEM key is imported per algorithm (WebCrypto keys are bound to one); cache the imports.
  const imported = new Map<string, Promise<CryptoKey>>();
  return (header) => {
    const alg = header.alg ?? 'RS256';
    let key = imported.get(alg);
    if (!key) {
      key = importSPKI(trimmed, alg);
      imported.set(alg, key);
    }
    return key;
  };
}
