/**
 * `npm run bench`: overhead of express-oidc-rp on an authenticated request, and refresh grants
 * under concurrency. Everything runs on 127.0.0.1 and stops by itself.
 *
 * Throughput is compared side by side in one run (alternating rounds, median of the per-round
 * ratios), because absolute numbers on a shared 2-core machine mean little.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Pool } from 'undici';
import { startFakeOp, type FakeOp } from '../test/support/fake-op.js';
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

const cookieOf = (setCookie: string | null): string => (setCookie ?? '').split(';')[0] ?? '';

async function startTarget(env: Record<string, string>): Promise<{ child: ChildProcess; bare: string; oidc: string }> {
  const child = fork(new URL('./app-server.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let out = '';
  const ready = new Promise<[string, string]>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/READY (\d+) (\d+)/);
      if (m) resolve([m[1] as string, m[2] as string]);
    });
    child.once('exit', (code) => reject(new Error(`bench target exited with ${code}`)));
  });
  const [barePort, oidcPort] = await ready;
  return { child, bare: `http://127.0.0.1:${barePort}`, oidc: `http://127.0.0.1:${oidcPort}` };
}

/** A real login through the fake provider; returns the session cookie. */
async function login(rpUrl: string): Promise<string> {
  const start = await fetch(`${rpUrl}/oidc/authenticate`, { redirect: 'manual' });
  const preCookie = cookieOf(start.headers.get('set-cookie'));
  const authorize = await fetch(start.headers.get('location') as string, { redirect: 'manual' });
  const callback = new URL(authorize.headers.get('location') as string);
  const done = await fetch(`${rpUrl}${callback.pathname}${callback.search}`, { redirect: 'manual', headers: { cookie: preCookie } });
  const cookie = cookieOf(done.headers.get('set-cookie'));
  if (!cookie) throw new Error(`login failed: ${done.status} ${done.headers.get('location')}`);
  return cookie;
}

/** Requests per second for `ms` with `connections` concurrent loops; every answer must be 200. */
async function load(origin: string, path: string, cookie: string, ms: number, connections: number): Promise<number> {
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const deadline = Date.now() + ms;
  let done = 0;
  let bad = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < deadline) {
        const res = await pool.request({ path, method: 'GET', headers: { cookie, accept: 'application/json' } });
        await res.body.dump();
        if (res.statusCode === 200) done++;
        else bad++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  if (bad > 0) throw new Error(`${bad} requests to ${origin}${path} did not answer 200`);
  return done / seconds;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function throughput(op: FakeOp, store: 'memory' | 'redis', redisUrl?: string) {
  const target = await startTarget({ ISSUER: op.issuer, CLIENT_ID: op.clientId, CLIENT_SECRET: op.clientSecret, STORE: store, REDIS_URL: redisUrl ?? '' });
  try {
    const bareCookie = cookieOf((await fetch(`${target.bare}/seed`)).headers.get('set-cookie'));
    const oidcCookie = await login(target.oidc);
    const grantsBefore = op.grants('refresh_token');
    // Warm up both (JIT, connection pools).
    await load(target.bare, '/api', bareCookie, 1000, CONNECTIONS);
    await load(target.oidc, '/api', oidcCookie, 1000, CONNECTIONS);
    const bare: number[] = [];
    const oidc: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which goes first, so drift in machine load hits both alike.
      const runBare = () => load(target.bare, '/api', bareCookie, ROUND_MS, CONNECTIONS);
      const runOidc = () => load(target.oidc, '/api', oidcCookie, ROUND_MS, CONNECTIONS);
      let bareRps: number;
      let oidcRps: number;
      if (i % 2 === 0) {
        bareRps = await runBare();
        oidcRps = await runOidc();
      } else {
        oidcRps = await runOidc();
        bareRps = await runBare();
      }
      bare.push(bareRps);
      oidc.push(oidcRps);
      ratios.push(oidcRps / bareRps);
    }
    // The valid-token path must never talk to the provider.
    const providerCalls = op.grants('refresh_token') - grantsBefore;
    return { store, bare: median(bare), oidc: median(oidc), ratio: median(ratios), providerCalls };
  } finally {
    target.child.kill('SIGTERM');
    await once(target.child, 'exit');
  }
}

async function main() {
  const op = await startFakeOp({ behaviour: { accessTokenTtl: 3600 } });
  let redis: RedisServer | undefined;
  try {
    console.log(`express-oidc-rp bench: ${ROUNDS} alternating rounds of ${ROUND_MS} ms, ${CONNECTIONS} connections, node ${process.version}`);
    const results = [await throughput(op, 'memory')];
    redis = await startRedisServer();
    results.push(await throughput(op, 'redis', redis.url));
    console.log('\nAuthenticated GET through sessionRefresh (valid token) vs bare express-session');
    console.log('store   | bare req/s | oidc req/s | ratio (target >= 0.95) | provider calls');
    for (const r of results) {
      console.log(`${r.store.padEnd(7)} | ${r.bare.toFixed(0).padStart(10)} | ${r.oidc.toFixed(0).padStart(10)} | ${r.ratio.toFixed(3).padStart(22)} | ${r.providerCalls}`);
    }
  } finally {
    await redis?.stop();
    await op.close();
  }
}

await main();
