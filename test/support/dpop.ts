/**
 * A DPoP client for tests (RFC 9449 4.2): key pairs and proofs made with jose, independently of
 * src/ (the library only verifies proofs; a test that minted them with the code under test would
 * prove nothing). Every part of a proof can be overridden, so tests can make exactly the broken
 * proof they want.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { b64json, nowSeconds } from './jwt.js';

export interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  privateJwk: JWK;
  /** RFC 7638 SHA-256 thumbprint, base64url: the `cnf.jkt` of tokens bound to this key. */
  jkt: string;
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

/** RFC 9449 4.2 `ath`, computed here on its own. */
export const ath = (accessToken: string): string => createHash('sha256').update(accessToken).digest('base64url');

export interface ProofOptions {
  htu: string;
  htm?: string;
  /** The access token the proof goes with (sets `ath`). */
  accessToken?: string;
  nonce?: string;
  /** Claims to add or replace; `undefined` removes one. */
  claims?: Record<string, unknown>;
  /** Header parameters to add or replace; `undefined` removes one. */
  header?: Record<string, unknown>;
}

function payloadOf(opts: ProofOptions): Record<string, unknown> {
  return {
    jti: randomBytes(16).toString('base64url'),
    htm: opts.htm ?? 'GET',
    htu: opts.htu,
    iat: nowSeconds(),
    ...(opts.accessToken !== undefined ? { ath: ath(opts.accessToken) } : {}),
    ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
    ...opts.claims,
  };
}

/** A proof signed with the key, `typ: dpop+jwt` and the public key in `jwk`, unless overridden. */
export async function dpopProof(key: DpopKey, opts: ProofOptions): Promise<string> {
  const header = { alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk, ...opts.header };
  return new SignJWT(payloadOf(opts)).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** A proof MACed with a shared secret (HS256), the key in `jwk` as an `oct` JWK: never acceptable. */
export async function hmacProof(opts: ProofOptions): Promise<string> {
  const secret = randomBytes(32);
  const header = { alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: secret.toString('base64url') }, ...opts.header };
  return new SignJWT(payloadOf(opts)).setProtectedHeader(header).sign(secret);
}

/** An unsecured proof (`alg: none`, empty signature). */
export function unsignedProof(key: DpopKey, opts: ProofOptions): string {
  return `${b64json({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk, ...opts.header })}.${b64json(payloadOf(opts))}.`;
}
