/** Small JOSE helpers for tests that build or read tokens by hand. */
import { base64url } from 'jose';

/** The current time as a JWT NumericDate (whole seconds). Follows vi.setSystemTime. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A JSON value as one base64url JWT segment, for hand-made (often deliberately broken) tokens. */
export const b64json = (value: unknown): string => base64url.encode(JSON.stringify(value));

/** A JWT's payload, decoded without any verification. */
export function jwtPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
