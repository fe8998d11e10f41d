/**
 * `npm run build && node --import tsx bench/ic-misses.ts`: inline-cache misses per request on the
 * authenticated route, the floor app against ours (memory store), and where ours has more. With
 * BENCH_IC_ROUTE=bearer: the bearer route (bearerAuth(), a cached JWT) against the same request to
 * an unprotected route of the same app.
 *
 * Why: on an Express request every property read of a request or response object that a function
 * has seen with many shapes misses V8's inline caches (the objects' shape is new for each request),
 * and a miss runs V8's runtime lookup: bench/instructions.ts puts that runtime work at about half
 * of a request's instructions, in the floor app as in ours. So each property read the library
 * makes on `req` or `res` costs a miss per request, and the count of misses is an exact, noise-free
 * way to see what a change to the hot path does.
 *
 * How: each app runs with `--log-ic` (V8 logs every IC miss with the code address that missed);
 * after BENCH_IC_WARMUP requests and a pause, BENCH_IC_REQUESTS requests are sent, then another
 * pause; the events between the pauses are counted, per request, and attributed to functions
 * through the log's code-creation events. Knobs: BENCH_IC_ROUTE (session, bearer), BENCH_IC_WARMUP
 * (20000), BENCH_IC_REQUESTS (4000), BENCH_BASE_DIST (another build's dist/index.js, counted too).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeOp, type FakeOp } from '../test/support/fake-op.js';
import { bearerJwt, closeHarness, envNumber, floorCookie, login, sendAll, startTarget, type ProviderEnv, type Target } from './harness.js';
import { say, table } from './report.js';

const WARMUP = envNumber('BENCH_IC_WARMUP', 20_000);
const REQUESTS = envNumber('BENCH_IC_REQUESTS', 4000);
/** Another build of the library (its dist/index.js), measured too, to compare two versions. */
const BASE_DIST = process.env.BENCH_BASE_DIST;
const ROUTE = process.env.BENCH_IC_ROUTE ?? 'session';
if (ROUTE !== 'session' && ROUTE !== 'bearer') throw new Error(`BENCH_IC_ROUTE: "${ROUTE}" is neither session nor bearer`);
const logs = mkdtempSync(join(tmpdir(), 'bench-ic-'));

interface Misses {
  perRequest: number;
  /** Misses per request by `function (file:line:column) IC-kind property`. */
  bySite: Map<string, number>;
}

/** A pause the measured requests are framed by: the log's events split into bursts at such gaps. */
const GAP_MS = 1500;

/**
 * Count the IC events of the measured requests, per request: the last burst of events in the log
 * (split at gaps of at least GAP_MS, during which the app was idle) with more events than requests,
 * which leaves out what the process logs as it exits.
 */
function countMisses(log: string, requests: number): Misses {
  const code: [start: number, size: number, name: string][] = [];
  const events: [pc: number, time: number, kind: string, key: string][] = [];
  for (const line of log.split('\n')) {
    if (line.startsWith('code-creation,')) {
      // code-creation,type,kind,time,address,size,name...
      const f = line.split(',');
      code.push([Number.parseInt(f[4] as string, 16), Number(f[5]), f.slice(6, -2).join(',') || (f[6] ?? '')]);
    } else if (/^[A-Za-z]*IC,/.test(line)) {
      // kind,pc,time,line,column,old state,new state,map,key,modifier,slow reason
      const f = line.split(',');
      events.push([Number.parseInt(f[1] as string, 16), Number(f[2]), f[0] as string, f[8] as string]);
    }
  }
  // The newest code object at an address wins (addresses are reused after code is collected).
  const byStart = new Map(code.map((c) => [c[0], c]));
  const ranges = [...byStart.values()].sort((a, b) => a[0] - b[0]);
  const nameAt = (pc: number): string => {
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [start, size, name] = ranges[mid] as [number, number, string];
      if (pc < start) hi = mid - 1;
      else if (pc >= start + size) lo = mid + 1;
      else return name.replace(/^.*?((node:|node_modules\/|dist\/|bench\/))/, '$2');
    }
    return '(unknown code)';
  };
  const bursts: (typeof events)[] = [];
  for (const e of events) {
    const last = bursts.at(-1);
    if (last && e[1] - (last.at(-1) as (typeof events)[number])[1] < (GAP_MS * 1000) / 2) last.push(e);
    else bursts.push([e]);
  }
  const window = bursts.findLast((b) => b.length > requests);
  if (!window) throw new Error('no burst of IC events as large as the measured requests in the V8 log');
  const bySite = new Map<string, number>();
  for (const [pc, , kind, key] of window) {
    const site = `${nameAt(pc)} ${kind} ${key}`;
    bySite.set(site, (bySite.get(site) ?? 0) + 1 / requests);
  }
  return { perRequest: window.length / requests, bySite };
}

