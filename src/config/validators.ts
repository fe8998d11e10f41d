/**
 * Checks of single option values that need more than their type: URLs, route paths, the pinned
 * key, redirect hosts, the Redis client. Pure functions returning the reason a value is refused
 * (completed by the caller with the option's name and env var), or undefined when it is fine.
 *
 * They live with the configuration, not with the code that uses the values (keys/, store/,
 * redirect-target.ts), so that a bad setting is refused at start-up with the others and config
 * depends on nothing above it.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { IoRedisLike, NodeRedisLike, NodeRedisSentinelLike } from '../types.js';

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why `value` is not an acceptable URL, or undefined; http only when `allowHttp`. */
export function urlProblem(value: string, allowHttp: boolean): string | undefined {
  if (!URL.canParse(value)) return `is not a valid URL: "${value}"`;
  const { protocol } = new URL(value);
  if (protocol !== 'https:' && !(allowHttp && protocol === 'http:')) return `must be an https URL (http only for localhost), got "${value}"`;
  return undefined;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** A provider URL: https, or http for loopback providers (development, tests) only. */
export function providerUrlProblem(value: string): string | undefined {
  return urlProblem(value, URL.canParse(value) && isLoopbackHost(new URL(value).hostname));
}

// Characters that make a route something other than one literal path: a query, a fragment,
// whitespace, or Express route-pattern syntax (the per-route Routers of src/index.ts use it).
const NOT_A_PLAIN_PATH = /[?#\s:*()\\]/;

/** Why `value` cannot be one of the library's routes, or undefined. */
export function routePathProblem(value: string): string | undefined {
  if (!value.startsWith('/') || value.startsWith('//')) return `must be a path starting with "/", got "${value}"`;
  if (NOT_A_PLAIN_PATH.test(value)) return `must be a plain path (no query, fragment, spaces or route patterns), got "${value}"`;
  // oidc.router strips a request's trailing slash before the lookup (src/routes/dispatch.ts).
  if (value.length > 1 && value.endsWith('/')) return `must not end with "/" (it would never match), got "${value}"`;
  return undefined;
}

const PRIVATE_KEY = "is a private key: give the provider's public key (its private key must never leave the provider; if it did, have it rotated)";

function jwkProblem(jwk: unknown, clientSecret: string): string | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'holds something that is not a JWK object';
  const { kty } = jwk as { kty?: unknown };
  if (kty === 'oct') {
    return `is a symmetric key (kty "oct"): HS256/384/512 ID tokens are verified with the client secret, option ${clientSecret}; give the provider's public key`;
  }
  if ('d' in jwk) return PRIVATE_KEY;
  try {
    createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    return `is not a valid public JWK (${(err as Error).message})`;
  }
  return undefined;
}

/**
 * Why OIDC_RP_IDP_SIGN_KEY cannot serve pinnedKeyResolver (src/keys/jwks.ts), or undefined when it
 * can; `clientSecret` is how messages name that option.
 * Checked at start-up: otherwise a bad key starts fine and every login fails on the ID token.
 * node:crypto parses synchronously; it also derives a public key from a private one, hence the
 * explicit private-key checks.
 */
export function signKeyProblem(material: string, clientSecret: string): string | undefined {
  const trimmed = material.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      return 'is not valid JSON (a JWK or a JWKS was expected)';
    }
    const keys = (parsed as { keys?: unknown }).keys;
    if (keys !== undefined && !Array.isArray(keys)) return 'is a JWKS whose "keys" is not an array';
    if (Array.isArray(keys) && keys.length === 0) return 'is a JWKS with no keys';
    for (const jwk of Array.isArray(keys) ? keys : [parsed]) {
      const problem = jwkProblem(jwk, clientSecret);
      if (problem) return problem;
    }
    return undefined;
  }
  const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(trimmed)?.[1];
  if (label === undefined) return 'is neither a PEM public key ("-----BEGIN PUBLIC KEY-----") nor a JWK / JWKS as JSON';
  if (label.endsWith('PRIVATE KEY')) return PRIVATE_KEY;
  // jose's importSPKI reads SPKI only, although node:crypto would accept these two.
  if (label === 'CERTIFICATE') return 'is a certificate: give its public key as PEM SPKI (openssl x509 -pubkey -noout)';
  if (label === 'RSA PUBLIC KEY') return 'is a PKCS#1 RSA key: give it as PEM SPKI, "-----BEGIN PUBLIC KEY-----" (openssl rsa -RSAPublicKey_in -pubout)';
  if (label !== 'PUBLIC KEY') return `is a PEM "${label}": give the provider's public key as PEM SPKI ("-----BEGIN PUBLIC KEY-----") or a JWK`;
  try {
    createPublicKey({ key: trimmed, format: 'pem' });
  } catch (err) {
    return `is not a valid PEM public key (${(err as Error).message})`;
  }
  return undefined;
}

