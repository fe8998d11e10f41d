/**
 * `npm run bench:instructions`: the cost of a request (the authenticated route, the bearer route)
 * and of a login, counted in machine instructions, not seconds. Each app process runs under
 * valgrind's callgrind, which counts every instruction the process executes (JIT-compiled
 * JavaScript included): a count that does not move with the machine's load, where the CPU time
 * bench/run.ts reads moves by up to 25 % between two runs of the same app on a shared 2-vCPU VM
 * (docs/benchmarks.md).
 *
 * Phases (BENCH_INSTR_PHASES, default all four):
 *
 * `memory`, `redis`: the authenticated route, per session store:
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
 * `bearer`: one express-oidc-rp app (memory store), the same request (`Authorization: Bearer` with
 * a JWT access token, validated once and then cached) to a route behind bearerAuth() and to an
 * unprotected one: bearer / open is bearerAuth()'s whole cost.
 *
 * `logins`: complete logins (login route, provider, callback), BENCH_INSTR_CONCURRENCY at a time,
 * counted in the relying-party process only: ours with its defaults, ours with
 * `fetchUserinfo: 'auto'`, and express-openid-connect, with the memory store / its default cookie
 * session and with connect-redis. The provider runs outside valgrind. The count is user-space
 * work: the kernel's share of a socket write is not in it.
 *
 * Each run: BENCH_INSTR_WARMUP requests (BENCH_INSTR_LOGIN_WARMUP logins) with valgrind not
 * counting yet (it runs the process several times faster so), then per round the counters are zeroed,
 * BENCH_INSTR_REQUESTS requests are sent (autocannon, BENCH_INSTR_CONNECTIONS connections), and the
 * counters dumped; rounds interleave the runs as bench/run.ts does. Every thread of the process
 * is counted (V8 compiles and collects garbage partly on threads of its own).
 *
 * Instructions are not time (cache misses and branch mispredictions cost cycles an instruction
 * count does not see), so this complements bench/run.ts: its ratios are the noise-free view of
 * the same comparison, and its breakdown by V8/libc function says where the difference goes.
 * Counted, a request costs about 50 times its native time: a run of every phase takes about 40
 * minutes (the last: 39).
 *
 * Knobs: BENCH_INSTR_PHASES (memory,redis,bearer,logins), BENCH_INSTR_ROUNDS (3),
 * BENCH_INSTR_REQUESTS (2000), BENCH_INSTR_WARMUP (3000), BENCH_INSTR_CONNECTIONS (10),
 * BENCH_INSTR_LOGINS (200 per round), BENCH_INSTR_LOGIN_WARMUP (2000), BENCH_INSTR_CONCURRENCY (4),
 * BENCH_RESULTS_FILE (also write the tables there, as Markdown). Needs valgrind (Debian:
 * `apt-get install valgrind`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { startFakeOp, type FakeOp } from '../test/support/fake-op.js';
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js';
import { BUCKET_NAMES, bucketsOf, COMPILING, exclusiveCounts, MAJOR_GC } from './callgrind.js';
import {
  bearerJwt,
  closeHarness,
  cookieOf,
  envNumber,
  floorCookie,
  interleavedRounds,
  label,
  login,
  logins,
  median,
  sendAll,
  startTarget,
  type ProviderEnv,
  type Target,
  type TargetSpec,
} from './harness.js';
import { say, table, writeResultsFile } from './report.js';

const run = promisify(execFile);

const PHASES = ['memory', 'redis', 'bearer', 'logins'] as const;
type Phase = (typeof PHASES)[number];
const phases = (process.env.BENCH_INSTR_PHASES ?? PHASES.join(',')).split(',') as Phase[];
for (const p of phases) if (!PHASES.includes(p)) throw new Error(`BENCH_INSTR_PHASES: unknown phase "${p}" (known: ${PHASES.join(', ')})`);
const ROUNDS = envNumber('BENCH_INSTR_ROUNDS', 3);
const REQUESTS = envNumber('BENCH_INSTR_REQUESTS', 2000);
const WARMUP = envNumber('BENCH_INSTR_WARMUP', 3000);
const CONNECTIONS = envNumber('BENCH_INSTR_CONNECTIONS', 10);
const LOGINS = envNumber('BENCH_INSTR_LOGINS', 200);
const LOGIN_WARMUP = envNumber('BENCH_INSTR_LOGIN_WARMUP', 2000);
const LOGIN_CONCURRENCY = envNumber('BENCH_INSTR_CONCURRENCY', 4);
/** Per request: under valgrind an app answers about 50 times slower. */
const VALGRIND_TIMEOUT_S = 120;

/** Where callgrind writes its dumps: one directory per run of this script. */
const dumps = mkdtempSync(join(tmpdir(), 'bench-callgrind-'));

