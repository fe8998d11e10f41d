/**
 * The import structure of src/ (docs/design.md "Layers"): imports flow one way,
 * routes -> middleware -> session -> protocol -> keys / http / store -> config, types, errors,
 * with index.ts (the composition root) on top; no cycles, type imports included; protocol/ is
 * framework-free. A module may import its own layer or the ones below it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

const DIRECTORY_RANK: Record<string, number> = { routes: 5, middleware: 4, session: 3, protocol: 2, keys: 1, http: 1, store: 1, config: 0 };
const FILE_RANK: Record<string, number> = {
  'index.ts': 6,
  'config.ts': 0,
  'types.ts': 0,
  'errors.ts': 0,
  'algorithms.ts': 0,
  'issuer-forms.ts': 0,
  'client-auth-methods.ts': 0,
};

/** The layer of a module (path relative to src/, with "/"), or undefined for a module no rule places. */
function rankOf(file: string): number | undefined {
  const [top] = file.split('/');
  if (file.includes('/') && top !== undefined && top in DIRECTORY_RANK) return DIRECTORY_RANK[top];
  return FILE_RANK[file];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Module {
  file: string;
  imports: string[];
  packages: string[];
}

function readModules(): Module[] {
  return sourceFiles(SRC).map((path) => {
    const text = readFileSync(path, 'utf8');
    const imports: string[] = [];
    const packages: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3]) as string;
      if (!spec.startsWith('.')) {
        packages.push(spec);
        continue;
      }
      const target = resolve(dirname(path), spec).replace(/\.js$/, '.ts');
      imports.push(relative(SRC, target).split(sep).join('/'));
    }
    return { file: relative(SRC, path).split(sep).join('/'), imports, packages };
  });
}

/** Import cycles (Tarjan's strongly connected components with more than one module, or a self-import). */
function cycles(modules: Module[]): string[][] {
  const graph = new Map(modules.map((m) => [m.file, m.imports]));
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the import structure of src/ (docs/design.md "Layers")', () => {
  const modules = readModules();

  it('reads the whole source tree', () => {
    expect(modules.length).toBeGreaterThan(30);
    expect(modules.map((m) => m.file)).toContain('index.ts');
  });

  it('every module has a layer', () => {
    expect(modules.filter((m) => rankOf(m.file) === undefined).map((m) => m.file)).toEqual([]);
  });

  it('no import goes against the layer direction', () => {
    const against = modules.flatMap((m) =>
      m.imports
        .filter((target) => (rankOf(target) ?? -1) > (rankOf(m.file) ?? 0))
        .map((target) => `${m.file} (layer ${rankOf(m.file)}) imports ${target} (layer ${rankOf(target)})`),
    );
    expect(against).toEqual([]);
  });

  it('no import cycle, type imports included', () => {
    expect(cycles(modules)).toEqual([]);
  });

  it('protocol/ is framework-free (no express)', () => {
    const offenders = modules.filter((m) => m.file.startsWith('protocol/') && m.packages.some((p) => /^express(\/|$)/.test(p)));
    expect(offenders.map((m) => m.file)).toEqual([]);
  });

  it('the checker catches what it should (a cycle and an upward import in a made-up graph)', () => {
    const fake: Module[] = [
      { file: 'session/a.ts', imports: ['routes/b.ts'], packages: [] },
      { file: 'routes/b.ts', imports: ['session/a.ts'], packages: [] },
    ];
    expect(cycles(fake)).toEqual([['routes/b.ts', 'session/a.ts']]);
    expect((rankOf('routes/b.ts') as number) > (rankOf('session/a.ts') as number)).toBe(true);
  });
});
