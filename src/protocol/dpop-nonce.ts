/**
 * Resource server-provided DPoP nonces (RFC 9449 9, with the mechanics of 8 and 8.2).
 *
 * A nonce lets this server bound when a proof was made, whatever `iat` says: without one, a client
 * whose key is briefly exposed (an XSS, a stolen device) can be made to pre-compute proofs with
 * future `iat` values, usable later (RFC 9449 11.2). RFC 9449 leaves the nonce's form to the server.
 *
 * Stateless, so every instance agrees without sharing anything at run time: the nonce of a time
 * window is HMAC-SHA256(key, window number), base64url. A nonce is accepted during its own window
 * and the next one (so for between one and two windows), which is also what lets an instance whose
 * clock is a little ahead accept another's nonce. The key is derived with HKDF from a secret every
 * instance is configured with (bearer-auth.ts: `dpopNonceSecret`, else the client secret), under a
 * label of its own, so the derived key is useless for anything else the secret is used for and a
 * nonce says nothing about the secret. Changing the secret only makes clients fetch a new nonce.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** Seconds per nonce window: a nonce is valid for 5 to 10 minutes. */
export const DPOP_NONCE_WINDOW_SECONDS = 300;

const HKDF_INFO = 'express-oidc-rp DPoP-Nonce v1';

export class DpopNonces {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly windowSeconds: number = DPOP_NONCE_WINDOW_SECONDS,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), HKDF_INFO, 32));
  }

  private ofWindow(window: number): string {
    return createHmac('sha256', this.key).update(`dpop-nonce:${window}`).digest('base64url');
  }

  /** The nonce to hand out now (`now`: epoch seconds). Its characters are RFC 9449 8.1's NQCHAR. */
  current(now: number): string {
    return this.ofWindow(Math.floor(now / this.windowSeconds));
  }

  /** True for the nonce of the current window or of the previous one. Constant time. */
  isValid(nonce: unknown, now: number): boolean {
    if (typeof nonce !== 'string') return false;
    const window = Math.floor(now / this.windowSeconds);
    const given = Buffer.from(nonce);
    let valid = false;
    for (const w of [window, window - 1]) {
      const expected = Buffer.from(this.ofWindow(w));
      if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true;
    }
    return valid;
  }
}
