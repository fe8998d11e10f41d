/**
 * Single-flight for one key: in process, concurrent callers share one promise (as jose's
 * createRemoteJWKSet shares one JWKS fetch); across processes, a lock in the shared store
 * (Redis `SET key owner NX PX lease`, released only by its owner) with a bounded wait.
 *
 * The lock is a short lease the holder renews while its work runs (every third of the lease), not
 * a TTL sized for the slowest possible work: a holder that dies stops renewing, so another
 * instance takes over within one lease instead of waiting out the whole worst case (3 provider
 * calls, 17 s with the default timeout). A holder whose renewal fails learns it through
 * `lease.lost` and must not start anything the lock protects.
 */
import { randomBytes } from 'node:crypto';
import type { SharedStore } from './shared-store.js';

export interface LockOptions {
  /** The lease: the lock expires this long after it was taken or last renewed. */
  leaseMs: number;
  /** Renew the lease every leaseMs / 3 while the work runs (default true; tests turn it off to play a stalled holder). */
  renew?: boolean;
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

/** What the holder learns while it works: whether the lease is still its own. */
export interface Lease {
  readonly lost: boolean;
}

export class SharedLock {
  constructor(
    private readonly store: SharedStore,
    private readonly opts: LockOptions,
  ) {}

  /**
   * Try to take the lock once; if taken, run fn (renewing the lease meanwhile) and release
   * (owner-checked, so a holder whose lease lapsed does not release the next holder's).
   */
  async tryWith<T>(key: string, fn: (lease: Lease) => Promise<T>): Promise<LockAttempt<T>> {
    const owner = randomBytes(12).toString('base64url');
    const lockKey = `lock:${key}`;
    const { leaseMs } = this.opts;
    if (!(await this.store.setIfAbsent(lockKey, owner, leaseMs))) return { acquired: false };
    const lease = { lost: false };
    let renewal: NodeJS.Timeout | undefined;
    const lose = () => {
      lease.lost = true;
      clearInterval(renewal);
    };
    if (this.opts.renew !== false) {
      renewal = setInterval(
        () => {
          this.store.extendIfEquals(lockKey, owner, leaseMs).then((still) => {
            if (!still) lose();
          }, lose);
        },
        Math.max(1, Math.floor(leaseMs / 3)),
      );
      renewal.unref();
    }
    try {
      return { acquired: true, value: await fn(lease) };
    } finally {
      clearInterval(renewal);
      await this.store.deleteIfEquals(lockKey, owner).catch(() => undefined);
    }
  }

  get options(): LockOptions {
    return this.opts;
  }
}
