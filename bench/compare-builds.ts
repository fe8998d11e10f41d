/**
 * Two builds of the library side by side, in the same interleaved rounds: the authenticated route
 * (server CPU per request, against the floor) and complete logins (RP CPU per login), memory store.
 * This is how a change is measured against the code before it (docs/benchmarks.md, "Two versions
 * in one run").
 *
 *   git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci && npm run build)
 *   npm run build && BENCH_BASE_DIST=/tmp/base/dist/index.js node --import tsx bench/compare-builds.ts
 *
 * Env: BENCH_BASE_DIST (required: the other build's index.js), BENCH_ROUNDS (7), BENCH_ROUND_S (3),
 * BENCH_LOGIN_S (3), BENCH_CONNECTIONS (50), BENCH_LOGIN_CONCURRENCY (10), BENCH_OURS_OPTIONS (JSON,
 * more createOidcAuth options for both builds). Exit code non-zero only when the benchmark fails.
 */
import { startFakeOp } from '../test/support/fake-op.js';
import { closeHarness, envNumber, floorCookie, hammer, rotated, login, loginsFor, median, startTarget, type Target, type TargetSpec } from './harness.js';

const ROUNDS = envNumber('BENCH_ROUNDS', 7);
const ROUND_S = envNumber('BENCH_ROUND_S', 3);
const LOGIN_S = envNumber('BENCH_LOGIN_S', 3);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 50);
const LOGIN_CONCURRENCY = envNumber('BENCH_LOGIN_CONCURRENCY', 10);
const BASE = process.env.BENCH_BASE_DIST;
if (!BASE) {
  console.error('BENCH_BASE_DIST: the path of the other build (its dist/index.js) is required');
  process.exit(2);
}
const oursOptions = JSON.parse(process.env.BENCH_OURS_OPTIONS || '{}') as Record<string, unknown>;

const op = await startFakeOp({ behaviour: { accessTokenTtl: 3600 } });
const provider = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret };
const specs: Record<string, TargetSpec> = {
  floor: { kind: 'floor', store: 'memory' },
  base: { kind: 'ours', store: 'memory', dist: BASE, oursOptions },
  this: { kind: 'ours', store: 'memory', oursOptions },
};
const targets = new Map<string, Target>();
try {
  for (const [name, spec] of Object.entries(specs)) targets.set(name, await startTarget(spec, provider));
  const t = (name: string) => targets.get(name) as Target;
  const json = { accept: 'application/json' };
  const cookies: Record<string, string> = {
    floor: await floorCookie(t('floor')),
    base: await login(t('base')),
    this: await login(t('this')),
  };
  const names = Object.keys(specs);
  const route = new Map<string, number[]>(names.map((n) => [n, []]));
  const loginCpu = new Map<string, number[]>([
    ['base', []],
    ['this', []],
  ]);
  const loginRate = new Map<string, number[]>([
    ['base', []],
    ['this', []],
  ]);
  for (const n of names) await hammer(t(n), '/api', { ...json, cookie: cookies[n] as string }, { seconds: ROUND_S, connections: CONNECTIONS });
  for (let round = 0; round < ROUNDS; round++) {
    await rotated(names, round, async (n) => {
      route
        .get(n)
        ?.push((await hammer(t(n), '/api', { ...json, cookie: cookies[n] as string }, { seconds: ROUND_S, connections: CONNECTIONS, warmup: 500 })).cpuUs);
    });
    for (const n of round % 2 === 0 ? ['base', 'this'] : ['this', 'base']) {
      const s = await loginsFor(t(n), LOGIN_S, LOGIN_CONCURRENCY);
      loginCpu.get(n)?.push(s.cpuMs);
      loginRate.get(n)?.push(s.rate);
    }
  }
  // Medians of per-round ratios: each round's machine state cancels out.
  const ratio = (a: number[], b: number[]) => median(a.map((x, i) => x / (b[i] as number)));
  const r = (n: string) => route.get(n) as number[];
  console.log(`base: ${BASE}; ${ROUNDS} rounds; options ${JSON.stringify(oursOptions)}`);
  console.log('| build | route CPU µs/req | capacity vs floor | logins/s (10 at a time) | RP CPU ms/login | RP CPU vs base |');
  console.log('|---|---|---|---|---|---|');
  console.log(`| floor | ${median(r('floor')).toFixed(0)} | 1.00 | - | - | - |`);
  for (const n of ['base', 'this']) {
    const cpu = loginCpu.get(n) as number[];
    console.log(
      `| ${n} | ${median(r(n)).toFixed(0)} | ${ratio(r('floor'), r(n)).toFixed(3)} | ${median(loginRate.get(n) as number[]).toFixed(0)} | ${median(cpu).toFixed(2)} | ${ratio(cpu, loginCpu.get('base') as number[]).toFixed(3)} |`,
    );
  }
  console.log(`this / base, route capacity (median of per-round ratios): ${ratio(r('base'), r('this')).toFixed(3)}`);
} finally {
  await Promise.all([...targets.values()].map((x) => x.stop()));
  await closeHarness();
  await op.close();
}