/** What one measurement sends: to which app, which path, with which headers (made once the app runs). */
interface Load {
  name: string;
  kind: 'floor' | 'ours';
  path: string;
  headers: (target: Target) => Promise<Record<string, string>>;
}

async function measure(load: Load, provider: ProviderEnv, dist?: string): Promise<Misses> {
  const logfile = join(logs, `${load.name}${dist ? '-base' : ''}.log`);
  const nodeArgs = ['--log-ic', `--logfile=${logfile}`, '--no-logfile-per-isolate'];
  const target = await startTarget({ kind: load.kind, store: 'memory', nodeArgs, ...(dist ? { dist } : {}) }, provider);
  try {
    const headers = await load.headers(target);
    await sendAll(target, load.path, headers, { amount: WARMUP, connections: 10, what: 'warm-up' });
    await sleep(GAP_MS);
    await sendAll(target, load.path, headers, { amount: REQUESTS, connections: 10 });
    await sleep(GAP_MS);
  } finally {
    await target.stop(); // the log is complete once the process has exited
  }
  return countMisses(readFileSync(logfile, 'utf8'), REQUESTS);
}

/** The two measurements compared: a baseline and ours. */
async function loads(op: FakeOp): Promise<[base: Load, ours: Load, what: string]> {
  const json = { accept: 'application/json' };
  if (ROUTE === 'session') {
    return [
      { name: 'floor', kind: 'floor', path: '/api', headers: async (t) => ({ ...json, cookie: await floorCookie(t) }) },
      { name: 'ours', kind: 'ours', path: '/api', headers: async (t) => ({ ...json, cookie: await login(t) }) },
      'authenticated request (memory store)',
    ];
  }
  const jwt = await bearerJwt(op);
  const headers = async () => ({ ...json, authorization: `Bearer ${jwt}` });
  return [
    { name: 'open', kind: 'ours', path: '/open', headers },
    { name: 'bearer', kind: 'ours', path: '/bearer', headers },
    'request with a cached bearer JWT, to an unprotected route and through bearerAuth()',
  ];
}

const op = await startFakeOp({ behaviour: { accessTokenTtl: 3600 } });
try {
  const provider: ProviderEnv = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret };
  const [baseLoad, oursLoad, what] = await loads(op);
  const base = await measure(baseLoad, provider);
  const ours = await measure(oursLoad, provider);
  say(`Inline-cache misses per ${what}: ${baseLoad.name} ${base.perRequest.toFixed(1)}, ${oursLoad.name} ${ours.perRequest.toFixed(1)}.`);
  if (BASE_DIST) say(`The build in BENCH_BASE_DIST (${BASE_DIST}): ${(await measure(oursLoad, provider, BASE_DIST)).perRequest.toFixed(1)}.`);
  say();
  say(`Sites where ${oursLoad.name} misses more often than ${baseLoad.name} (the library's own functions, and Express' work for one more middleware):`);
  say();
  const sites = [...new Set([...base.bySite.keys(), ...ours.bySite.keys()])]
    .map((site) => [site, (ours.bySite.get(site) ?? 0) - (base.bySite.get(site) ?? 0)] as const)
    // The two apps' route handlers are different functions of bench/app-server.ts doing the same reads.
    .filter(([site, more]) => more >= 0.5 && !site.startsWith('bench/'))
    .sort((a, b) => b[1] - a[1]);
  table(
    ['function, IC, property', `${oursLoad.name} - ${baseLoad.name}, per request`],
    sites.map(([site, more]) => [site, more.toFixed(2)]),
  );
} finally {
  await op.close();
  await closeHarness();
  rmSync(logs, { recursive: true, force: true });
}