function callgrindSpec(kind: TargetSpec['kind'], store: TargetSpec['store'], oursOptions?: Record<string, unknown>): TargetSpec {
  return {
    kind,
    store,
    ...(oursOptions ? { oursOptions } : {}),
    providerTimeoutS: VALGRIND_TIMEOUT_S,
    wrapper: {
      command: 'valgrind',
      // all-non-file: V8 writes the machine code it runs; valgrind must notice every such write.
      // compress-strings=no: every dump names its functions (compressed, a name is written once
      // per process, in whichever dump first has it).
      // instr-atstart=no: start-up and warm-up run uninstrumented (several times faster), the
      // counting starts when compare() turns it on.
      args: [
        '--tool=callgrind',
        '--smc-check=all-non-file',
        '--dump-instr=no',
        '--compress-strings=no',
        '--instr-atstart=no',
        '-q',
        `--callgrind-out-file=${join(dumps, 'cg.%p')}`,
      ],
    },
  };
}

/**
 * callgrind_control -i on (start counting), -z (zero the counters) or -d (dump them). Valgrind
 * takes the command when the process runs, so while it waits the process gets small IPC messages
 * (no HTTP request: one would be counted in the next measurement, or not, depending on when the
 * command lands).
 */
async function control(target: Target, ...command: ['-i', 'on'] | ['-z'] | ['-d']): Promise<void> {
  let done = false;
  const running = run('callgrind_control', [...command, String(target.child.pid)]).finally(() => {
    done = true;
  });
  while (!done) {
    await target.cpu();
    await sleep(20);
  }
  await running;
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
  /** One unit of work: requests to a path, or complete logins. */
  work: { path: string; headers: Record<string, string> } | 'login';
}

interface Sample {
  /** All instructions, per request or login. */
  perUnit: number;
  /** Without full GCs and compilation: what repeats request after request. */
  steady: number;
  buckets: Map<string, number>;
}

/** The work of one measurement (or of a warm-up: `amount` requests or logins). */
async function perform(r: Run, amount: number, what: string): Promise<void> {
  if (r.work === 'login') {
    await logins(r.target, amount, LOGIN_CONCURRENCY);
    return;
  }
  await sendAll(r.target, r.work.path, r.work.headers, { amount, connections: CONNECTIONS, timeoutS: VALGRIND_TIMEOUT_S, what });
}

async function measure(r: Run, amount: number): Promise<Sample> {
  await control(r.target, '-z');
  await perform(r, amount, r.name);
  await control(r.target, '-d');
  const { total, byFunction } = lastDump(r.target);
  const buckets = new Map([...bucketsOf(byFunction)].map(([k, v]) => [k, v / amount]));
  const lumpy = (buckets.get(MAJOR_GC) ?? 0) + (buckets.get(COMPILING) ?? 0);
  return { perUnit: total / amount, steady: total / amount - lumpy, buckets };
}

const k = (n: number) => `${(n / 1000).toFixed(0)}k`;
const f3 = (n: number) => n.toFixed(3);

/**
 * Warm every run up, measure them in interleaved rounds, and print the table: each run's count,
 * its ratio to each of `bases` (capacity relative to that run, if instructions were all that
 * cost), and where the instructions go.
 */
async function compare(title: string, unit: 'request' | 'login', runs: Run[], bases: string[], amounts: { warmup: number; measured: number }): Promise<void> {
  const byName = new Map(runs.map((r) => [r.name, r]));
  for (const r of runs) await perform(r, amounts.warmup, `${r.name} warm-up`);
  for (const target of new Set(runs.map((r) => r.target))) await control(target, '-i', 'on');
  const samples = await interleavedRounds(
    runs.map((r) => r.name),
    ROUNDS,
    async (name, i) => {
      const sample = await measure(byName.get(name) as Run, amounts.measured);
      console.error(`${title}, round ${i + 1}, ${name}: ${k(sample.perUnit)} instructions/${unit}, ${k(sample.steady)} steady`);
      return sample;
    },
  );
  const s = (name: string) => samples.get(name) as Sample[];
  type Figure = 'perUnit' | 'steady';
  const per = (name: string, f: Figure) => median(s(name).map((x) => x[f]));
  const spread = (name: string, f: Figure) => `${k(Math.min(...s(name).map((x) => x[f])))} to ${k(Math.max(...s(name).map((x) => x[f])))}`;
  /** Median over rounds of base's count / this one's. */
  const ratio = (name: string, base: string, f: Figure) => median(s(name).map((x, j) => (s(base)[j] as Sample)[f] / x[f]));
  say(`\n### ${title}: instructions per ${unit}, ${ROUNDS} rounds of ${amounts.measured} ${unit}s`);
  say();
  say(`Steady: without full GCs and without compiling JavaScript, the count that repeats from one window of`);
  say(`${unit}s to the next. All: with the full GCs and the (re)compilations that fell in the window, which vary`);
  say(`from round to round. base / run: capacity relative to that base, if instructions were all that cost.`);
  say();
  table(
    ['run', 'steady', 'its rounds', ...bases.map((b) => `${b} / run`), 'all', 'its rounds', `${bases[0]} / run (all)`],
    runs.map((r) => [
      r.name,
      k(per(r.name, 'steady')),
      spread(r.name, 'steady'),
      ...bases.map((b) => f3(ratio(r.name, b, 'steady'))),
      k(per(r.name, 'perUnit')),
      spread(r.name, 'perUnit'),
      f3(ratio(r.name, bases[0] as string, 'perUnit')),
    ]),
  );
  say();
  say(`Where they go (instructions per ${unit}, median over rounds, exclusive counts by function):`);
  say();
  const bucket = (name: string, b: string) => median(s(name).map((x) => x.buckets.get(b) ?? 0));
  const first = bases[0] as string;
  const last = (runs.at(-1) as Run).name;
  table(
    ['what', ...runs.map((r) => r.name), `${last} - ${first}`],
    BUCKET_NAMES.map((b) => [b, ...runs.map((r) => k(bucket(r.name, b))), k(bucket(last, b) - bucket(first, b))]),
  );
}

