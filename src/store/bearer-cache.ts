/**
 * Cache of bearer token validation results, so a client sending the same access token on every
 * request costs one signature check / introspection call per token, not one per request.
 *
 * - Keyed by the SHA-256 of the token, never the token itself: the keys of a memory dump or of a
 *   shared Redis are not credentials. The values hold the validated claims, not the token.
 * - In memory: an LRU (Map order, refreshed on access) bounded by OIDC_BEARER_CACHE_MAX_ENTRIES
 *   (0: no memory cache). With Redis (`redis` option) also in the shared store under
 *   `bearer:<sha256 hex>`, so a token checked by one instance is not introspected again by the next.
 * - TTL: min(token exp - now, OIDC_BEARER_CACHE_TTL_SECONDS); 0 seconds disables caching. A token
 *   revoked at the provider keeps being accepted until its cache entry expires: the usual
 *   introspection-cache trade-off (RFC 7662 4), bounded by that setting.
 * - Failures are not cached. A stream of invalid JWTs costs local CPU only (and unknown kids are
 *   rate-limited by the JWKS resolver); a stream of invalid opaque tokens costs one introspection
 *   call each, which is a rate-limiting matter for the app, not something a cache keyed by
 *   attacker-chosen strings should try to absorb (it would evict the valid entries).
 * - A result is stored with the audience it was checked against; a lookup for another audience
 *   (a route with `bearerAuth({ audience })`) is a miss, never a bypass of the aud check.
 * - Concurrent lookups of one token in one process share a single validation.
 */
import { hash as digest } from 'node:crypto';
import type { SharedStore } from './shared-store.js';
import type { OidcClaims, OidcLogger } from '../types.js';

/** What validating a bearer token produced. */
export interface BearerValidation {
  /** How the token was checked. */
  source: 'jwt' | 'introspection' | 'userinfo';
  claims: OidcClaims;
  /** Epoch seconds; the token's own expiry when known (JWT or introspection `exp`). */
  exp: number | undefined;
  /** The userinfo response when the token was checked at the userinfo endpoint. */
  userinfo?: Record<string, unknown> | undefined;
}

interface Stored {
  /** The audience the result was validated for. */
  aud: string;
  result: BearerValidation;
}

interface MemoryEntry extends Stored {
  /** Epoch ms. */
  expiresAt: number;
}

export interface BearerCacheOptions {
  maxEntries: number;
  ttlSeconds: number;
  /** The shared store; used only when it is Redis (memory would duplicate the LRU). */
  shared: SharedStore | undefined;
  logger: OidcLogger;
}

/** SHA-256, hex. crypto.hash (Node 20.12+): one call, no Hash object, on every bearer request. */
export function hashToken(token: string): string {
  return digest('sha256', token, 'hex');
}

export class BearerCache {
  private readonly memory = new Map<string, MemoryEntry>();
  private readonly inflight = new Map<string, Promise<BearerValidation>>();
  private readonly shared: SharedStore | undefined;

  constructor(private readonly opts: BearerCacheOptions) {
    this.shared = opts.shared?.kind === 'redis' ? opts.shared : undefined;
  }

  /** Entries in memory (tests, metrics). */
  get size(): number {
    return this.memory.size;
  }

  /**
   * The cached result for this token and audience, or `validate()`'s (cached when it succeeds).
   * Errors of `validate()` propagate and nothing is cached.
   */
  getOrValidate(token: string, audience: string, validate: () => Promise<BearerValidation>): BearerValidation | Promise<BearerValidation> {
    const hash = hashToken(token);
    // The hot path (a token seen before, in this process) returns without a promise.
    return this.fromMemory(hash, audience, Date.now()) ?? this.fromSharedOrValidate(hash, audience, validate);
  }

  private async fromSharedOrValidate(hash: string, audience: string, validate: () => Promise<BearerValidation>): Promise<BearerValidation> {
    const hit = await this.fromShared(hash, audience);
    if (hit) return hit;
    const flightKey = `${hash}\n${audience}`;
    let pending = this.inflight.get(flightKey);
    if (!pending) {
      pending = validate()
        .then(async (result) => {
          await this.put(hash, audience, result);
          return result;
        })
        .finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, pending);
    }
    return pending;
  }

  private fromMemory(hash: string, audience: string, now: number): BearerValidation | undefined {
    const entry = this.memory.get(hash);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.memory.delete(hash);
      return undefined;
    }
    if (entry.aud !== audience) return undefined;
    // LRU: move to the most recently used end.
    this.memory.delete(hash);
    this.memory.set(hash, entry);
    return entry.result;
  }

  private async fromShared(hash: string, audience: string): Promise<BearerValidation | undefined> {
    const now = Date.now();
    if (!this.shared) return undefined;
    let raw: string | undefined;
    try {
      raw = await this.shared.get(key(hash));
    } catch (err) {
      // The cache is an optimisation: a Redis outage means validating again, not failing.
      this.opts.logger.warn('bearer cache: shared store read failed; validating the token again', { reason: (err as Error)?.message });
      return undefined;
    }
    if (raw === undefined) return undefined;
    let stored: Stored;
    try {
      stored = JSON.parse(raw) as Stored;
    } catch {
      return undefined;
    }
    if (stored.aud !== audience || !stored.result) return undefined;
    const ttlMs = this.ttlMs(stored.result, now);
    if (ttlMs <= 0) return undefined;
    this.remember(hash, { ...stored, expiresAt: now + ttlMs });
    return stored.result;
  }

  private ttlMs(result: BearerValidation, now: number): number {
    const cap = this.opts.ttlSeconds * 1000;
    return result.exp === undefined ? cap : Math.min(cap, result.exp * 1000 - now);
  }

  private remember(hash: string, entry: MemoryEntry): void {
    if (this.opts.maxEntries <= 0) return;
    this.memory.delete(hash);
    this.memory.set(hash, entry);
    while (this.memory.size > this.opts.maxEntries) {
      const oldest = this.memory.keys().next().value as string;
      this.memory.delete(oldest);
    }
  }

  private async put(hash: string, audience: string, result: BearerValidation): Promise<void> {
    const now = Date.now();
    const ttlMs = this.ttlMs(result, now);
    if (ttlMs <= 0) return;
    const stored: Stored = { aud: audience, result };
    this.remember(hash, { ...stored, expiresAt: now + ttlMs });
    if (!this.shared) return;
    try {
      await this.shared.set(key(hash), JSON.stringify(stored), ttlMs);
    } catch (err) {
      this.opts.logger.warn('bearer cache: shared store write failed', { reason: (err as Error)?.message });
    }
  }

  clear(): void {
    this.memory.clear();
  }
}

const key = (hash: string) => `bearer:${hash}`;
