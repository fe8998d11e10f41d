/**
 * Checking DPoP proofs at this app's own APIs (RFC 9449 4.3 and 7), and the binding of a DPoP
 * access token to the proof's key (RFC 9449 6). This file verifies proofs that clients make; it
 * never makes one.
 *
 * Every JOSE operation (header decoding, signature, JWK import, RFC 7638 thumbprint) is jose's. The
 * checks are numbered as RFC 9449 4.3 numbers them, each failing on its own with a message that
 * says which. Replay (the `jti` store) and the server nonce's secret are the caller's: this module
 * takes values and returns values, so the unit tests exercise every check without a request.
 *
 * What the `htu` claim is compared with: the request's URL as its client addressed it. Behind a
 * proxy the app cannot know that from the request alone (the Host header is the client's to set,
 * X-Forwarded-* are the proxy's, if there is a proxy at all), so the caller builds it from the
 * configured public base URL and the request's path (`publicRequestUrl`), the same way the
 * `redirect_uri` is `baseUrl + routes.callback`.
 */
import { createHash } from 'node:crypto';
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { OidcError } from '../errors.js';
import { ASYMMETRIC_ALGS } from './jwt-verification.js';

/**
 * RFC 9449 4.3 step 5: a registered asymmetric signature algorithm, never `none`, never a MAC
 * (HS*): anyone could make a proof with a key of their choosing, which is the point, but a MAC key
 * in a JWS header would be public. Also what the `algs` challenge attribute lists (RFC 9449 7.1).
 */
export const DPOP_ALGS: readonly string[] = ASYMMETRIC_ALGS;

/** A proof is a JWS with one public key in its header: a few KiB at most (an RSA 4096 key is ~1 KiB). */
const MAX_PROOF_LENGTH = 8192;
/** jti is random in practice (RFC 9449 4.2: at least 96 bits); longer than this is no proof of ours to keep. */
const MAX_JTI_LENGTH = 256;
/** JWK members only a private or symmetric key has (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037 2). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

// The signature may be empty here (alg none), to be refused as such by the alg check (step 5).
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface DpopRequest {
  /** The HTTP method, as received (RFC 9110 9.1: case-sensitive). */
  method: string;
  /** The request's absolute public URL (publicRequestUrl); its query and fragment are ignored. */
  url: string;
}

export interface DpopProofExpectations {
  /** The access token sent with the proof: `ath` must be its hash (RFC 9449 4.3 step 12, 7). */
  accessToken: string;
  /** How old `iat` may be (RFC 9449 11.1: a window "in the order of seconds or minutes"). */
  maxAgeSeconds: number;
  /** Clock skew tolerated, both ways: `iat` in the future, and on top of maxAgeSeconds. */
  clockTolerance: number;
  /** Allowed `alg` values; default DPOP_ALGS. `none` and HS* are never allowed. */
  algorithms?: readonly string[];
  /** Epoch seconds; injectable for tests. */
  now?: number;
  /** With server nonces (RFC 9449 9): whether the proof's `nonce` is a current one. */
  checkNonce?: (nonce: unknown) => boolean;
}

export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what `cnf.jkt` must be (RFC 9449 6). */
  jkt: string;
  jti: string;
  iat: number;
  /** The `htu` claim, normalised (normalizeHtu). */
  htu: string;
}

const invalid = (message: string): never => {
  throw new OidcError('OIDC_DPOP_PROOF_INVALID', `DPoP proof rejected: ${message}`);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// RFC 3986 2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * An http(s) URI without query and fragment, normalised for comparison (RFC 9449 4.3 step 9:
 * servers SHOULD apply RFC 3986 6.2.2 syntax-based and 6.2.3 scheme-based normalisation):
 * - WHATWG URL parsing lower-cases scheme and host (6.2.2.1), drops the scheme's default port and
 *   gives an empty path "/" (6.2.3), and removes dot segments (6.2.2.3);
 * - here: percent-encodings of unreserved characters are decoded (6.2.2.2), and the hex digits of
 *   the others upper-cased (6.2.2.1).
 * Undefined for anything that is not an absolute http(s) URI, or that carries user info (which a
 * request URI never has: comparing it would only leak it into logs).
 */
