/**
 * The options table in README.md and .env.example must list every option the code reads, with the
 * code's default, so documentation cannot silently drift from config.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPTION_SPECS } from '../src/config/options.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const envExample = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');

function readmeRow(option: string): string | undefined {
  return readme.split('\n').find((line) => line.startsWith(`| \`${option}\` |`));
}

describe('documentation covers every option', () => {
  for (const [option, spec] of Object.entries(OPTION_SPECS)) {
    it(`${option} (${spec.env}) is in the README table with its default and in .env.example`, () => {
      const row = readmeRow(option);
      expect(row, `README options table has no row for ${option}`).toBeDefined();
      expect(row).toContain(`\`${spec.env}\``);
      const def = 'default' in spec ? spec.default : undefined;
      if (typeof def === 'boolean' || typeof def === 'number' || (typeof def === 'string' && def !== '')) {
        expect(row).toContain(`\`${String(def)}\``);
      } else if (Array.isArray(def) && def.length > 0) {
        expect(row).toContain(`\`${def.join(' ')}\``);
      }
      expect(envExample).toMatch(new RegExp(`^${spec.env}=`, 'm'));
    });
  }
});