/** The authenticated route: floor, same, least, ours (see the top of this file). */
async function routePhase(store: 'memory' | 'redis', provider: ProviderEnv): Promise<void> {
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
    const api = (cookie: string) => ({ path: '/api', headers: { ...json, cookie } });
    await compare(
      store === 'memory' ? 'MemoryStore, the authenticated route' : 'connect-redis, the authenticated route',
      'request',
      [
        { name: 'floor', target: floor, work: api(floorSession) },
        { name: 'same', target: floor, work: api(cookieOf(same.headers.get('set-cookie'))) },
        { name: 'least', target: floor, work: api(cookieOf(least.headers.get('set-cookie'))) },
        { name: 'ours', target: ours, work: api(oursCookie) },
      ],
      ['floor', 'same'],
      { warmup: WARMUP, measured: REQUESTS },
    );
  } finally {
    await Promise.all([floor.stop(), ours.stop()]);
  }
}

/** bearerAuth() with a cached JWT against the same request to an unprotected route of the same app. */
async function bearerPhase(op: FakeOp, provider: ProviderEnv): Promise<void> {
  const target = await startTarget(callgrindSpec('ours', 'memory'), provider);
  try {
    const jwt = await bearerJwt(op);
    const headers = { authorization: `Bearer ${jwt}`, accept: 'application/json' };
    await compare(
      'The bearer route (a cached JWT) and the same request unprotected',
      'request',
      [
        { name: 'open', target, work: { path: '/open', headers } },
        { name: 'bearer', target, work: { path: '/bearer', headers } },
      ],
      ['open'],
      { warmup: WARMUP, measured: REQUESTS },
    );
  } finally {
    await target.stop();
  }
}

/** Complete logins, counted in the relying party: ours (defaults, fetchUserinfo auto) and express-openid-connect. */
async function loginPhase(provider: ProviderEnv, redis: boolean): Promise<void> {
  const specs: [string, TargetSpec][] = redis
    ? [
        ['eoc-redis', callgrindSpec('eoc', 'redis')],
        ['ours-redis', callgrindSpec('ours', 'redis')],
        ['ours-redis-auto', callgrindSpec('ours', 'redis', { fetchUserinfo: 'auto' })],
      ]
    : [
        ['eoc-cookie', callgrindSpec('eoc', 'cookie')],
        ['ours-memory', callgrindSpec('ours', 'memory')],
        ['ours-memory-auto', callgrindSpec('ours', 'memory', { fetchUserinfo: 'auto' })],
      ];
  const targets = await Promise.all(specs.map(([, spec]) => startTarget(spec, provider)));
  try {
    await compare(
      redis ? 'Complete logins, connect-redis' : 'Complete logins, MemoryStore (express-openid-connect: its cookie session)',
      'login',
      specs.map(([name], i) => ({ name, target: targets[i] as Target, work: 'login' })),
      [specs[0]?.[0] as string],
      { warmup: LOGIN_WARMUP, measured: LOGINS },
    );
  } finally {
    await Promise.all(targets.map((t) => t.stop()));
  }
}

async function main(): Promise<void> {
  await run('valgrind', ['--version']).catch(() => {
    throw new Error('bench:instructions needs valgrind (Debian: apt-get install valgrind)');
  });
  const op = await startFakeOp({ behaviour: { accessTokenTtl: 3600 } });
  let redis: RedisServer | undefined;
  try {
    if (phases.includes('redis') || phases.includes('logins')) redis = await startRedisServer();
    const provider: ProviderEnv = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, redisUrl: redis?.url };
    say(`## Instructions (callgrind), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}`);
    for (const phase of phases) {
      if (phase === 'memory' || phase === 'redis') await routePhase(phase, provider);
      else if (phase === 'bearer') await bearerPhase(op, provider);
      else {
        await loginPhase(provider, false);
        await loginPhase(provider, true);
      }
    }
    writeResultsFile();
  } finally {
    await op.close();
    await redis?.stop();
    await closeHarness();
    rmSync(dumps, { recursive: true, force: true });
  }
}

await main();
