/** What a function or promise throws, for asserting on OidcError codes. */
import { isOidcError, type OidcError } from '../../src/errors.js';

/** The OidcError code a function throws (or 'NOT_OIDC' for another error), undefined if it does not throw. */
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

/** The error a function throws, typed as an OidcError for reading code, message and details; undefined if it does not throw. */
export function errorOf(fn: () => unknown): OidcError | undefined {
  try {
    fn();
  } catch (err) {
    return err as OidcError;
  }
  return undefined;
}

/** The same for a promise. */
export async function errorOfAsync(p: Promise<unknown>): Promise<OidcError | undefined> {
  try {
    await p;
  } catch (err) {
    return err as OidcError;
  }
  return undefined;
}