/** The client's own private key (PEM PKCS#8 or a private JWK), or why it cannot be one. */
function parsePrivateKey(material: string): KeyObject | string {
  const trimmed = material.trim();
  if (trimmed.startsWith('{')) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(trimmed);
    } catch {
      return 'is not valid JSON (a private JWK was expected)';
    }
    if (!isPlainObject(jwk)) return 'is not a JWK object';
    if (Array.isArray(jwk.keys)) return 'is a JWKS: give the one private JWK to sign with';
    if (jwk.kty === 'oct') return 'is a symmetric key (kty "oct"): private_key_jwt needs an RSA, EC or Ed25519 private key';
    if (!('d' in jwk)) return 'is a public JWK: give the private key (the public one is what you register at the provider)';
    try {
      return createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (err) {
      return `is not a valid private JWK (${(err as Error).message})`;
    }
  }
  const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(trimmed)?.[1];
  if (label === undefined) return 'is neither a PEM private key ("-----BEGIN PRIVATE KEY-----") nor a private JWK as JSON';
  if (!label.endsWith('PRIVATE KEY')) return `is a PEM "${label}", not a private key`;
  if (label === 'ENCRYPTED PRIVATE KEY') return 'is an encrypted private key: decrypt it first (openssl pkcs8 -topk8 -nocrypt)';
  try {
    return createPrivateKey({ key: trimmed, format: 'pem' });
  } catch (err) {
    return `is not a valid PEM private key (${(err as Error).message})`;
  }
}

/** Why the client assertion key cannot sign, or undefined. */
export function privateSigningKeyProblem(material: string): string | undefined {
  const key = parsePrivateKey(material);
  if (typeof key === 'string') return key;
  if (!['rsa', 'rsa-pss', 'ec', 'ed25519'].includes(key.asymmetricKeyType ?? ''))
    return `is a ${key.asymmetricKeyType} key: use an RSA, EC (P-256/384/521) or Ed25519 key`;
  if (key.asymmetricKeyType?.startsWith('rsa') && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return 'is an RSA key under 2048 bits';
  return undefined;
}

const EC_ALGS: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/**
 * The JWS algorithms a private key can sign with (RFC 7518 3.1), the first being its default:
 * the JWK's own `alg` when it has one; RS256 for RSA (PS256 when `preferPss`, as FAPI 2.0 wants);
 * the curve's ES algorithm; EdDSA for Ed25519. Empty for a key that cannot be read.
 */
export function signingAlgsFor(material: string, preferPss: boolean): string[] {
  const key = parsePrivateKey(material);
  if (typeof key === 'string') return [];
  const jwkAlg = material.trim().startsWith('{') ? (JSON.parse(material) as { alg?: unknown }).alg : undefined;
  let algs: string[];
  switch (key.asymmetricKeyType) {
    case 'rsa':
      algs = preferPss ? ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'] : ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
      break;
    case 'rsa-pss':
      algs = ['PS256', 'PS384', 'PS512'];
      break;
    case 'ec': {
      const alg = EC_ALGS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      algs = alg ? [alg] : [];
      break;
    }
    case 'ed25519':
      algs = ['EdDSA', 'Ed25519'];
      break;
    default:
      algs = [];
  }
  return typeof jwkAlg === 'string' && algs.includes(jwkAlg) ? [jwkAlg, ...algs.filter((a) => a !== jwkAlg)] : algs;
}

// ---- Client certificate and CA bundle (RFC 8705) ----------------------------------------------
// Parsed here, at start-up, with the same node:crypto the TLS handshake uses: a bad PEM would
// otherwise start fine and fail every provider call (tls.connect throws on the first one).

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** The PEM blocks of `text`, in order (text between them, such as openssl's "Bag Attributes", is ignored). */
function pemBlocks(text: string): Array<{ label: string; pem: string }> {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] as string, pem: m[0] }));
}

/**
 * Why `text` is not one or more PEM certificates, or undefined: the client certificate (its chain
 * after it) or a CA bundle. `keyOption` names where a private key belongs, for the common mistake
 * of a file holding both.
 */
export function certificatesProblem(text: string, keyOption: string | undefined): string | undefined {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) return 'is not PEM: "-----BEGIN CERTIFICATE-----" was expected';
  for (const [i, block] of blocks.entries()) {
    const which = blocks.length > 1 ? `its PEM block ${i + 1}` : 'it';
    if (block.label.endsWith('PRIVATE KEY')) {
      return `holds a private key (${which}): ${keyOption ? `the key goes in option ${keyOption}, ` : ''}only certificates belong here`;
    }
    if (block.label !== 'CERTIFICATE') return `holds a PEM "${block.label}" (${which}) where only certificates ("-----BEGIN CERTIFICATE-----") belong`;
    try {
      new X509Certificate(block.pem);
    } catch (err) {
      return `holds a certificate that does not parse (${which}: ${(err as Error).message})`;
    }
  }
  return undefined;
}

