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
import { startRpProcess, type RpProcess } from '../test/support/rp-process.js';
import { createClient } from 'redis';
import { stateMemory } from './state-memory.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

const cookieOf = (setCookie: string | null): string => (setCookie ?? '').split(';')[0] ?? '';

/** CPU microseconds the target process has used so far (user + system). */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (msg: unknown) => {
      if (typeof msg === 'object' && msg !== null && 'cpu' in msg) {
        child.off('message', onMessage);
        resolve((msg as { cpu: number }).cpu);
      }
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

interface Sample {
  rps: number;
  /** Target CPU time per request, microseconds. */
  cpuUs: number;
}

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
function load(origin: string, path: string, cookie: string, ms: number, connections: number): Promise<number> {
  return loadWith(origin, path, { cookie, accept: 'application/json' }, ms, connections);
}

async function loadWith(origin: string, path: string, headers: Record<string, string>, ms: number, connections: number): Promise<number> {
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const deadline = Date.now() + ms;
  let done = 0;
  let bad = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < deadline) {
        const res = await pool.request({ path, method: 'GET', headers });
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

async function measured(child: ChildProcess, origin: string, path: string, cookie: string): Promise<Sample> {
  const cpu0 = await cpuOf(child);
  const started = performance.now();
  const rps = await load(origin, path, cookie, ROUND_MS, CONNECTIONS);
  const requests = (rps * (performance.now() - started)) / 1000;
  const cpu1 = await cpuOf(child);
  return { rps, cpuUs: (cpu1 - cpu0) / requests };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function throughput(op: FakeOp, store: 'memory' | 'redis', redisUrl?: string) {
  const target = await startTarget({ ISSUER: op.issuer, CLIENT_ID: op.clientId, CLIENT_SECRET: op.clientSecret, STORE: store, REDIS_URL: redisUrl ?? '' });
  try {
    const oidcCookie = await login(target.oidc);
    const bareCookie = cookieOf((await fetch(`${target.bare}/seed`)).headers.get('set-cookie'));
    // A bare session carrying exactly what the library keeps in the session.
    const payload = await (await fetch(`${target.oidc}/__session`, { headers: { cookie: oidcCookie } })).text();
    const sameCookie = cookieOf(
      (await fetch(`${target.bare}/seed-same`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload })).headers.get('set-cookie'),
    );
    const grantsBefore = op.grants('refresh_token');
    const runs = {
      bare: () => measured(target.child, target.bare, '/api', bareCookie),
      same: () => measured(target.child, target.bare, '/api', sameCookie),
      oidc: () => measured(target.child, target.oidc, '/api', oidcCookie),
    };
    // Warm up all three (JIT, connection pools).
    for (const run of Object.values(runs)) await run();

    const samples: Record<keyof typeof runs, Sample[]> = { bare: [], same: [], oidc: [] };
    for (let i = 0; i < ROUNDS; i++) {
      // Rotate the order each round, so drift in machine load hits all alike.
      const order = (['bare', 'same', 'oidc'] as const).map((_, j, all) => all[(i + j) % all.length] as keyof typeof runs);
      for (const name of order) samples[name].push(await runs[name]());
    }
    const rps = (name: keyof typeof runs) => median(samples[name].map((x) => x.rps));
    const cpu = (name: keyof typeof runs) => median(samples[name].map((x) => x.cpuUs));
    // The valid-token path must never talk to the provider.
    const providerCalls = op.grants('refresh_token') - grantsBefore;
    return {
      store,
      sessionBytes: payload.length,
      bare: rps('bare'),
      same: rps('same'),
      oidc: rps('oidc'),
      cpuBare: cpu('bare'),
      cpuSame: cpu('same'),
      cpuOidc: cpu('oidc'),
      providerCalls,
    };
  } finally {
    target.child.kill('SIGTERM');
    await once(target.child, 'exit');
  }
}

/** A bearer-protected route with a cached valid JWT access token against an unprotected one. */
async function bearerThroughput(op: FakeOp) {
  const target = await startTarget({ ISSUER: op.issuer, CLIENT_ID: op.clientId, CLIENT_SECRET: op.clientSecret, STORE: 'memory', REDIS_URL: '' });
  const jwksBefore = op.count('/jwks');
  try {
    const now = Math.floor(Date.now() / 1000);
    const jwt = await op.signIdToken(
      { iss: op.issuer, sub: 'user-1', aud: op.clientId, client_id: op.clientId, iat: now, exp: now + 3600, scope: 'openid' },
      { typ: 'at+jwt' },
    );
    const measure = async (path: string) => {
      const cpu0 = await cpuOf(target.child);
      const started = performance.now();
      const rps = await loadWith(target.oidc, path, { authorization: `Bearer ${jwt}`, accept: 'application/json' }, ROUND_MS, CONNECTIONS);
      const requests = (rps * (performance.now() - started)) / 1000;
      return { rps, cpuUs: ((await cpuOf(target.child)) - cpu0) / requests };
    };
    await measure('/open');
    await measure('/bearer');
    const open: Sample[] = [];
    const bearer: Sample[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2 === 0) {
        open.push(await measure('/open'));
        bearer.push(await measure('/bearer'));
      } else {
        bearer.push(await measure('/bearer'));
        open.push(await measure('/open'));
      }
    }
    // The token is validated once; every later request is a cache hit.
    const jwksFetches = op.count('/jwks') - jwksBefore;
    return {
      open: median(open.map((x) => x.rps)),
      bearer: median(bearer.map((x) => x.rps)),
      cpuOpen: median(open.map((x) => x.cpuUs)),
      cpuBearer: median(bearer.map((x) => x.cpuUs)),
      jwksFetches,
    };
  } finally {
    target.child.kill('SIGTERM');
    await once(target.child, 'exit');
  }
}

/**
 * Refresh grants the provider sees when `n` concurrent requests of one session arrive with an
 * expired access token, spread over `processes` app processes sharing one Redis (sessions in
 * connect-redis, the library given the same Redis). Target: 1.
 */
async function grantsUnderConcurrency(op: FakeOp, redisUrl: string, processes: 1 | 2, n: number) {
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  const common = { ISSUER: op.issuer, CLIENT_ID: op.clientId, CLIENT_SECRET: op.clientSecret, REDIS_URL: redisUrl };
  const a: RpProcess = await startRpProcess(common);
  const apps = [a];
  try {
    if (processes === 2) apps.push(await startRpProcess({ ...common, BASE_URL: a.url }));
    const cookie = await login(a.url);
    // express-session saves a regenerated session a second time as the callback response ends,
    // possibly after the browser already has the redirect: let that write land before patching.
    await (await fetch(`${a.url}/me`, { headers: { cookie, accept: 'application/json' } })).arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const sid = decodeURIComponent(cookie.split('=')[1] as string)
      .replace(/^s:/, '')
      .split('.')[0] as string;
    const sessKey = `sess:${sid}`;
    const sess = JSON.parse((await redis.get(sessKey)) as string) as { oidc: { auth: { loginId: string; accessTokenExpiresAt: number } } };
    const tokensKey = `oidc:tokens:{${sess.oidc.auth.loginId}}`;
    // Make the access token due in the session copy and in the shared token set.
    const past = Math.floor(Date.now() / 1000) - 60;
    for (const key of [sessKey, tokensKey]) {
      const value = JSON.parse((await redis.get(key)) as string) as Record<string, unknown> & {
        oidc?: { auth: { accessTokenExpiresAt: number } };
        accessTokenExpiresAt?: number;
      };
      if (value.oidc) value.oidc.auth.accessTokenExpiresAt = past;
      else value.accessTokenExpiresAt = past;
      await redis.sendCommand(['SET', key, JSON.stringify(value), 'KEEPTTL']);
    }
    // Precondition of the measurement: both copies now say "expired".
    const check = [
      JSON.parse((await redis.get(sessKey)) as string).oidc.auth.accessTokenExpiresAt,
      JSON.parse((await redis.get(tokensKey)) as string).accessTokenExpiresAt,
    ];
    if (!check.every((t) => t === past)) throw new Error(`could not expire the tokens for the measurement: ${JSON.stringify(check)}`);
    const before = op.grants('refresh_token');
    const started = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const res = await fetch(`${(apps[i % apps.length] as RpProcess).url}/me`, { headers: { cookie, accept: 'application/json' } });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const ms = performance.now() - started;
    return { processes, requests: n, ok: statuses.filter((x) => x === 200).length, grants: op.grants('refresh_token') - before, ms };
  } finally {
    await Promise.all(apps.map((p) => p.stop()));
    await redis.quit();
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
    console.log('\nAuthenticated GET through sessionRefresh + requireAuth (valid token), median of rounds');
    console.log('  bare: express-session holding { user: { sub, email } }');
    console.log('  same: express-session holding the same payload the library keeps in the session');
    console.log('  capacity = requests/s one core sustains = 1 / server CPU per request (the wall-clock req/s');
    console.log('  share the 2 cores with the load generator, so they are shown but not used for the ratio)');
    console.log(
      'store  | session bytes | CPU us/req bare / same / oidc | capacity oidc/same (target >= 0.95) | oidc/bare | wall req/s bare / same / oidc | provider calls',
    );
    for (const r of results) {
      const cpus = `${r.cpuBare.toFixed(0)} / ${r.cpuSame.toFixed(0)} / ${r.cpuOidc.toFixed(0)}`;
      const walls = `${r.bare.toFixed(0)} / ${r.same.toFixed(0)} / ${r.oidc.toFixed(0)}`;
      console.log(
        `${r.store.padEnd(6)} | ${String(r.sessionBytes).padStart(13)} | ${cpus.padStart(29)} | ${(r.cpuSame / r.cpuOidc).toFixed(3).padStart(35)} | ${(r.cpuBare / r.cpuOidc).toFixed(3).padStart(9)} | ${walls.padStart(29)} | ${r.providerCalls}`,
      );
    }
    const b = await bearerThroughput(op);
    console.log('\nAPI route with a cached valid JWT access token (bearerAuth) vs the same route unprotected');
    console.log('CPU us/req open / bearer | capacity bearer/open (target >= 0.9) | wall req/s open / bearer | JWKS fetches');
    console.log(
      `${`${b.cpuOpen.toFixed(0)} / ${b.cpuBearer.toFixed(0)}`.padStart(24)} | ${(b.cpuOpen / b.cpuBearer).toFixed(3).padStart(37)} | ${`${b.open.toFixed(0)} / ${b.bearer.toFixed(0)}`.padStart(24)} | ${b.jwksFetches}`,
    );
    const grants = [await grantsUnderConcurrency(op, redis.url, 1, 100), await grantsUnderConcurrency(op, redis.url, 2, 100)];
    console.log('\n100 concurrent requests of one session with an expired access token');
    console.log('processes | answered 200 | refresh grants (target 1) | wall time');
    for (const g of grants) {
      console.log(`${String(g.processes).padStart(9)} | ${`${g.ok}/${g.requests}`.padStart(12)} | ${String(g.grants).padStart(25)} | ${g.ms.toFixed(0)} ms`);
    }
    const m = await stateMemory(redis.url);
    console.log('\nState kept outside the session for 10,000 logins (1,000 users x 10): a token set and two index members each');
    console.log('token set JSON bytes | heap bytes/login (memory store) | after all ended | Redis used_memory bytes/login | after all ended');
    console.log(
      `${String(m.tokenSetBytes).padStart(20)} | ${m.heapPerLogin.toFixed(0).padStart(32)} | ${m.heapPerEndedLogin.toFixed(0).padStart(15)} | ${m.redisPerLogin.toFixed(0).padStart(29)} | ${m.redisPerEndedLogin.toFixed(0).padStart(15)}`,
    );
  } finally {
    await redis?.stop();
    await op.close();
  }
}

await main();
