/** The OidcError code a function throws (or 'NOT_OIDC' for another error), undefined if it does not throw. */
import { isOidcError } from '../../src/errors.js';

export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOidcError(err) ? err.code : 'NOT_OIDC';
  }
  return undefined;
}

/** The same for a promise. */
export async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isOidcError(err) ? err.code : 'NOT_OIDC';
  }
  return undefined;
}