export function normalizeHtu(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * The request's public URL, what `htu` is compared with: the configured base URL (origin and path
 * prefix, no trailing slash: config/kinds.ts appUrl) followed by the path of the request target
 * (Express's `req.originalUrl`, mount paths included), without its query. A request target in
 * absolute form (RFC 9112 3.2.2) contributes its path only: the origin is always the base URL's.
 */
export function publicRequestUrl(baseUrl: string, originalUrl: string): string {
  const end = originalUrl.search(/[?#]/);
  let path = end === -1 ? originalUrl : originalUrl.slice(0, end);
  if (!path.startsWith('/') && URL.canParse(path)) path = new URL(path).pathname;
  return baseUrl + path;
}

/** RFC 9449 4.2 `ath`: base64url of the SHA-256 of the access token's ASCII bytes. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** RFC 9449 4.3 step 4: `typ` is `dpop+jwt` (media types compare case-insensitively; RFC 7515 4.1.9 lets "application/" be omitted). */
function checkTyp(header: ProtectedHeaderParameters): void {
  const typ = header.typ;
  if (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== 'dpop+jwt') {
    invalid(`"typ" header ${typ === undefined ? 'is missing' : `"${String(typ)}"`}; it must be "dpop+jwt"`);
  }
}

/**
 * The checks of RFC 9449 4.3 on one request's DPoP header values, in the section's order except
 * that the cheap header checks (steps 4, 5, 7) run before the signature (step 6) and the nonce
 * (step 10) comes last, so that a proof that is wrong in another way is reported as such rather
 * than sent round for a nonce. Throws OIDC_DPOP_PROOF_INVALID, or OIDC_DPOP_NONCE_INVALID for a
 * missing or stale nonce. The key binding (step 12, second half) is checkDpopBinding's, once the
 * access token is validated.
 */
export async function verifyDpopProof(values: readonly string[], request: DpopRequest, exp: DpopProofExpectations): Promise<VerifiedDpopProof> {
  const now = exp.now ?? Math.floor(Date.now() / 1000);
  const algorithms = (exp.algorithms ?? DPOP_ALGS).filter((a) => ASYMMETRIC_ALGS.includes(a));

  // Step 1: not more than one DPoP header field (and the caller sends none here without one).
  if (values.length !== 1) invalid(values.length === 0 ? 'no DPoP header' : 'more than one DPoP header');
  const proof = (values[0] as string).trim();

  // Step 2: a single, well-formed JWT (compact JWS; a comma means several values folded into one).
  if (proof.length > MAX_PROOF_LENGTH) invalid(`larger than ${MAX_PROOF_LENGTH} characters`);
  if (!COMPACT_JWS.test(proof)) invalid('not a single compact JWS (header.payload.signature)');
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    return invalid('malformed JOSE header');
  }

  // Step 4: typ.
  checkTyp(header);

  // Step 5: an asymmetric algorithm from our allow-list, taken from our list, never from the proof (RFC 8725 3.1).
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
    invalid(`algorithm "${String(header.alg)}" is not allowed (allowed: ${algorithms.join(' ')})`);
  }

  // Step 7: the jwk header is a public key. jose refuses a private key too; saying so here names the problem.
  const jwk = header.jwk;
  if (!isObject(jwk)) return invalid('no "jwk" header with the public key');
  const secretMembers = PRIVATE_JWK_MEMBERS.filter((m) => m in jwk);
  if (secretMembers.length > 0) invalid(`the "jwk" header holds private key material (${secretMembers.join(', ')})`);

  // Step 6: the signature verifies with that key (jose's EmbeddedJWK: it also insists on a public key).
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      algorithms: [...algorithms],
      clockTolerance: exp.clockTolerance,
      currentDate: new Date(now * 1000),
    }));
  } catch (err) {
    return invalid(`the signature does not verify with the "jwk" header: ${err instanceof Error ? err.message : String(err)}`);
  }

  // Step 3: the claims of RFC 9449 4.2.
  const { jti, htm, htu, iat } = payload;
  if (typeof jti !== 'string' || jti === '') invalid('missing "jti"');
  if ((jti as string).length > MAX_JTI_LENGTH) invalid(`"jti" longer than ${MAX_JTI_LENGTH} characters`);
  if (typeof htm !== 'string') invalid('missing "htm"');
  if (typeof htu !== 'string') invalid('missing "htu"');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) invalid('missing "iat"');

  // Step 8: htm is the request's method (RFC 9110 9.1: methods are case-sensitive).
  if (htm !== request.method) invalid(`"htm" ${String(htm)} is not the request method ${request.method}`);

  // Step 9: htu is the request's URI, query and fragment ignored, both sides normalised.
  const proofUri = normalizeHtu(htu as string);
  if (proofUri === undefined) invalid(`"htu" is not an absolute http(s) URI: ${String(htu)}`);
  const requestUri = normalizeHtu(request.url);
  if (proofUri !== requestUri) invalid(`"htu" ${proofUri} is not this request's URI ${requestUri ?? request.url}`);

  // Step 11: iat within the window (RFC 9449 11.1), with the clock tolerance both ways.
  const issuedAt = iat as number;
  if (issuedAt > now + exp.clockTolerance) invalid('"iat" is in the future');
  if (issuedAt < now - exp.maxAgeSeconds - exp.clockTolerance) invalid(`"iat" is more than ${exp.maxAgeSeconds} seconds old`);

  // Step 12, first half: ath is the hash of the access token presented with the proof (RFC 9449 7).
  if (typeof payload.ath !== 'string') invalid('missing "ath" (the access token hash)');
  if (payload.ath !== accessTokenHash(exp.accessToken)) invalid('"ath" is not the hash of the access token');

  // Step 10: with server nonces, the proof carries a current one (RFC 9449 9).
  if (exp.checkNonce && !exp.checkNonce(payload.nonce)) {
    throw new OidcError(
      'OIDC_DPOP_NONCE_INVALID',
      payload.nonce === undefined ? 'DPoP proof has no "nonce"; this server requires one' : 'DPoP proof "nonce" is not a current server nonce',
    );
  }

  let jkt: string;
  try {
    jkt = await calculateJwkThumbprint(jwk as JWK, 'sha256');
  } catch (err) {
    return invalid(`no RFC 7638 thumbprint of the "jwk" header: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { jkt, jti: jti as string, iat: issuedAt, htu: proofUri as string };
}

/**
 * RFC 9449 6.1 (JWT) and 6.2 (introspection): the key an access token is bound to, as the SHA-256
 * JWK thumbprint in `cnf.jkt`; undefined for a token that is not DPoP-bound. A `cnf.jkt` that is
 * not a non-empty string makes the token invalid: it claims a binding nobody can satisfy.
 */
export function boundJkt(claims: Record<string, unknown>): string | undefined {
  const cnf = claims.cnf;
  if (!isObject(cnf) || !('jkt' in cnf)) return undefined;
  if (typeof cnf.jkt !== 'string' || cnf.jkt === '') {
    throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', 'access token rejected: its "cnf.jkt" is not a JWK thumbprint');
  }
  return cnf.jkt;
}

/**
 * RFC 9449 4.3 step 12, second half: the access token is bound to the proof's key. A token sent
 * with the DPoP scheme that is bound to nothing is refused as well: it is a bearer token, and must
 * be sent as one (RFC 9449 7.1 sends DPoP-bound tokens with the DPoP scheme).
 */
export function checkDpopBinding(claims: Record<string, unknown>, jkt: string): void {
  const bound = boundJkt(claims);
  if (bound === undefined) {
    throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', 'access token rejected: it is not DPoP-bound (no "cnf.jkt"); send it with the Bearer scheme');
  }
  if (bound !== jkt) throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', "access token rejected: it is bound to another key than the DPoP proof's (cnf.jkt)");
}

/**
 * RFC 9449 7.2: a DPoP-bound token sent with the Bearer scheme is refused, or stealing one would be
 * enough to use it, which is what binding it prevents.
 */
export function refuseBoundBearerToken(claims: Record<string, unknown>): void {
  if (boundJkt(claims) !== undefined) {
    throw new OidcError('OIDC_ACCESS_TOKEN_INVALID', 'access token rejected: it is DPoP-bound (cnf.jkt) and must be sent with the DPoP scheme and a proof');
  }
}

/**
 * The shared-store key remembering an accepted proof (RFC 9449 11.1: the jti "in the context of the
 * target URI", for as long as the proof would be accepted). Scoped to the key and URI too, so two
 * clients' random jtis never collide into a false replay; hashed, so the key has a fixed length
 * whatever the client sent.
 */
export function dpopReplayKey(proof: VerifiedDpopProof): string {
  return `dpop-jti:${createHash('sha256').update(`${proof.jkt}\n${proof.htu}\n${proof.jti}`).digest('hex')}`;
}

/**
 * How long to remember a proof: until its `iat` leaves the acceptance window of verifyDpopProof
 * (iat + maxAge + tolerance), plus one second for the whole-second clock. Bounded by
 * maxAge + 2 x tolerance + 1 seconds.
 */
export function dpopReplayTtlMs(iat: number, now: number, maxAgeSeconds: number, clockTolerance: number): number {
  return Math.max(1, iat + maxAgeSeconds + clockTolerance - now + 1) * 1000;
}
