/**
 * `npm run bench:instructions`: the authenticated route's cost per request counted in machine
 * instructions, not seconds. Each app process runs under valgrind's callgrind, which counts every
 * instruction the process executes (JIT-compiled JavaScript included): a count that does not move
 * with the machine's load, where the CPU time bench/run.ts reads moves by up to 25 % between two
 * runs of the same app on a shared 2-vCPU VM (docs/benchmarks.md).
 *
 * Runs, per session store (memory, redis):
 *   floor  bare express + express-session, a session holding a small user object
 *   same   the floor app, its session holding exactly what express-oidc-rp keeps in one
 *   least  the floor app, its session holding only what every request of a signed-in user needs
 *          (the login id, the claims req.oidc shows, the access token and its expiry): the
 *          smallest session any design that keeps req.oidc synchronous could have
 *   ours   express-oidc-rp: oidc.router, then requireAuth() on the route
 * ours / floor is the library's whole cost; same / floor the part of it that is express-session
 * handling a bigger session; ours / same the library's middleware; least / floor a bound on what a
 * smaller session could gain.
 *
 * Each run: BENCH_INSTR_WARMUP requests (unmeasured), then per round the counters are zeroed,
 * BENCH_INSTR_REQUESTS requests are sent (autocannon, BENCH_INSTR_CONNECTIONS connections), and the
 * counters dumped; rounds interleave the runs as bench/run.ts does. Every thread of the process
 * is counted (V8 compiles and collects garbage partly on threads of its own).
 *
 * Instructions are not time (cache misses and branch mispredictions cost cycles an instruction
 * count does not see), so this complements bench/run.ts: its ratios are the noise-free view of
 * the same comparison, and its breakdown by V8/libc function says where the difference goes.
 * Under valgrind a request costs about 50 times its native time: a run of both stores takes about
 * 30 to 45 minutes.
 *
 * Knobs: BENCH_INSTR_STORES (memory,redis), BENCH_INSTR_ROUNDS (3), BENCH_INSTR_REQUESTS (2000),
 * BENCH_INSTR_WARMUP (3000), BENCH_INSTR_CONNECTIONS (10), BENCH_RESULTS_FILE (also write the
 * tables there, as Markdown). Needs valgrind (Debian: `apt-get install valgrind`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { startFakeOp } from '../test/support/fake-op.js';
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js';
import { BUCKET_NAMES, bucketsOf, COMPILING, exclusiveCounts, MAJOR_GC } from './callgrind.js';
import {
  closeHarness,
  cookieOf,
  envNumber,
  floorCookie,
  interleavedRounds,
  label,
  login,
  median,
  sendAll,
  startTarget,
  type ProviderEnv,
  type Target,
  type TargetSpec,
} from './harness.js';
import { say, table, writeResultsFile } from './report.js';

const run = promisify(execFile);

const STORES = (process.env.BENCH_INSTR_STORES ?? 'memory,redis').split(',') as ('memory' | 'redis')[];
const ROUNDS = envNumber('BENCH_INSTR_ROUNDS', 3);
const REQUESTS = envNumber('BENCH_INSTR_REQUESTS', 2000);
const WARMUP = envNumber('BENCH_INSTR_WARMUP', 3000);
const CONNECTIONS = envNumber('BENCH_INSTR_CONNECTIONS', 10);
/** Per request: under valgrind an app answers about 50 times slower. */
const VALGRIND_TIMEOUT_S = 120;

/** Where callgrind writes its dumps: one directory per run of this script. */
const dumps = mkdtempSync(join(tmpdir(), 'bench-callgrind-'));

function callgrindSpec(kind: 'floor' | 'ours', store: 'memory' | 'redis'): TargetSpec {
  return {
    kind,
    store,
    wrapper: {
      command: 'valgrind',
      // all-non-file: V8 writes the machine code it runs; valgrind must notice every such write.
      // compress-strings=no: every dump names its functions (compressed, a name is written once
      // per process, in whichever dump first has it).
      args: ['--tool=callgrind', '--smc-check=all-non-file', '--dump-instr=no', '--compress-strings=no', '-q', `--callgrind-out-file=${join(dumps, 'cg.%p')}`],
    },
  };
}

/**
 * callgrind_control -z (zero the counters) or -d (dump them). Valgrind takes the command when the
 * process runs, so while it waits the process gets small IPC messages (no HTTP request: one would
 * be counted in the next measurement, or not, depending on when the command lands).
 */
async function control(target: Target, flag: '-z' | '-d'): Promise<void> {
  let done = false;
  const command = run('callgrind_control', [flag, String(target.child.pid)]).finally(() => {
    done = true;
  });
  while (!done) {
    await target.cpu();
    await sleep(20);
  }
  await command;
}

/** The newest dump callgrind wrote for a process. */
function lastDump(target: Target): { total: number; byFunction: Map<string, number> } {
  const prefix = `cg.${target.child.pid}.`;
  const newest = readdirSync(dumps)
    .filter((f) => f.startsWith(prefix))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
    .at(-1);
  if (!newest) throw new Error(`callgrind wrote no dump for ${label(target.spec)}`);
  const counts = exclusiveCounts(readFileSync(join(dumps, newest), 'utf8'));
  if (counts.total === 0) throw new Error(`no total in ${newest}`);
  return counts;
}

interface Run {
  name: string;
  target: Target;
  headers: Record<string, string>;
}

interface Sample {
  /** All instructions, per request. */
  perRequest: number;
  /** Without full GCs and compilation, per request: what repeats request after request. */
  steady: number;
  buckets: Map<string, number>;
}

