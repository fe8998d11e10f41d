/**
 * Everything this library keeps outside express-session, built once per createOidcAuth(): the
 * shared store (Redis when a client is given, so every instance sees the same state; this
 * process's memory otherwise) and the structures on top of it. docs/design.md lists every key.
 */
import { MemorySharedStore, type SharedStore } from './shared-store.js';
import { RedisSharedStore } from './redis-store.js';
import { TokenStore } from './token-store.js';
import { SessionIndex } from './session-index.js';
import { BearerCache } from './bearer-cache.js';
import { InProcessSingleFlight, SharedLock } from './lock.js';
import { createCodec, type Refusal, type ValueCodec } from './encryption.js';
import { SealedValues } from './sealed-values.js';
import { ref } from '../config/options.js';
import type { OidcLogger, RedisClientLike } from '../types.js';

export interface StoreSettings {
  redis: RedisClientLike | undefined;
  redisPrefix: string;
  tokenStoreTtlSeconds: number;
  /** storeEncryptionKeys, decoded: the first seals, all open; none: stored as is. */
  storeEncryptionKeys: readonly Uint8Array[];
  bearer: { cacheMaxEntries: number; cacheTtlSeconds: number };
  /** OIDC_TIMEOUT in ms: bounds how long the refresh lock is held (see createStores). */
  timeoutMs: number;
  logger: OidcLogger;
}

export interface Stores {
  shared: SharedStore;
  /** Seals and opens secret values (store/encryption.ts): a JWE with storeEncryptionKeys, as is without. */
  codec: ValueCodec;
  /** Secret values under keys of their own, sealed by `codec` (pending DPoP keys...). */
  sealed: SealedValues;
  /** The authoritative token set of each login (session/refresh.ts). */
  tokens: TokenStore;
  /** sid / sub -> sessions, for logout from the provider side. */
  index: SessionIndex;
  /** Bearer token validation results, shared by every bearerAuth() of one createOidcAuth(). */
  bearerCache: BearerCache;
  /** The cross-instance refresh lock, and the in-process single flight in front of it. */
  lock: SharedLock;
  flights: InProcessSingleFlight;
  close(): Promise<void>;
}

/**
 * The refresh lock's lease (store/lock.ts): renewed every third of it while a refresh runs, so a
 * holder that dies delays the others by at most this long, and a stall of over two thirds of it
 * (a long GC pause) is needed before a live holder loses the lock.
 */
export const LOCK_LEASE_MS = 2000;

export function createStores(settings: StoreSettings): Stores {
  const shared: SharedStore = settings.redis
    ? new RedisSharedStore(settings.redis, settings.redisPrefix)
    : new MemorySharedStore(60_000, Date.now, {
        onFirstEviction: (max) =>
          settings.logger.warn(
            `the in-memory store is full (${max} entries): the least recently written are evicted. More than one process, or this many logins, wants the redis option`,
          ),
      });
  const codec = createCodec(settings.storeEncryptionKeys, { onRefused: refusalWarning(settings.logger) });
  const ttlMs = settings.tokenStoreTtlSeconds * 1000;
  // A waiter waits as long as a live holder may take: up to three provider calls in a row, each
  // bounded by the HTTP timeout (discovery if not cached, the grant, a JWKS fetch for the new ID
  // token), plus margin. A holder that died is noticed much sooner: its lease lapses.
  const maxWaitMs = settings.timeoutMs * 3 + 3000;
  return {
    shared,
    codec,
    sealed: new SealedValues(shared, codec),
    tokens: new TokenStore(shared, ttlMs, codec),
    index: new SessionIndex(shared, ttlMs),
    bearerCache: new BearerCache({
      maxEntries: settings.bearer.cacheMaxEntries,
      ttlSeconds: settings.bearer.cacheTtlSeconds,
      shared,
      logger: settings.logger,
    }),
    // Waiters poll at 25 ms, then back off to 250 ms: a refresh usually ends within the first
    // polls, and a slow one is not watched forty times a second by every waiter.
    lock: new SharedLock(shared, { leaseMs: LOCK_LEASE_MS, maxWaitMs, pollMs: 25, maxPollMs: 250 }),
    flights: new InProcessSingleFlight(),
    async close() {
      await shared.close();
    },
  };
}

const REFUSALS: Record<Refusal, string> = {
  'not-sealed': 'is not encrypted (written before the keys were set, or planted)',
  'unknown-key': 'was encrypted with a key that is no longer configured (removed before every value it encrypted was rewritten or expired?)',
  'not-decryptable': 'could not be decrypted with any configured key (tampered with, or encrypted with another key)',
  'other-store-key': 'was encrypted for another key of the store (copied from another login?)',
};

/**
 * One warning per reason and process: a removed key makes every value it sealed unreadable, and
 * one line says why as well as thousands would. Each such value is treated as absent (a token set
 * is seeded again from the session copy, and rewritten with the current key).
 */
function refusalWarning(logger: OidcLogger): (reason: Refusal, kid?: string) => void {
  const warned = new Set<Refusal>();
  return (reason, kid) => {
    if (warned.has(reason)) return;
    warned.add(reason);
    logger.warn(`a value in the shared store ${REFUSALS[reason]}: it is treated as absent (option ${ref('storeEncryptionKeys')}; logged once)`, {
      reason,
      ...(kid === undefined ? {} : { kid }),
    });
  };
}
