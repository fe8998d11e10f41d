/**
 * Kinds of option value: how an env var's string is parsed, and how a given value (from code, the
 * parsed env var, or the default) is checked and turned into what the resolved configuration holds.
 * The option table (src/config/options.ts) gives each option one kind; the resolved type of the
 * option is the kind's type.
 *
 * Messages are the end of a sentence that starts with the option's name and env var, which the
 * caller adds: `option "timeout" (env OIDC_TIMEOUT) must be a number >= 0.001`.
 */
import { allowedHostProblem, base64KeyBytes, isPlainObject, providerUrlProblem, routePathProblem, urlProblem } from './validators.js';
import { isTenantId } from '../issuer-forms.js';

export type Report = (problem: string) => void;

/** An env value that could not be parsed: already reported, so later checks skip it. */
export const INVALID: unique symbol = Symbol('invalid');

/**
 * `T`: the resolved value; `I`: what code may pass (also the type of the default). `decode`
 * returns undefined, without reporting, for an absent value (an empty string for string kinds).
 */
export interface Kind<T, I = T> {
  /** Parse the env var's trimmed string (`raw`: as written, for messages) into a value as code would give it. */
  fromEnv(value: string, raw: string, report: Report): unknown;
  decode(value: unknown, report: Report): T | undefined;
  /** Type-level only: what code may pass. */
  readonly input?: I;
}

/** A string kind: the env string as is, '' absent; `check` says why a value is refused. */
function stringKind<T extends string = string>(check?: (value: string) => string | undefined): Kind<T, string> {
  return {
    fromEnv: (value) => value,
    decode(value, report) {
      if (value === '') return undefined;
      if (typeof value !== 'string') return void report('must be a string');
      const problem = check?.(value);
      return problem ? void report(problem) : (value as T);
    },
  };
}

export const text = (): Kind<string> => stringKind();

/** One of a few words, e.g. `auto | introspection | userinfo | reject`. */
export function oneOf<const V extends readonly [string, ...string[]]>(...values: V): Kind<V[number], V[number]> {
  const words = values.length === 1 ? values[0] : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
  return stringKind<V[number]>((v) => ((values as readonly string[]).includes(v) ? undefined : `must be ${words}, got "${v}"`));
}

/**
 * Key or certificate text (PEM, or JWK JSON). In an env var, a PEM written on one line with
 * literal `\n` (or `\r\n`) escapes (how PaaS settings pages store multi-line values) is accepted.
 */
export function keyText(check?: (value: string) => string | undefined): Kind<string> {
  const kind = stringKind(check);
  return { ...kind, fromEnv: (value) => (value.startsWith('-----') ? value.replace(/(?:\\r)?\\n/g, '\n') : value) };
}

/** A provider URL: https, http only on loopback. */
export const providerUrl = (): Kind<string> => stringKind(providerUrlProblem);

/** A proxy URL: http or https. */
export const proxyUrl = (): Kind<string> => stringKind((v) => urlProblem(v, true));

/** One of the library's routes: a plain absolute path. */
export const routePath = (): Kind<string> => stringKind(routePathProblem);

/** The app's public URL, resolved to its origin plus path prefix without a trailing slash (no query, no fragment). */
export function appUrl(): Kind<string> {
  const problem = (v: string) => {
    if (!URL.canParse(v)) return `is not a valid URL: "${v}"`;
    const { protocol } = new URL(v);
    return protocol === 'https:' || protocol === 'http:' ? undefined : 'must be an http(s) URL';
  };
  return withMap(stringKind(problem), (v) => {
    const base = new URL(v);
    return `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
  });
}

/** `kind`, with its decoded value transformed. */
function withMap<T, U, I>(kind: Kind<T, I>, map: (value: T) => U): Kind<U, I> {
  return {
    fromEnv: kind.fromEnv,
    decode(value, report) {
      const v = kind.decode(value, report);
      return v === undefined ? undefined : map(v);
    },
  };
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

/**
 * true/false. `unsetWhenEmpty`: for a switch without a default whose absence means "decide for
 * me" (tokenUseBasicAuth, pushedAuthorizationRequests, dpop), an empty env var leaves it unset
 * rather than turning it off.
 */
export function boolean(unsetWhenEmpty = false): Kind<boolean> {
  return {
    fromEnv(value, raw, report) {
      if (unsetWhenEmpty && value === '') return undefined;
      const v = value.toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      report(`must be true or false, got "${raw}"`);
      return INVALID;
    },
    decode: (value, report) => (typeof value === 'boolean' ? value : void report('must be a boolean')),
  };
}

/** true/false, or one word besides (e.g. `auto`), in code and in the env var. */
export function booleanOr<const W extends string>(word: W): Kind<boolean | W> {
  return {
    fromEnv(value, raw, report) {
      const v = value.toLowerCase();
      if (v === word) return word;
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      report(`must be true, false or ${word}, got "${raw}"`);
      return INVALID;
    },
    decode: (value, report) => (typeof value === 'boolean' || value === word ? (value as boolean | W) : void report(`must be true, false or "${word}"`)),
  };
}

/** A number >= min (an integer when `integer`); the env var holds decimal digits only. */
export function number(min: number, integer = false): Kind<number> {
  return {
    fromEnv(value, raw, report) {
      if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
      report(`must be a non-negative number, got "${raw}"`);
      return INVALID;
    },
    decode(value, report) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
        return void report(`must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
      }
      return value;
    },
  };
}

