/**
 * Single-flight for one key: in process, concurrent callers share one promise (as jose's
 * createRemoteJWKSet shares one JWKS fetch); across processes, a lock in the shared store
 * (Redis `SET key owner NX PX ttl`, released only by its owner) with a bounded wait.
 */
import { randomBytes } from 'node:crypto';
import type { SharedStore } from './shared-store.js';

export interface LockOptions {
  /** The lock expires by itself after this long: a holder that dies blocks nobody for longer. */
  ttlMs: number;
  /** How long a caller waits for another holder before giving up. */
  maxWaitMs: number;
  /** Poll interval while waiting. */
  pollMs: number;
}

export class InProcessSingleFlight {
  private readonly flights = new Map<string, Promise<unknown>>();

  /** Run fn once for concurrent callers with the same key; all of them get its result. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.flights.get(key) as Promise<T> | undefined;
    if (existing) return existing;
    const flight = fn().finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }
}

export type LockAttempt<T> = { acquired: true; value: T } | { acquired: false };

export class SharedLock {
  constructor(
    private readonly store: SharedStore,
    private readonly opts: LockOptions,
  ) {}

  /**
   * Try to take the lock once; if taken, run fn and release (owner-checked, so a holder whose
   * lock expired does not release the next holder's).
   */
  async tryWith<T>(key: string, fn: () => Promise<T>): Promise<LockAttempt<T>> {
    const owner = randomBytes(12).toString('base64url');
    const lockKey = `lock:${key}`;
    if (!(await this.store.setIfAbsent(lockKey, owner, this.opts.ttlMs))) return { acquired: false };
    try {
      return { acquired: true, value: await fn() };
    } finally {
      await this.store.deleteIfEquals(lockKey, owner).catch(() => undefined);
    }
  }

  get options(): LockOptions {
    return this.opts;
  }
}
