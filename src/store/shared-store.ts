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
  /** Replace the value only if it is still `expected` (optimistic concurrency on token sets). */
  compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean>;
  /** Delete only if the value is still `expected` (owner-checked lock release). */
  deleteIfEquals(key: string, expected: string): Promise<boolean>;
  /** Reset the TTL only if the value is still `expected` (owner-checked lease renewal). */
  extendIfEquals(key: string, expected: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Set members with a TTL on the whole set (refreshed on add). */
  addToSet(key: string, member: string, ttlMs: number): Promise<void>;
  removeFromSet(key: string, member: string): Promise<void>;
  members(key: string): Promise<string[]>;
}

interface Entry {
  value: string | Set<string>;
  expiresAt: number;
}

/**
 * In-process implementation. Expired entries are dropped on access and by a periodic sweep (an
 * unref'd timer, so it never keeps the process alive). `now` is the clock expiry is measured on;
 * tests pass one they move by hand, so a TTL is checked to the millisecond without sleeping.
 */
export class MemorySharedStore implements SharedStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    sweepIntervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
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

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }

  async get(key: string): Promise<string | undefined> {
    const v = this.live(key)?.value;
    return typeof v === 'string' ? v : undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)?.value !== expected) return false;
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
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

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    const entry = this.live(key);
    const set = entry && entry.value instanceof Set ? entry.value : new Set<string>();
    set.add(member);
    this.entries.set(key, { value: set, expiresAt: this.now() + ttlMs });
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    const entry = this.live(key);
    if (entry?.value instanceof Set) {
      entry.value.delete(member);
      if (entry.value.size === 0) this.entries.delete(key);
    }
  }

  async members(key: string): Promise<string[]> {
    const v = this.live(key)?.value;
    return v instanceof Set ? [...v] : [];
  }

  /** Stop the sweeper (tests). */
  close(): void {
    clearInterval(this.sweeper);
  }
}
