/**
 * Where the CPU time of a V8 CPU profile (.cpuprofile, from `node --cpu-prof` or the inspector)
 * goes, per unit of work: by module, by function (self time), and the library's functions with
 * what they call (inclusive time).
 *
 *   node --import tsx bench/cpuprofile-summary.ts <file.cpuprofile> [units] [unit name] [CPU ms per unit]
 *
 * Self time of a native frame (a builtin such as JSON.parse, which has no script) is charged to
 * the module of its nearest caller that has one, so "express-session" includes the JSON.parse it
 * calls. GC and "(program)" (V8 and native code outside any JS frame: the event loop, socket
 * writes' syscalls, compiling) stay on their own lines.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const isLibrary = (url: string) => url.includes('/dist/') && !url.includes('/node_modules/');

const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

/** The module a script URL belongs to. */
export function moduleOf(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] as string);
  }
  if (url.includes('/dist/')) return 'express-oidc-rp'; // the built package, as bench/app-server.ts loads it
  if (url.includes('/bench/') || url.includes('/test/')) return 'bench app and provider';
  if (url.startsWith('node:')) {
    const name = url.slice(5);
    if (/^(_http|internal\/http|http)/.test(name)) return 'node: http';
    if (/^(net|internal\/net|internal\/stream|stream|internal\/streams|internal\/stream_base)/.test(name)) return 'node: net, streams';
    if (/crypto/.test(name)) return 'node: crypto';
    if (/timers/.test(name)) return 'node: timers';
    if (/(events|event_target|abort)/.test(name)) return 'node: events, AbortSignal';
    if (/(url|querystring)/.test(name)) return 'node: url';
    if (/(process\/task_queues|async_hooks|process\/promises)/.test(name)) return 'node: microtasks, promises';
    if (/(buffer|util)/.test(name)) return 'node: buffer, util';
    return 'node: other';
  }
  if (url === '') return '(native)';
  return 'other';
}

/** Sample counts (not times): see formatSummary. */
export interface Summary {
  samples: number;
  idleSamples: number;
  byModule: Array<[string, number]>;
  bySelf: Array<[string, number]>;
  libraryInclusive: Array<[string, number]>;
}

export function summarize(profile: CpuProfile): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (f: CallFrame) =>
    `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(node_modules|dist|bench|test)\//, '$1/')}:${f.lineNumber + 1}` : ''}`.trim();
  /** The category of a node: its own module, or for a native frame its nearest scripted caller's. */
  const categoryCache = new Map<number, string>();
  const category = (id: number): string => {
    const cached = categoryCache.get(id);
    if (cached) return cached;
    const node = byId.get(id) as ProfileNode;
    const f = node.callFrame;
    let c: string;
    if (f.functionName === '(garbage collector)') c = 'GC';
    else if (f.functionName === '(program)') c = '(program): V8 and native code outside JS';
    else if (f.url === '') {
      const p = parent.get(id);
      c = p === undefined || SPECIAL.has((byId.get(p) as ProfileNode).callFrame.functionName) ? '(native, top level)' : category(p);
    } else c = moduleOf(f.url);
    categoryCache.set(id, c);
    return c;
  };

  // Each sample counts the same. Sample intervals (timeDeltas) are wall time: on a busy machine
  // they include the time the process waited for a core, which is no one's CPU. The shares are
  // turned into milliseconds with the CPU the process was measured to use (formatSummary).
  const self = new Map<number, number>();
  let idle = 0;
  let total = 0;
  const inclusive = new Map<string, number>();
  for (const id of profile.samples) {
    const f = (byId.get(id) as ProfileNode).callFrame;
    if (f.functionName === '(idle)') {
      idle++;
      continue;
    }
    total++;
    self.set(id, (self.get(id) ?? 0) + 1);
    // Inclusive time of the library's functions: each once per sample, however deep the recursion.
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const frame = (byId.get(n) as ProfileNode).callFrame;
      if (!isLibrary(frame.url)) continue;
      const k = key(frame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
    }
  }
  const byModule = new Map<string, number>();
  const bySelf = new Map<string, number>();
  for (const [id, ms] of self) {
    const c = category(id);
    byModule.set(c, (byModule.get(c) ?? 0) + ms);
    const k = `${key((byId.get(id) as ProfileNode).callFrame)} [${c}]`;
    bySelf.set(k, (bySelf.get(k) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { samples: total, idleSamples: idle, byModule: sorted(byModule), bySelf: sorted(bySelf), libraryInclusive: sorted(inclusive) };
}

/**
 * The summary as text. `cpuMsPerUnit`: the CPU the process was measured to use per unit of work
 * (process.cpuUsage around the profiled work); each line is its share of the samples times that.
 */
export function formatSummary(s: Summary, units: number, unit: string, cpuMsPerUnit: number, top = 25): string {
  const lines: string[] = [];
  const per = (n: number) => ((n / s.samples) * cpuMsPerUnit).toFixed(3).padStart(7);
  const pct = (n: number) => `${((100 * n) / s.samples).toFixed(1).padStart(5)} %`;
  lines.push(
    `${s.samples} samples on the main thread, ${s.idleSamples} idle left out, over ${units} ${unit}s; ms per ${unit} = share x ${cpuMsPerUnit.toFixed(2)} ms.`,
  );
  lines.push('');
  lines.push(`By module (self time; a native builtin is charged to its caller's module), ms per ${unit}:`);
  for (const [name, n] of s.byModule) if (n / s.samples >= 0.001) lines.push(`${per(n)}  ${pct(n)}  ${name}`);
  lines.push('');
  lines.push(`Top ${top} functions by self time, ms per ${unit}:`);
  for (const [name, n] of s.bySelf.slice(0, top)) lines.push(`${per(n)}  ${pct(n)}  ${name}`);
  lines.push('');
  lines.push(`express-oidc-rp functions by inclusive time (their synchronous part and what it calls), ms per ${unit}:`);
  for (const [name, n] of s.libraryInclusive.slice(0, top)) lines.push(`${per(n)}  ${pct(n)}  ${name}`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, units = '1', unit = 'unit', cpuMs = '1'] = process.argv.slice(2);
  if (!file) {
    console.error('usage: cpuprofile-summary.ts <file.cpuprofile> [units] [unit name] [measured CPU ms per unit]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(formatSummary(summarize(profile), Number(units), unit, Number(cpuMs)));
}
