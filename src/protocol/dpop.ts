/**
 * DPoP on the client side (RFC 9449): a key pair per login, a proof JWT on every request that
 * uses its tokens, and the nonces providers and resource servers hand out.
 *
 * - Keys (RFC 9449 2): generated per login, kept with the login's token set in the store
 *   (session/dpop-keys.ts), never in the session; `jkt` is the RFC 7638 thumbprint the provider
 *   binds the tokens to (`cnf.jkt`, RFC 9449 6).
 * - Proofs (RFC 9449 4.2): `typ: dpop+jwt`, the public key as `jwk`, and the claims jti, htm, htu
 *   (the URL without query and fragment), iat, `nonce` when the server gave one, `ath` (the access
 *   token's SHA-256, 4.2) when a token is presented.
 * - Nonces (RFC 9449 8 for the provider, 9 for resource servers): a server answers
 *   `use_dpop_nonce` with a `DPoP-Nonce` header; the request is retried once with it, and the
 *   latest nonce of each origin is kept (bounded) for the next proof.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { HttpClient, HttpRequest, HttpResponse } from '../http/client.js';

export interface DpopKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  alg: string;
  /** RFC 7638 thumbprint of the public key: `dpop_jkt` (RFC 9449 10) and `cnf.jkt` (6.1). */
  jkt: string;
}

/** How a DPoP key is kept in the store: the private JWK and its algorithm. */
export interface StoredDpopKey {
  alg: string;
  jwk: JWK;
}

/** RFC 9449 4.2: the public members only go into the proof's `jwk` header. */
function publicMembers(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk;
  return pub;
}

export async function generateDpopKey(alg: string): Promise<{ key: DpopKey; stored: StoredDpopKey }> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { key: await importDpopKey({ alg, jwk }), stored: { alg, jwk } };
}

export async function importDpopKey(stored: StoredDpopKey): Promise<DpopKey> {
  const publicJwk = publicMembers(stored.jwk);
  return {
    privateKey: (await importJWK(stored.jwk, stored.alg)) as CryptoKey,
    publicJwk,
    alg: stored.alg,
    jkt: await calculateJwkThumbprint(publicJwk),
  };
}

/** RFC 9449 4.2 `ath`: base64url of the SHA-256 of the access token's ASCII. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** RFC 9449 4.2 `htu`: the target URI without query and fragment. */
export function proofTarget(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

export interface ProofInput {
  htm: string;
  url: string;
  nonce?: string | undefined;
  accessToken?: string | undefined;
}

export function createDpopProof(key: DpopKey, p: ProofInput, now = Math.floor(Date.now() / 1000)): Promise<string> {
  const claims: Record<string, unknown> = { jti: randomBytes(16).toString('base64url'), htm: p.htm, htu: proofTarget(p.url), iat: now };
  if (p.nonce !== undefined) claims.nonce = p.nonce;
  if (p.accessToken !== undefined) claims.ath = accessTokenHash(p.accessToken);
  return new SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk }).sign(key.privateKey);
}

/** The latest nonce each origin gave (RFC 9449 8.2, 9): bounded, the oldest origin goes first. */
export class DpopNonces {
  private readonly byOrigin = new Map<string, string>();

  constructor(private readonly maxOrigins = 100) {}

  get(url: string): string | undefined {
    return this.byOrigin.get(new URL(url).origin);
  }

  /** Remember the `DPoP-Nonce` of a response, if it has one. */
  remember(url: string, headers: HttpResponse['headers'] | Headers): void {
    const nonce = headerValue(headers, 'dpop-nonce');
    // RFC 9449 8.1: nonce = 1*NQCHAR; anything else is not a nonce we can send back.
    if (typeof nonce !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(nonce)) return;
    const origin = new URL(url).origin;
    this.byOrigin.delete(origin);
    this.byOrigin.set(origin, nonce);
    if (this.byOrigin.size > this.maxOrigins) this.byOrigin.delete(this.byOrigin.keys().next().value as string);
  }
}

/**
 * A header of a provider response (a plain object) or a fetch Response's Headers. Duck-typed: the
 * undici package's Headers is another class than Node's global one, so instanceof would lie.
 */
function headerValue(headers: HttpResponse['headers'] | Headers, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const raw = (headers as HttpResponse['headers'])[name];
  return Array.isArray(raw) ? raw.join(', ') : raw;
}

/** What a request needs to carry a proof: the login's key and the process's nonce cache. */
export interface DpopContext {
  key: DpopKey;
  nonces: DpopNonces;
}

/**
 * RFC 9449 8 (authorization server: 400 `error=use_dpop_nonce`) and 9 (resource server: 401 with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"`): the server wants a nonce. Pure.
 */
export function isNonceChallenge(status: number, headers: HttpResponse['headers'] | Headers, body: string | undefined): boolean {
  if (status === 401) {
    const value = headerValue(headers, 'www-authenticate') ?? '';
    return /\bDPoP\b[\s\S]*error\s*=\s*"?use_dpop_nonce"?/i.test(value);
  }
  if (status === 400 && body !== undefined) {
    try {
      return (JSON.parse(body) as { error?: unknown }).error === 'use_dpop_nonce';
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Send a request with a DPoP proof (when `dpop` is given), retrying once when the server asks for
 * a nonce. `build` makes the request afresh for each attempt: a client assertion's `jti` must not
 * repeat (RFC 7523 3 item 7). `accessToken` is bound into the proof as `ath`.
 */
export async function sendWithDpop(
  http: HttpClient,
  url: string,
  build: () => Promise<HttpRequest> | HttpRequest,
  dpop: DpopContext | undefined,
  accessToken?: string,
): Promise<HttpResponse> {
  for (let attempt = 0; ; attempt++) {
    const req = await build();
    if (dpop) {
      const proof = await createDpopProof(dpop.key, { htm: req.method ?? (req.form ? 'POST' : 'GET'), url, nonce: dpop.nonces.get(url), accessToken });
      req.headers = { ...req.headers, dpop: proof };
    }
    const res = await http.send(url, req);
    if (!dpop) return res;
    dpop.nonces.remember(url, res.headers);
    if (attempt > 0 || !isNonceChallenge(res.status, res.headers, res.text)) return res;
  }
}
