/**
 * The small key-value contract behind everything that must be shared between app instances:
 * token sets, refresh locks (and, later, the logout session index and replay ids).
 *
 * Two implementations: memory (one process) and Redis (many processes). Values are strings; every
 * key has a TTL so nothing outlives its use. The operations are the few atomic ones the callers need,
 * each a single Redis command or Lua script, so there is no read-modify-write race across instances.
 */
export interface SharedStore {
  /** Human-readable kind, for logs: "memory" or "redis". */
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** SET NX: true when this call created the key (locks, replay ids). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** SET XX: true when the key existed and now holds `value` (tombstones for sets that exist). */
  setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Replace the value only if it is still `expected` (optimistic concurrency on token sets). */
  compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean>;
  /** Delete only if the value is still `expected` (owner-checked lock release). */
  deleteIfEquals(key: string, expected: string): Promise<boolean>;
  /** Reset the TTL only if the value is still `expected` (owner-checked lease renewal). */
  extendIfEquals(key: string, expected: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * After a write that must survive a failover (a rotated token set): wait, briefly, until a
   * replica has it (Redis WAIT). A no-op without replicas, in memory, and on a cluster.
   */
  replicate(key: string): Promise<void>;
  /**
   * Wake-ups between instances (Redis pub/sub): `onMessage` runs when someone publishes on
   * `channel`. At most once, never guaranteed (a message sent before the subscription is lost), so
   * a waiter keeps polling too. Resolves once subscribed, to the function that unsubscribes.
   */
  subscribe(channel: string, onMessage: () => void): Promise<() => Promise<void>>;
  publish(channel: string): Promise<void>;
  /** Release what the store opened itself (a subscriber connection); the app's client stays the app's. */
  close(): Promise<void> | void;
  /**
   * Add a member that expires `ttlMs` from now (a re-add sets its new expiry). Members expire one
   * by one, so a set that keeps getting members holds only the live ones; the key itself lives as
   * long as its longest-lived member.
   */
  addToSet(key: string, member: string, ttlMs: number): Promise<void>;
  removeFromSet(key: string, member: string): Promise<void>;
  /** The members that have not expired. */
  members(key: string): Promise<string[]>;
}

interface Entry {
  /** A string, or a set's members with their expiry (epoch ms). */
  value: string | Map<string, number>;
  expiresAt: number;
  /** A set's size at which the next add prunes its expired members. */
  pruneAt?: number;
}

/** A set is pruned on add from this size on, then each time it has doubled since. */
const PRUNE_MIN = 64;

/** How many entries one sweep tick examines: the sweep never holds the event loop for long. */
const SWEEP_BATCH = 1000;

export interface MemoryStoreOptions {
  /** Most entries kept; past it the least recently written are evicted (default 100,000). */
  maxEntries?: number;
  /** Called once, the first time an entry is evicted for room (the caller logs a warning). */
  onFirstEviction?: (maxEntries: number) => void;
}

/**
 * In-process implementation, for one process. Expired entries are dropped on access and by a
 * periodic, incremental sweep (an unref'd timer, so it never keeps the process alive; each tick
 * looks at SWEEP_BATCH entries and the next tick goes on from there). The number of entries is
 * bounded: past `maxEntries`, the least recently written entry goes (a token set evicted that way is
 * seeded again from the session copy, as after a restart). `now` is the clock expiry is measured
 * on; tests pass one they move by hand, so a TTL is checked to the millisecond without sleeping.
 */
export class MemorySharedStore implements SharedStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxEntries: number;
  private readonly onFirstEviction: ((maxEntries: number) => void) | undefined;
  private cursor: Iterator<[string, Entry]> | undefined;
  /** Entries evicted for room so far (tests, diagnostics). */
  evictions = 0;

  constructor(
    sweepIntervalMs = 60_000,
    private readonly now: () => number = Date.now,
    options: MemoryStoreOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.onFirstEviction = options.onFirstEviction;
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** One sweep step: the next SWEEP_BATCH entries, going on from where the last step stopped. */
  sweep(): void {
    const now = this.now();
    this.cursor ??= this.entries.entries();
    for (let i = 0; i < SWEEP_BATCH; i++) {
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        return;
      }
      const [key, entry] = next.value;
      if (entry.expiresAt <= now) this.entries.delete(key);
    }
  }

  /** Write an entry as the most recently written, evicting the least recently written past the bound. */
  private put(key: string, entry: Entry): void {
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      if (this.evictions++ === 0) this.onFirstEviction?.(this.maxEntries);
    }
    this.entries.set(key, entry);
  }

  /** Entries held, expired ones not yet swept included (tests, diagnostics). */
  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<string | undefined> {
    const v = this.live(key)?.value;
    return typeof v === 'string' ? v : undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.put(key, { value, expiresAt: this.now() + ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.put(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (!this.live(key)) return false;
    this.put(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)?.value !== expected) return false;
    this.put(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    if (this.live(key)?.value !== expected) return false;
    this.entries.delete(key);
    return true;
  }

  async extendIfEquals(key: string, expected: string, ttlMs: number): Promise<boolean> {
    const entry = this.live(key);
    if (entry?.value !== expected) return false;
    entry.expiresAt = this.now() + ttlMs;
    return true;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async replicate(): Promise<void> {
    // One process, nothing to replicate to.
  }

  private readonly listeners = new Map<string, Set<() => void>>();

  async subscribe(channel: string, onMessage: () => void): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(onMessage);
    const listeners = set;
    return async () => {
      listeners.delete(onMessage);
      if (listeners.size === 0) this.listeners.delete(channel);
    };
  }

  async publish(channel: string): Promise<void> {
    for (const fn of [...(this.listeners.get(channel) ?? [])]) fn();
  }

  /** The live members of a set entry, expired ones dropped; undefined when there is no set. */
  private liveSet(key: string): Map<string, number> | undefined {
    const v = this.live(key)?.value;
    if (!(v instanceof Map)) return undefined;
    const now = this.now();
    for (const [member, expiresAt] of v) if (expiresAt <= now) v.delete(member);
    return v;
  }

  /**
   * Add (or renew) a member. Constant time however big the set: expired members are pruned when
   * the set has doubled since the last prune (so it holds at most about twice its live members),
   * and reads prune them anyway. The set lives as long as its longest-lived member at least.
   */
  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    const entry = this.live(key);
    const expiresAt = this.now() + ttlMs;
    if (!(entry?.value instanceof Map)) {
      this.put(key, { value: new Map([[member, expiresAt]]), expiresAt, pruneAt: PRUNE_MIN });
      return;
    }
    const set = entry.value;
    let longest = entry.expiresAt;
    let pruneAt = entry.pruneAt ?? PRUNE_MIN;
    if (set.size >= pruneAt) {
      const now = this.now();
      longest = 0;
      for (const [m, t] of set) {
        if (t <= now) set.delete(m);
        else longest = Math.max(longest, t);
      }
      pruneAt = Math.max(PRUNE_MIN, 2 * set.size);
    }
    set.set(member, expiresAt);
    this.put(key, { value: set, expiresAt: Math.max(longest, expiresAt), pruneAt });
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    const set = this.liveSet(key);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) this.entries.delete(key);
  }

  async members(key: string): Promise<string[]> {
    return [...(this.liveSet(key)?.keys() ?? [])];
  }

  /** Stop the sweeper (tests). */
  close(): void {
    clearInterval(this.sweeper);
  }
}