async function measure(r: Run): Promise<Sample> {
  await control(r.target, '-z');
  await sendAll(r.target, '/api', r.headers, { amount: REQUESTS, connections: CONNECTIONS, timeoutS: VALGRIND_TIMEOUT_S, what: r.name });
  await control(r.target, '-d');
  const { total, byFunction } = lastDump(r.target);
  const buckets = new Map([...bucketsOf(byFunction)].map(([k, v]) => [k, v / REQUESTS]));
  const lumpy = (buckets.get(MAJOR_GC) ?? 0) + (buckets.get(COMPILING) ?? 0);
  return { perRequest: total / REQUESTS, steady: total / REQUESTS - lumpy, buckets };
}

const k = (n: number) => `${(n / 1000).toFixed(0)}k`;
const f3 = (n: number) => n.toFixed(3);

async function storePhase(store: 'memory' | 'redis', provider: ProviderEnv): Promise<void> {
  const [floor, ours] = await Promise.all([startTarget(callgrindSpec('floor', store), provider), startTarget(callgrindSpec('ours', store), provider)]);
  try {
    const json = { accept: 'application/json' };
    const oursCookie = await login(ours);
    const floorSession = await floorCookie(floor);
    const payload = await (await fetch(`${ours.origin}/__session`, { headers: { cookie: oursCookie } })).text();
    const seed = (body: string) => fetch(`${floor.origin}/seed-same`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const same = await seed(payload);
    const { loginId, claims, accessToken, accessTokenExpiresAt } = (JSON.parse(payload) as { auth: Record<string, unknown> }).auth;
    const least = await seed(JSON.stringify({ auth: { loginId, claims, accessToken, accessTokenExpiresAt } }));
    const runs: Run[] = [
      { name: 'floor', target: floor, headers: { ...json, cookie: floorSession } },
      { name: 'same', target: floor, headers: { ...json, cookie: cookieOf(same.headers.get('set-cookie')) } },
      { name: 'least', target: floor, headers: { ...json, cookie: cookieOf(least.headers.get('set-cookie')) } },
      { name: 'ours', target: ours, headers: { ...json, cookie: oursCookie } },
    ];
    const byName = new Map(runs.map((r) => [r.name, r]));
    for (const r of runs) {
      await sendAll(r.target, '/api', r.headers, { amount: WARMUP, connections: CONNECTIONS, timeoutS: VALGRIND_TIMEOUT_S, what: `${r.name} warm-up` });
    }
    const samples = await interleavedRounds(
      runs.map((r) => r.name),
      ROUNDS,
      async (name, i) => {
        const sample = await measure(byName.get(name) as Run);
        console.error(`${store} round ${i + 1} ${name}: ${k(sample.perRequest)} instructions/request, ${k(sample.steady)} steady`);
        return sample;
      },
    );
    const s = (name: string) => samples.get(name) as Sample[];
    type Figure = 'perRequest' | 'steady';
    const per = (name: string, f: Figure) => median(s(name).map((x) => x[f]));
    const spread = (name: string, f: Figure) => `${k(Math.min(...s(name).map((x) => x[f])))} to ${k(Math.max(...s(name).map((x) => x[f])))}`;
    /** Median over rounds of base's count / this one's: capacity relative to base, when instructions are what limits it. */
    const ratio = (name: string, base: string, f: Figure) => median(s(name).map((x, j) => (s(base)[j] as Sample)[f] / x[f]));
    say(
      `\n### ${store === 'memory' ? 'MemoryStore' : 'connect-redis'}: instructions per request, ${ROUNDS} rounds of ${REQUESTS} requests, ${CONNECTIONS} connections`,
    );
    say();
    say('Steady: without full GCs and without compiling JavaScript, the count that repeats from one window of');
    say('requests to the next. All: with the full GCs and the (re)compilations that fell in the window, which vary');
    say('from round to round. floor / run: capacity relative to the floor, if instructions were all that cost.');
    say();
    table(
      ['run', 'steady', 'its rounds', 'floor / run', 'same / run', 'all', 'its rounds', 'floor / run (all)'],
      runs.map((r) => [
        r.name,
        k(per(r.name, 'steady')),
        spread(r.name, 'steady'),
        f3(ratio(r.name, 'floor', 'steady')),
        f3(ratio(r.name, 'same', 'steady')),
        k(per(r.name, 'perRequest')),
        spread(r.name, 'perRequest'),
        f3(ratio(r.name, 'floor', 'perRequest')),
      ]),
    );
    say();
    say('Where they go (instructions per request, median over rounds, exclusive counts by function):');
    say();
    const bucket = (name: string, b: string) => median(s(name).map((x) => x.buckets.get(b) ?? 0));
    table(
      ['what', ...runs.map((r) => r.name), 'ours - floor'],
      BUCKET_NAMES.map((b) => [b, ...runs.map((r) => k(bucket(r.name, b))), k(bucket('ours', b) - bucket('floor', b))]),
    );
  } finally {
    await Promise.all([floor.stop(), ours.stop()]);
  }
}

async function main(): Promise<void> {
  await run('valgrind', ['--version']).catch(() => {
    throw new Error('bench:instructions needs valgrind (Debian: apt-get install valgrind)');
  });
  const op = await startFakeOp({ behaviour: { accessTokenTtl: 3600 } });
  let redis: RedisServer | undefined;
  try {
    if (STORES.includes('redis')) redis = await startRedisServer();
    const provider: ProviderEnv = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, redisUrl: redis?.url };
    say(`## Instructions per request (callgrind), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}`);
    for (const store of STORES) await storePhase(store, provider);
    writeResultsFile();
  } finally {
    await op.close();
    await redis?.stop();
    await closeHarness();
    rmSync(dumps, { recursive: true, force: true });
  }
}

await main();
