/**
 * Reading the option table: for each option, the value passed in code, else its env var (parsed
 * per its kind), else its default; then checked by its kind and its own checks. Every problem is
 * reported, none thrown, so that resolveConfig can list them all.
 */
import type { OidcAuthOptions } from '../types.js';
import { INVALID } from './kinds.js';
import { OPTION_NAMES, OPTION_SPECS, isHookName, placeOf, type ConfigFromOptions, type OptionName, type OptionSpec, type OptionValues } from './options.js';
import { isPlainObject } from './validators.js';

export type OptionReport = (name: OptionName, problem: string) => void;

export interface ReadOptions {
  /** Each option's value; undefined where it was refused (the configuration is then not returned). */
  values: OptionValues;
  /** Given, whether valid or not: settings that depend on it are not also reported missing. */
  given(name: OptionName): boolean;
}

/** The option as passed in code: `routes.login` is read from `routes: { login }`. */
function fromCode(options: OidcAuthOptions, name: OptionName): unknown {
  if (!name.startsWith('routes.')) return (options as Record<string, unknown>)[name];
  const { routes } = options;
  return isPlainObject(routes) ? routes[name.slice('routes.'.length)] : undefined;
}

/** Decode and check one given value. */
function decode(name: OptionName, spec: OptionSpec, raw: unknown, report: (problem: string) => void): unknown {
  if (raw === undefined) {
    if (spec.required) report('is required');
    return undefined;
  }
  // createUser is both a boolean switch and the name of a hook (mozilla-django-oidc has both too).
  const hint = typeof raw === 'function' && isHookName(name) ? `; the ${name} hook goes under hooks: { ${name} }` : '';
  let reported = false;
  const value = spec.kind.decode(raw, (problem) => {
    reported = true;
    report(problem + hint);
  });
  if (value === undefined) {
    // Absent (an empty string): an option with a default must not be emptied either.
    if (!reported && (spec.required || 'default' in spec)) report('is required');
    return undefined;
  }
  spec.check?.(value, report);
  return value;
}

/** Every option of the table, read from `options`, then `env`, then its default. */
export function readOptions(options: OidcAuthOptions, env: Record<string, string | undefined>, report: OptionReport): ReadOptions {
  const values: Record<string, unknown> = {};
  const given = new Set<OptionName>();
  for (const name of OPTION_NAMES) {
    const spec: OptionSpec = OPTION_SPECS[name];
    const problem = (p: string) => report(name, p);
    const code = fromCode(options, name);
    const fromEnv = env[spec.env];
    const raw = code !== undefined ? code : fromEnv !== undefined ? spec.kind.fromEnv(fromEnv.trim(), fromEnv, problem) : spec.default;
    if (raw !== undefined && raw !== '') given.add(name);
    // An env value that could not be parsed was reported as such: nothing more to check.
    values[name] = raw === INVALID ? undefined : decode(name, spec, raw, problem);
  }
  for (const name of OPTION_NAMES) {
    const from = (OPTION_SPECS[name] as OptionSpec).defaultFrom as OptionName | undefined;
    if (from !== undefined && values[name] === undefined) values[name] = values[from];
  }
  return { values: values as OptionValues, given: (name) => given.has(name) };
}

/** The values placed as ResolvedConfig holds them (OptionSpec.at). */
export function placeOptions(values: OptionValues): ConfigFromOptions {
  const placed: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const [key, sub] = placeOf(name);
    if (sub === undefined) {
      placed[key] = values[name];
      continue;
    }
    placed[key] ??= {};
    (placed[key] as Record<string, unknown>)[sub] = values[name];
  }
  return placed as ConfigFromOptions;
}