/** Why `text` is not one unencrypted PEM private key, or undefined. */
export function privateKeyProblem(text: string): string | undefined {
  // `openssl ecparam -genkey` writes the curve's parameters before the key; they are not a second key.
  const blocks = pemBlocks(text).filter((b) => b.label !== 'EC PARAMETERS');
  const [block] = blocks;
  if (block === undefined) return 'is not PEM: a private key ("-----BEGIN PRIVATE KEY-----") was expected';
  if (blocks.length > 1) return `holds ${blocks.length} PEM blocks: give the one private key of the certificate`;
  if (block.label === 'PUBLIC KEY' || block.label === 'RSA PUBLIC KEY') return "is a public key: give the certificate's private key";
  if (block.label === 'CERTIFICATE') return "is a certificate: give the certificate's private key";
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: 4,ENCRYPTED/m.test(block.pem)) {
    return 'is encrypted: give it unencrypted (openssl pkey -in key.pem -out plain-key.pem), kept as secret as the client secret';
  }
  if (!block.label.endsWith('PRIVATE KEY')) return `is a PEM "${block.label}": a private key ("-----BEGIN PRIVATE KEY-----") was expected`;
  try {
    createPrivateKey({ key: block.pem, format: 'pem' });
  } catch (err) {
    return `is not a valid PEM private key (${(err as Error).message})`;
  }
  return undefined;
}

/**
 * Why `key` cannot go with `certificate`, or undefined: the TLS handshake proves possession of
 * the private key of the first certificate (RFC 8446 4.4.2: the sender's own certificate comes
 * first), so the key must be that certificate's. Undefined too when either does not parse: their
 * own checks report that. `certificateOption` names the certificate's option.
 */
export function keyPairProblem(certificate: string, key: string, certificateOption: string): string | undefined {
  let leaf: X509Certificate;
  let privateKey: KeyObject;
  try {
    leaf = new X509Certificate(certificate);
    privateKey = createPrivateKey(key);
  } catch {
    return undefined;
  }
  // A key of another type (RSA against an EC certificate) is a mismatch like any other.
  if (leaf.checkPrivateKey(privateKey)) return undefined;
  return `is not the private key of the certificate in option ${certificateOption} (subject "${leaf.subject.split('\n').join(', ')}")`;
}

// A host name or IP literal with an optional port: what `url.host` is compared with
// (safeRedirectTarget in src/redirect-target.ts).
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)(?::(\d{1,5}))?$/i;

/**
 * Why an OIDC_REDIRECT_ALLOWED_HOSTS entry could never match a target, or undefined when it can.
 * A URL is the usual mistake (`https://x.example.com`): it is compared with a host and never matches.
 */
export function allowedHostProblem(entry: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
    const host = URL.canParse(entry) ? new URL(entry).host : '';
    return host ? `use the host ${host}, not a URL` : 'a URL, not a host';
  }
  const m = HOST.exec(entry);
  if (!m || Number(m[2] ?? 0) > 65535 || !URL.canParse(`https://${entry}`)) {
    return 'not a host (a host name or IP address, optionally with :port)';
  }
  return undefined;
}

/**
 * Which client `value` is, told apart by shape, or undefined for anything else. ioredis also has a
 * sendCommand (taking a Command object), so `call` decides first; src/store/redis-store.ts drives
 * each through that entry point.
 */
export function redisClientKind(value: unknown): RedisClientKind | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  // ioredis routes `call` itself, for a Cluster and behind Sentinel too.
  if (typeof (value as Partial<IoRedisLike>).call === 'function') return 'ioredis';
  if (typeof (value as Partial<NodeRedisLike>).sendCommand !== 'function') return undefined;
  // node-redis: three sendCommand signatures (client, cluster, sentinel), told apart by what only
  // the cluster (its masters) and the sentinel client (getMasterNode) have.
  if ('masters' in value) return 'node-redis-cluster';
  if (typeof (value as Partial<NodeRedisSentinelLike>).getMasterNode === 'function') return 'node-redis-sentinel';
  return 'node-redis';
}

export type RedisClientKind = 'ioredis' | 'node-redis' | 'node-redis-cluster' | 'node-redis-sentinel';

// base64url (RFC 4648 5) or base64 (RFC 4648 4, as `openssl rand -base64 32` prints it), padding optional.
const BASE64_OR_URL = /^(?:[A-Za-z0-9_-]+|[A-Za-z0-9+/]+)={0,2}$/;

/**
 * The bytes of a key given as base64url or base64, or undefined when `entry` is neither.
 * (Buffer.from(…, 'base64') alone would skip any character it does not know.)
 */
export function base64KeyBytes(entry: string): Uint8Array | undefined {
  if (!BASE64_OR_URL.test(entry) || entry.replace(/=+$/, '').length % 4 === 1) return undefined;
  return new Uint8Array(Buffer.from(entry, 'base64'));
}
