/**
 * The options table in README.md and .env.example must list every option the code reads, with the
 * code's env var, default and meaning (the table entry's doc line), so documentation cannot
 * silently drift from the option table (src/config/options.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODE_ONLY_OPTIONS, OPTION_SPECS, type OptionSpec } from '../src/config/options.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const envExample = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');

/** README's options table: option -> its cells (env var, default, meaning), as written. */
const rows = new Map<string, { env: string; default: string; meaning: string }>();
const section = readme.slice(readme.indexOf('\n## Options\n'), readme.indexOf('\n### ', readme.indexOf('\n## Options\n')));
for (const line of section.split('\n')) {
  const m = /^\| `([^`]+)` \| (.*?) \| (.*?) \| (.*?) \|$/.exec(line);
  if (m) rows.set(m[1] as string, { env: m[2] as string, default: m[3] as string, meaning: m[4] as string });
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

describe('documentation covers every option', () => {
  for (const [option, s] of Object.entries(OPTION_SPECS)) {
    const spec: OptionSpec = s;
    it(`${option} (${spec.env}) is in the README table with its env var, default and doc line, and in .env.example`, () => {
      const row = rows.get(option);
      expect(row, `README options table has no row for ${option}`).toBeDefined();
      expect(row?.env).toBe(`\`${spec.env}\``);
      const def = spec.default;
      if (typeof def === 'boolean' || typeof def === 'number' || (typeof def === 'string' && def !== '')) {
        expect(row?.default).toContain(`\`${String(def)}\``);
      } else if (Array.isArray(def) && def.length > 0) {
        expect(row?.default).toContain(`\`${def.join(' ')}\``);
      }
      if (spec.required) expect(row?.default).toBe('required');
      // The README may say more than the table's one line, never something else.
      expect(squash(row?.meaning ?? ''), `README meaning of ${option} should contain the table's doc line`).toContain(squash(spec.doc));
      expect(envExample).toMatch(new RegExp(`^${spec.env}=`, 'm'));
    });
  }

  for (const [option, spec] of Object.entries(CODE_ONLY_OPTIONS)) {
    it(`${option} (code only) is in the README table with its doc line`, () => {
      const row = rows.get(option);
      expect(row, `README options table has no row for ${option}`).toBeDefined();
      expect(row?.env).toBe('(code only)');
      expect(squash(row?.meaning ?? '')).toContain(squash(spec.doc));
    });
  }

  it('the README table has no row for an option the code does not have', () => {
    const known = new Set([...Object.keys(OPTION_SPECS), ...Object.keys(CODE_ONLY_OPTIONS)]);
    expect([...rows.keys()].filter((name) => !known.has(name))).toEqual([]);
    expect(rows.size).toBe(known.size);
  });
});

describe('the option table', () => {
  it.each(Object.entries(OPTION_SPECS))('%s has a doc line: one line, without table syntax', (_name, spec) => {
    expect(spec.doc.trim()).not.toBe('');
    expect(spec.doc).not.toMatch(/[\n|]/);
  });
});
