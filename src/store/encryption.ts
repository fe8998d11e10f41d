/**
 * Sealing and opening values kept in the shared store, so that a copy of the store (a Redis dump,
 * an RDB or AOF file, a replica, a backup) does not hold every user's refresh token in clear
 * (README "Tokens at rest").
 *
 * With keys (`storeEncryptionKeys`), a value is a JWE in compact serialisation (RFC 7516 3.1, 7.1)
 * with `alg: "dir"` (RFC 7518 4.5: the configured key is the content encryption key itself, so the
 * encrypted key part is empty) and `enc: "A256GCM"` (RFC 7518 5.3). jose does the JWE. The
 * protected header carries two more parameters:
 *
 * - `kid`: which configured key sealed the value, derived from the key (keyId), so that after a
 *   rotation each value is opened with the one key that sealed it, not tried against every key;
 * - `sk`, a private header parameter (RFC 7516 4.3): the hash of the store key the value was
 *   written under. The protected header is the additional authenticated data of the encryption
 *   (RFC 7516 5.1 step 14), so it cannot be changed without the key; a sealed value copied under
 *   another store key (one login's token set planted under another login's key) is refused.
 *
 * Without keys, the identity codec: values are stored as they are, as before the option existed.
 *
 * A value that cannot be opened (sealed with a key no longer configured, tampered with, sealed for
 * another store key, or not sealed at all while keys are configured) opens to undefined: the caller
 * treats it as absent. A planted plaintext token set is therefore never used.
 */
import { createHash, webcrypto } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';

export interface ValueCodec {
  /** False for the identity codec (no keys): values are stored as they are. */
  readonly encrypts: boolean;
  /** What to store for `plaintext` under `storeKey` (the key as the shared store is given it). */
  seal(storeKey: string, plaintext: string): Promise<string>;
  /** The plaintext of a stored value, or undefined for one this codec refuses (the caller treats it as absent). */
  open(storeKey: string, stored: string): Promise<string | undefined>;
}

/** No keys configured: values as they are. */
export const IDENTITY_CODEC: ValueCodec = {
  encrypts: false,
  seal: async (_storeKey, plaintext) => plaintext,
  open: async (_storeKey, stored) => stored,
};

/** Why a stored value was refused (for one warning per reason: see createStores). */
export type Refusal =
  /** Not a compact JWE: written before encryption was turned on, or planted. */
  | 'not-sealed'
  /** Its `kid` names no configured key: that key was removed while values sealed with it were still stored. */
  | 'unknown-key'
  /** Authentication failed: tampered with, or (without a `kid`) sealed with none of the keys. */
  | 'not-decryptable'
  /** Sealed for another store key: copied from one key to another. */
  | 'other-store-key';

export interface JweCodecOptions {
  /** Called for each refused value, with the reason (and the `kid` for unknown-key). */
  onRefused?: (reason: Refusal, kid?: string) => void;
}

/** The key size of A256GCM (RFC 7518 5.3): 256 bits. */
export const KEY_BYTES = 32;

/** A key's id: the start of the base64url SHA-256 of its bytes (72 bits: distinct among the few keys of one rotation). */
export function keyId(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 12);
}

/** The `sk` header parameter: the base64url SHA-256 of the store key. */
function storeKeyBinding(storeKey: string): string {
  return createHash('sha256').update(storeKey, 'utf8').digest('base64url');
}

// Five base64url parts, the second (the encrypted key) empty: `dir` (RFC 7516 7.1, RFC 7518 4.5).
const COMPACT_DIR_JWE = /^[\w-]+\.\.[\w-]+\.[\w-]*\.[\w-]+$/;

const ALGORITHMS = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };

interface CodecKey {
  kid: string;
  key: Promise<webcrypto.CryptoKey>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The JWE codec: `keys[0]` seals, every key opens (rotation). Each key is imported once as a
 * non-extractable WebCrypto AES-GCM key (jose would otherwise import the raw bytes on every call).
 */
export class JweCodec implements ValueCodec {
  readonly encrypts = true;
  private readonly keys: CodecKey[];
  private readonly byKid = new Map<string, CodecKey>();
  private readonly onRefused: ((reason: Refusal, kid?: string) => void) | undefined;

  constructor(keys: readonly Uint8Array[], options: JweCodecOptions = {}) {
    if (keys.length === 0) throw new TypeError('JweCodec needs at least one key');
    this.keys = keys.map((bytes) => {
      // The configuration checks this with a message naming the option; a direct caller gets this.
      if (bytes.byteLength !== KEY_BYTES) throw new TypeError(`a store encryption key must be ${KEY_BYTES} bytes, got ${bytes.byteLength}`);
      const key = webcrypto.subtle.importKey('raw', new Uint8Array(bytes), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
      // Surfaced when the key is used; never an unhandled rejection in between.
      key.catch(() => undefined);
      return { kid: keyId(bytes), key };
    });
    for (const k of this.keys) if (!this.byKid.has(k.kid)) this.byKid.set(k.kid, k);
    this.onRefused = options.onRefused;
  }

  /** The id of the key that seals (the first). */
  get sealingKid(): string {
    return (this.keys[0] as CodecKey).kid;
  }

  async seal(storeKey: string, plaintext: string): Promise<string> {
    const { kid, key } = this.keys[0] as CodecKey;
    return new CompactEncrypt(encoder.encode(plaintext))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, sk: storeKeyBinding(storeKey) })
      .encrypt(await key);
  }

  async open(storeKey: string, stored: string): Promise<string | undefined> {
    if (!COMPACT_DIR_JWE.test(stored)) return this.refuse('not-sealed');
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(stored);
    } catch {
      return this.refuse('not-sealed');
    }
    let candidates: CodecKey[] = this.keys;
    if (header.kid !== undefined) {
      const named = typeof header.kid === 'string' ? this.byKid.get(header.kid) : undefined;
      if (!named) return this.refuse('unknown-key', String(header.kid));
      candidates = [named];
    }
    for (const { key } of candidates) {
      let opened: { plaintext: Uint8Array; protectedHeader: ProtectedHeaderParameters };
      try {
        opened = await compactDecrypt(stored, await key, ALGORITHMS);
      } catch {
        continue; // not this key (or tampered: then no key opens it)
      }
      // Checked on the authenticated header returned by the decryption, not on the one read above.
      if (opened.protectedHeader.sk !== storeKeyBinding(storeKey)) return this.refuse('other-store-key');
      return decoder.decode(opened.plaintext);
    }
    return this.refuse('not-decryptable');
  }

  private refuse(reason: Refusal, kid?: string): undefined {
    this.onRefused?.(reason, kid);
    return undefined;
  }
}

/** The codec for these keys: the identity codec without any. */
export function createCodec(keys: readonly Uint8Array[], options: JweCodecOptions = {}): ValueCodec {
  return keys.length === 0 ? IDENTITY_CODEC : new JweCodec(keys, options);
}
