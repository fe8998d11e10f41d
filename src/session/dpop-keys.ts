/**
 * Each login's DPoP key (RFC 9449), where every instance can reach it and no browser can.
 *
 * The key is made when the login starts, so its thumbprint can go to the provider as `dpop_jkt`
 * (RFC 9449 10: the authorization code is then bound to it). Until the callback it waits in the
 * shared store under a random reference kept in the pending login (the callback may reach another
 * instance); the callback takes it and puts it into the login's token set (store/token-store.ts),
 * so every instance that refreshes or calls an API with the login's tokens signs with it. It is
 * never written to the session.
 *
 * Imported keys are cached per process (bounded): a proof is signed on every API call.
 */
import { randomBytes } from 'node:crypto';
import { generateDpopKey, importDpopKey, type DpopKey, type StoredDpopKey } from '../protocol/dpop.js';
import type { SharedStore } from '../store/shared-store.js';

const pendingKey = (ref: string) => `dpop-pending:${ref}`;

/** Imported keys kept per process. */
const CACHE_SIZE = 1000;

export class DpopKeys {
  private readonly imported = new Map<string, Promise<DpopKey>>();

  constructor(
    private readonly store: SharedStore,
    private readonly alg: string,
    /** How long a key waits for its callback: the login's state lifetime. */
    private readonly pendingTtlMs: number,
  ) {}

  /** A new key for a login that starts now: its reference (for the pending login) and thumbprint. */
  async begin(): Promise<{ ref: string; jkt: string }> {
    const { key, stored } = await generateDpopKey(this.alg);
    const ref = randomBytes(16).toString('base64url');
    await this.store.set(pendingKey(ref), JSON.stringify(stored), this.pendingTtlMs);
    return { ref, jkt: key.jkt };
  }

  /** The key a pending login was started with, taken (single use); undefined when it expired. */
  async claim(ref: string): Promise<{ key: DpopKey; stored: StoredDpopKey } | undefined> {
    const raw = await this.store.get(pendingKey(ref));
    if (raw === undefined) return undefined;
    await this.store.delete(pendingKey(ref));
    const stored = JSON.parse(raw) as StoredDpopKey;
    return { key: await this.use(stored), stored };
  }

  /** A new key outside a login's start (a login from before DPoP was turned on, a lost token set). */
  async fresh(): Promise<{ key: DpopKey; stored: StoredDpopKey }> {
    return generateDpopKey(this.alg);
  }

  /** The imported form of a stored key, cached. */
  use(stored: StoredDpopKey): Promise<DpopKey> {
    const id = `${stored.alg}:${stored.jwk.x ?? ''}:${stored.jwk.y ?? ''}:${stored.jwk.n ?? ''}`;
    let key = this.imported.get(id);
    if (key === undefined) {
      key = importDpopKey(stored);
      this.imported.set(id, key);
      key.catch(() => this.imported.delete(id));
      if (this.imported.size > CACHE_SIZE) this.imported.delete(this.imported.keys().next().value as string);
    }
    return key;
  }
}
