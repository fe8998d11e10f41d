/**
 * The client's own private signing key (private_key_jwt, RFC 7523 2.2; OIDC Core 9), from a PEM
 * (PKCS#8) or a private JWK. jose imports it; the configuration has already checked that it parses,
 * is private and fits the algorithm (src/config/validators.ts), so a failure here is unexpected.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type CryptoKey, type JWK } from 'jose';

export interface SigningKey {
  key: CryptoKey | Uint8Array;
  alg: string;
  /**
   * The key id the provider finds the public key by: the JWK's own `kid`, else its RFC 7638
   * thumbprint (so a PEM key's kid is predictable: README "High-security providers (FAPI 2.0)").
   */
  kid: string;
}

/** Parse PEM or JWK text into a private JWK (node:crypto reads both). */
export function privateJwk(material: string): JWK {
  const trimmed = material.trim();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as JWK;
  return createPrivateKey({ key: trimmed, format: 'pem' }).export({ format: 'jwk' }) as JWK;
}

/** The key id assertions carry: the JWK's own, else its RFC 7638 thumbprint (required members only). */
async function keyId(jwk: JWK): Promise<string> {
  return jwk.kid ?? calculateJwkThumbprint(jwk);
}

/** The public JWK to register at the provider, with the kid and alg the assertions carry. */
export async function publicJwkFor(material: string, alg: string): Promise<JWK> {
  const jwk = privateJwk(material);
  const pub = createPublicKey(createPrivateKey({ key: jwk as NodeJwk, format: 'jwk' })).export({ format: 'jwk' }) as JWK;
  return { ...pub, kid: await keyId(jwk), alg, use: 'sig' };
}

/** A loader that imports the key once, on first use. */
export function clientAssertionKey(material: string, alg: string): () => Promise<SigningKey> {
  let loaded: Promise<SigningKey> | undefined;
  return () => {
    loaded ??= (async () => {
      const jwk = privateJwk(material);
      return { key: (await importJWK(jwk, alg)) as CryptoKey, alg, kid: await keyId(jwk) };
    })();
    return loaded;
  };
}
