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
  /** The first poll interval while waiting; each next one doubles, up to maxPollMs. */
  pollMs: number;
  /** The longest poll interval (default pollMs: a fixed interval). */
  maxPollMs?: number;
}

/**
 * The wait before the `attempt`-th poll (0-based): pollMs doubling up to maxPollMs, with full
 * jitter over the upper half, so waiters of one storm neither hammer the store nor wake in step.
 * `random` is injectable for tests. Pure.
 */
export function pollDelay(opts: Pick<LockOptions, 'pollMs' | 'maxPollMs'>, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.pollMs * 2 ** Math.min(attempt, 20), opts.maxPollMs ?? opts.pollMs);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
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
    // `{key}`: the hash tag shared with the login's token set (store/token-store.ts).
    const lockKey = `lock:{${key}}`;
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