export const seconds = (min: number): Kind<number> => number(min);
export const integer = (min: number): Kind<number> => number(min, true);
/** Given in seconds (as mozilla-django-oidc's OIDC_TIMEOUT), resolved in milliseconds. */
export const secondsAsMilliseconds = (min: number): Kind<number> => withMap(number(min), (s) => Math.round(s * 1000));

// Space or comma separated, as OIDC_RP_SCOPES is space separated in mozilla-django-oidc.
const splitList = (value: string): string[] => value.split(/[\s,]+/).filter(Boolean);

/** A list of strings: an array in code (or one separated string), space or comma separated in the env. */
export function list(): Kind<string[], readonly string[] | string> {
  return {
    fromEnv: splitList,
    decode(value, report) {
      const arr = typeof value === 'string' ? splitList(value) : value;
      if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string')) return void report('must be a list of strings');
      return arr as string[];
    },
  };
}

/** A list whose entries each pass `entryProblem`, resolved lower-case (for values compared case-insensitively). */
function lowerCaseList(entryProblem: (entry: string) => string | undefined): Kind<string[], readonly string[] | string> {
  return withMap(
    {
      fromEnv: splitList,
      decode(value, report) {
        const entries = list().decode(value, report);
        for (const entry of entries ?? []) {
          const problem = entryProblem(entry);
          if (problem) report(`entry "${entry}"${problem}`);
        }
        return entries;
      },
    },
    (entries) => entries.map((e) => e.toLowerCase()),
  );
}

/** Hosts (`host` or `host:port`, not URLs), resolved lower-case as request hosts are compared. */
export const hostList = () =>
  lowerCaseList((host) => {
    const problem = allowedHostProblem(host);
    return problem && `: ${problem}`;
  });

/** Microsoft Entra tenant ids (GUIDs), lower-case as tokens' `tid` claims are compared. */
export const tenantList = () => lowerCaseList((t) => (isTenantId(t) ? undefined : ' is not a tenant id (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47)'));

/**
 * Secret keys of `bytes` bytes each, base64url or base64 (a list as `list` reads one), resolved to
 * their bytes. Entries are named by position, never quoted: they are secrets, and messages get logged.
 */
export function keyList(bytes: number): Kind<Uint8Array[], readonly string[] | string> {
  const expected = `must be ${bytes} random bytes, base64url or base64 (openssl rand -base64 ${bytes})`;
  return {
    fromEnv: splitList,
    decode(value, report) {
      const entries = list().decode(value, report);
      if (entries === undefined) return undefined;
      const keys: Uint8Array[] = [];
      const seen = new Map<string, number>();
      for (const [i, entry] of entries.entries()) {
        const n = i + 1;
        const key = base64KeyBytes(entry);
        if (key === undefined) {
          report(`entry ${n} ${expected}; it is not base64`);
        } else if (key.byteLength !== bytes) {
          // 64 hex digits are valid base64 too, and decode to 48 bytes: say what they are.
          const hex = /^[0-9a-f]+$/i.test(entry) && entry.length === bytes * 2 ? ' (it looks like hex: give the key as base64)' : '';
          report(`entry ${n} ${expected}; it decodes to ${key.byteLength} bytes${hex}`);
        } else {
          const id = Buffer.from(key).toString('base64');
          const first = seen.get(id);
          if (first !== undefined) report(`entries ${first} and ${n} are the same key`);
          else {
            seen.set(id, n);
            keys.push(key);
          }
        }
      }
      return keys;
    },
  };
}

/** Paths and RegExps (RegExps in code only); comma or space separated paths in the env. */
export function pathsOrPatterns(): Kind<Array<string | RegExp>, ReadonlyArray<string | RegExp>> {
  return {
    fromEnv: splitList,
    decode(value, report) {
      const arr = typeof value === 'string' ? splitList(value) : value;
      if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string' || x instanceof RegExp)) return void report('must be a list of paths or RegExps');
      return arr as Array<string | RegExp>;
    },
  };
}

/** String parameters: an object in code; a JSON object or a query string in the env. */
export function params(): Kind<Record<string, string>, Readonly<Record<string, string>>> {
  return {
    fromEnv(value, _raw, report) {
      if (!value.startsWith('{')) return Object.fromEntries(new URLSearchParams(value));
      try {
        return JSON.parse(value) as unknown;
      } catch {
        report('is not valid JSON');
        return INVALID;
      }
    },
    decode(value, report) {
      if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) return void report('must be an object of string values');
      return value as Record<string, string>;
    },
  };
}
