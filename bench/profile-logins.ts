/**
 * A CPU profile of the relying party during complete logins, and where each millisecond goes.
 *
 *   npm run build && node --import tsx bench/profile-logins.ts
 *
 * Starts the local provider and one target (bench/app-server.ts), warms it up, then profiles
 * BENCH_PROFILE_LOGINS logins (1,000), BENCH_LOGIN_CONCURRENCY (10) at a time, with the V8
 * sampling profiler inside the target process (the inspector's Profiler, what `node --cpu-prof`
 * uses, started after the warm-up so start-up and JIT warm-up stay out). Prints the summary
 * (bench/cpuprofile-summary.ts) and the process CPU per login; BENCH_PROFILE_OUT writes the summary
 * to a file, BENCH_PROFILE_KEEP keeps the .cpuprofile at that path.
 * BENCH_PROFILE_TARGET: ours (default) | eoc; BENCH_PROFILE_STORE: memory (cookie for eoc) | redis;
 * BENCH_OURS_OPTIONS: more createOidcAuth options, as JSON.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { startFakeOp } from '../test/support/fake-op.js';
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js';
import { closeHarness, logins, startTarget, type StoreKind, type TargetKind } from './harness.js';
import { formatSummary, summarize, type CpuProfile } from './cpuprofile-summary.js';

const LOGINS = Number(process.env.BENCH_PROFILE_LOGINS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? 10);
const kind = (process.env.BENCH_PROFILE_TARGET ?? 'ours') as TargetKind;
const store = (process.env.BENCH_PROFILE_STORE ?? (kind === 'eoc' ? 'cookie' : 'memory')) as StoreKind;
const oursOptions = JSON.parse(process.env.BENCH_OURS_OPTIONS ?? '{}') as Record<string, unknown>;

const op = await startFakeOp({ behaviour: { accessTokenTtl: 3600 } });
let redis: RedisServer | undefined;
const dir = mkdtempSync(join(tmpdir(), 'login-profile-'));
try {
  if (store === 'redis') redis = await startRedisServer();
  const target = await startTarget(
    { kind, store, oursOptions },
    { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, redisUrl: redis?.url },
  );
  try {
    await logins(target, 300, CONCURRENCY); // warm-up: JIT, connection pools, discovery, JWKS
    op.requests.length = 0;
    const file = join(dir, 'logins.cpuprofile');
    await target.ask('profile-start', { intervalUs: 100 });
    const cpu0 = await target.cpu();
    const started = performance.now();
    await logins(target, LOGINS, CONCURRENCY);
    const seconds = (performance.now() - started) / 1000;
    const cpu1 = await target.cpu();
    await target.ask('profile-stop', { path: file });
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const cpuMs = (cpu1 - cpu0) / 1000 / LOGINS;
    const header = [
      `${kind}-${store}${Object.keys(oursOptions).length ? ` ${JSON.stringify(oursOptions)}` : ''}: ${LOGINS} logins, ${CONCURRENCY} at a time, ` +
        `${(LOGINS / seconds).toFixed(0)} logins/s while profiled (the profiler slows it), node ${process.version}, load average ${loadavg()
          .map((x) => x.toFixed(1))
          .join(' ')}.`,
      `Process CPU (user + system, all threads) per login: ${cpuMs.toFixed(2)} ms, profiler included.`,
      '',
    ].join('\n');
    const text = `${header}${formatSummary(summarize(profile), LOGINS, 'login', cpuMs)}\n`;
    console.log(text);
    if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, text);
    if (process.env.BENCH_PROFILE_KEEP) copyFileSync(file, process.env.BENCH_PROFILE_KEEP);
  } finally {
    await target.stop();
  }
} finally {
  await closeHarness();
  await redis?.stop();
  await op.close();
  rmSync(dir, { recursive: true, force: true });
}
