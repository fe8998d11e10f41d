/**
 * Secret values under keys of their own in the shared store (a pending DPoP private key, say),
 * sealed by the store's codec (store/encryption.ts) as token sets are: encrypted when
 * storeEncryptionKeys is set, and bound to their key, so a value copied under another key is refused.
 *
 * A value the codec refuses reads as absent.
 */
import type { ValueCodec } from './encryption.js';
import type { SharedStore } from './shared-store.js';

export class SealedValues {
  constructor(
    private readonly store: SharedStore,
    private readonly codec: ValueCodec,
  ) {}

  /** Store `value` under `key` for `ttlMs`, replacing what was there. */
  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.store.set(key, await this.codec.seal(key, value), ttlMs);
  }

  /** The value under `key`, or undefined when there is none or it cannot be opened. */
  async get(key: string): Promise<string | undefined> {
    const raw = await this.store.get(key);
    return raw === undefined ? undefined : this.codec.open(key, raw);
  }

  /**
   * Read and delete, for values used once: of several concurrent takes (two instances, or a
   * replayed request), only the one whose owner-checked delete removed the value gets it.
   */
  async take(key: string): Promise<string | undefined> {
    const raw = await this.store.get(key);
    if (raw === undefined || !(await this.store.deleteIfEquals(key, raw))) return undefined;
    return this.codec.open(key, raw);
  }

  async delete(key: string): Promise<void> {
    await this.store.delete(key);
  }
}
