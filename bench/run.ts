/**
 * `npm run bench`: express-oidc-rp against the floor (bare express + express-session) and against
 * express-openid-connect, in one run, on one machine, with the same local provider
 * (test/support/fake-op.ts). Everything runs on 127.0.0.1 and stops by itself.
 *
 * Ratios, never absolute times, are the result: every app is measured in the same rounds, the
 * order rotating each round so drift in machine load hits all alike, and each figure is the median
 * of its rounds (a ratio: the median of the per-round ratios).
 *
 * Exits non-zero only when the benchmark itself fails (a login that does not succeed, a request that
 * is not answered 2xx), never because of a number.
 *
 * Knobs (environment): BENCH_PHASES (route,bearer,logins,refresh,memory,state), BENCH_ROUNDS (10,
 * route and bearer), BENCH_ROUND_S (2), BENCH_WARMUP_REQUESTS (500, before each route run),
 * BENCH_LOGIN_ROUNDS (5), BENCH_CONNECTIONS (50), BENCH_LOGIN_S (3), BENCH_LOGIN_CONCURRENCY (10),
 * BENCH_VERBOSE (each route run's figures, on stderr),
 * BENCH_MEMORY_LOGINS (10000), BENCH_MEMORY_REQUESTS (100000), BENCH_RESULTS_FILE (also write the
 * tables there, as Markdown).
 */
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import autocannon from 'autocannon';
import { startFakeOp, type FakeOp } from '../test/support/fake-op.js';
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js';
import { startRpProcess, type RpProcess } from '../test/support/rp-process.js';
import { stateMemory } from './state-memory.js';
import {
  bearerJwt,
  closeHarness,
  cookieOf,
  envNumber,
  floorCookie,
  interleavedRounds,
  rotated,
  hammer,
  label,
  login,
  logins,
  loginsFor,
  median,
  startTarget,
  type LoadSample,
  type LoginSample,
  type ProviderEnv,
  type Target,
  type TargetSpec,
} from './harness.js';
import { say, table, writeResultsFile } from './report.js';

// Many short interleaved rounds: this kind of machine has bursts of noise lasting seconds, which a
// median of many paired samples rides out better than a few long ones.
const ROUNDS = envNumber('BENCH_ROUNDS', 10);
const ROUND_S = envNumber('BENCH_ROUND_S', 2);
const LOGIN_ROUNDS = envNumber('BENCH_LOGIN_ROUNDS', 5);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 50);
const LOGIN_S = envNumber('BENCH_LOGIN_S', 3);
const LOGIN_CONCURRENCY = envNumber('BENCH_LOGIN_CONCURRENCY', 10);
const MEMORY_LOGINS = envNumber('BENCH_MEMORY_LOGINS', 10_000);
const MEMORY_REQUESTS = envNumber('BENCH_MEMORY_REQUESTS', 100_000);
const PHASES = new Set((process.env.BENCH_PHASES ?? 'route,bearer,logins,refresh,memory,state').split(','));

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} kB`;
const group = (n: number) => Math.round(n).toLocaleString('en-US');

/** Requests sent, unmeasured, just before each measured route run: every run starts on a warm process. */
const WARMUP_REQUESTS = envNumber('BENCH_WARMUP_REQUESTS', 500);

// --- 1. an authenticated route -------------------------------------------------------------------

interface RouteRun {
  name: string;
  target: Target;
  path: string;
  headers: Record<string, string>;
  /** The run it is compared with (same session store). */
  floor: string;
}

async function routePhase(op: FakeOp, provider: ProviderEnv, extraTargets: Map<string, Target>): Promise<void> {
  const specs: TargetSpec[] = [
    { kind: 'floor', store: 'memory' },
    { kind: 'ours', store: 'memory' },
    { kind: 'eoc', store: 'cookie' },
    { kind: 'floor', store: 'redis' },
    { kind: 'ours', store: 'redis' },
    { kind: 'eoc', store: 'redis' },
  ];
  const targets = new Map<string, Target>();
  for (const spec of specs) targets.set(label(spec), await startTarget(spec, provider));
  const t = (name: string) => targets.get(name) as Target;
  const json = { accept: 'application/json' };
  const runs: RouteRun[] = [];
  for (const store of ['memory', 'redis'] as const) {
    const floor = t(`floor-${store}`);
    const ours = t(`ours-${store}`);
    const oursCookie = await login(ours);
    // The floor: a session holding a small user object.
    const floorSession = await floorCookie(floor);
    // The same floor app, its session holding exactly what the library keeps in a session.
    const payload = await (await fetch(`${ours.origin}/__session`, { headers: { cookie: oursCookie } })).text();
    const sameRes = await fetch(`${floor.origin}/seed-same`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
    const sameCookie = cookieOf(sameRes.headers.get('set-cookie'));
    const eoc = t(store === 'memory' ? 'eoc-cookie' : 'eoc-redis');
    const eocCookie = await login(eoc);
    runs.push(
      { name: `floor-${store}`, target: floor, path: '/api', headers: { ...json, cookie: floorSession }, floor: `floor-${store}` },
      { name: `same-${store}`, target: floor, path: '/api', headers: { ...json, cookie: sameCookie }, floor: `floor-${store}` },
      { name: `ours-${store}`, target: ours, path: '/api', headers: { ...json, cookie: oursCookie }, floor: `floor-${store}` },
      { name: label(eoc.spec), target: eoc, path: '/api', headers: { ...json, cookie: eocCookie }, floor: `floor-${store}` },
    );
  }
  const byName = new Map(runs.map((r) => [r.name, r]));
  const tokenCalls = op.count('/token');
  const measure = (r: RouteRun) => hammer(r.target, r.path, r.headers, { seconds: ROUND_S, connections: CONNECTIONS, warmup: WARMUP_REQUESTS });
  for (const r of runs) await measure(r); // warm-up: JIT, connection pools
  const samples = await interleavedRounds(
    runs.map((r) => r.name),
    ROUNDS,
    async (name, i) => {
      const sample = await measure(byName.get(name) as RouteRun);
      if (process.env.BENCH_VERBOSE) console.error(`round ${i + 1} ${name}: ${sample.cpuUs.toFixed(0)} µs/req, ${sample.rps.toFixed(0)} req/s`);
      return sample;
    },
  );
  const providerCalls = op.count('/token') - tokenCalls;
  const s = (name: string) => samples.get(name) as LoadSample[];
  /** Median over rounds of (floor's CPU per request / this one's): capacity relative to the floor. */
  const capacityRatio = (name: string, base: string) => median(s(name).map((x, i) => (s(base)[i] as LoadSample).cpuUs / x.cpuUs));
  const rpsRatio = (name: string, base: string) => median(s(name).map((x, i) => x.rps / (s(base)[i] as LoadSample).rps));

  say(`\n### Authenticated route (GET /api, valid session), ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_S} s`);
  say();
  say('capacity = requests/s one core of the server sustains = 1 / its CPU per request, relative to the floor');
  say('with the same session store (the cookie session against the memory-store floor). Wall req/s share the');
  say("2 cores with the load generator (autocannon, same machine): shown, with the ratio of the same round's floor.");
  say();
  const rows = runs.map((r) => [
    r.name,
    f0(median(s(r.name).map((x) => x.cpuUs))),
    f2(capacityRatio(r.name, r.floor)),
    f0(median(s(r.name).map((x) => x.rps))),
    f2(rpsRatio(r.name, r.floor)),
    f1(median(s(r.name).map((x) => x.p50))),
    f1(median(s(r.name).map((x) => x.p99))),
  ]);
  table(['app-store', 'server CPU µs/req', 'capacity vs floor', 'wall req/s', 'req/s vs floor', 'p50 ms', 'p99 ms'], rows);
  say();
  say(
    `ours / express-openid-connect, capacity: memory store vs its default cookie session ${f2(capacityRatio('eoc-cookie', 'ours-memory') ** -1)}x, ` +
      `Redis vs Redis ${f2(capacityRatio('eoc-redis', 'ours-redis') ** -1)}x. Token endpoint calls during the phase: ${providerCalls} (target 0).`,
  );
  say(
    `ours / same (the library's middleware alone: the same session payload, without oidc.router and requireAuth()), capacity: ` +
      `memory ${f2(capacityRatio('ours-memory', 'same-memory'))}, Redis ${f2(capacityRatio('ours-redis', 'same-redis'))}.`,
  );
  say('floor: express-session holding { user: { sub, email } }; same: the floor app, its session holding what ours keeps.');
  extraTargets.set('ours-memory', t('ours-memory'));
  for (const [name, target] of targets) if (name !== 'ours-memory') await target.stop();
}

// --- 2. a bearer route ---------------------------------------------------------------------------

async function bearerPhase(op: FakeOp, provider: ProviderEnv, existing: Target | undefined): Promise<void> {
  const target = existing ?? (await startTarget({ kind: 'ours', store: 'memory' }, provider));
  const jwt = await bearerJwt(op);
  const jwksBefore = op.count('/jwks');
  const headers = { authorization: `Bearer ${jwt}`, accept: 'application/json' };
  const measure = (path: string) => hammer(target, path, headers, { seconds: ROUND_S, connections: CONNECTIONS, warmup: WARMUP_REQUESTS });
  await measure('/open');
  await measure('/bearer');
  const samples: Record<string, LoadSample[]> = { '/open': [], '/bearer': [] };
  for (let i = 0; i < ROUNDS; i++) {
    await rotated(['/open', '/bearer'] as const, i, async (path) => {
      samples[path]?.push(await measure(path));
    });
  }
  const open = samples['/open'] as LoadSample[];
  const bearer = samples['/bearer'] as LoadSample[];
  say(`\n### Bearer route with a cached valid JWT (bearerAuth()) vs the same route unprotected, ${CONNECTIONS} connections`);
  say();
  table(
    ['route', 'server CPU µs/req', 'capacity vs open', 'wall req/s', 'p50 ms', 'p99 ms'],
    [
      [
        'open',
        f0(median(open.map((x) => x.cpuUs))),
        '1.00',
        f0(median(open.map((x) => x.rps))),
        f1(median(open.map((x) => x.p50))),
        f1(median(open.map((x) => x.p99))),
      ],
      [
        'bearer',
        f0(median(bearer.map((x) => x.cpuUs))),
        f2(median(bearer.map((x, i) => (open[i] as LoadSample).cpuUs / x.cpuUs))),
        f0(median(bearer.map((x) => x.rps))),
        f1(median(bearer.map((x) => x.p50))),
        f1(median(bearer.map((x) => x.p99))),
      ],
    ],
  );
  say();
  say(`JWKS fetches during the phase: ${op.count('/jwks') - jwksBefore} (the token is validated once, then a cache hit).`);
  await target.stop();
}

// --- 3. logins -----------------------------------------------------------------------------------

async function loginPhase(op: FakeOp, provider: ProviderEnv): Promise<void> {
  const variants: Array<{ name: string; spec: TargetSpec }> = [
    { name: 'ours-memory', spec: { kind: 'ours', store: 'memory' } },
    { name: 'ours-memory, fetchUserinfo: auto', spec: { kind: 'ours', store: 'memory', oursOptions: { fetchUserinfo: 'auto' } } },
    { name: 'eoc-cookie', spec: { kind: 'eoc', store: 'cookie' } },
    { name: 'ours-redis', spec: { kind: 'ours', store: 'redis' } },
    { name: 'ours-redis, fetchUserinfo: auto', spec: { kind: 'ours', store: 'redis', oursOptions: { fetchUserinfo: 'auto' } } },
    { name: 'eoc-redis', spec: { kind: 'eoc', store: 'redis' } },
  ];
  const targets = new Map<string, Target>();
  for (const v of variants) targets.set(v.name, await startTarget(v.spec, provider));
  const names = variants.map((v) => v.name);
  const seq = new Map<string, LoginSample[]>(names.map((n) => [n, []]));
  const conc = new Map<string, LoginSample[]>(names.map((n) => [n, []]));
  try {
    for (const target of targets.values()) await logins(target, 100, LOGIN_CONCURRENCY); // warm-up
    for (let i = 0; i < LOGIN_ROUNDS; i++) {
      await rotated(names, i, async (name) => {
        const target = targets.get(name) as Target;
        seq.get(name)?.push(await loginsFor(target, LOGIN_S, 1));
        conc.get(name)?.push(await loginsFor(target, LOGIN_S, LOGIN_CONCURRENCY));
      });
      op.requests.length = 0; // the provider's request log, kept for tests, would grow without end
    }
  } finally {
    for (const target of targets.values()) await target.stop();
  }
  const m = (map: Map<string, LoginSample[]>, name: string, pick: (x: LoginSample) => number) => median((map.get(name) as LoginSample[]).map(pick));
  /** Median over rounds of this one's figure / the peer's in the same round. */
  const vs = (map: Map<string, LoginSample[]>, name: string, peer: string, pick: (x: LoginSample) => number) =>
    median((map.get(name) as LoginSample[]).map((x, i) => pick(x) / pick((map.get(peer) as LoginSample[])[i] as LoginSample)));
  const peerOf = (name: string) => (name.includes('redis') ? 'eoc-redis' : 'eoc-cookie');
  say(`\n### Complete logins (start, provider, callback), ${LOGIN_ROUNDS} rounds of ${LOGIN_S} s each way`);
  say();
  say('RP CPU = CPU of the relying-party process per login (its own process.cpuUsage delta / logins).');
  say('vs EOC: ratio to express-openid-connect with the same kind of session storage, same round.');
  say();
  table(
    [
      'app-store',
      'logins/s sequential',
      `logins/s ${LOGIN_CONCURRENCY} concurrent`,
      'RP CPU ms/login (seq / conc)',
      'login ms (seq)',
      'rate vs EOC (seq / conc)',
      'RP CPU vs EOC (conc)',
    ],
    names.map((n) => [
      n,
      f1(m(seq, n, (x) => x.rate)),
      f1(m(conc, n, (x) => x.rate)),
      `${f2(m(seq, n, (x) => x.cpuMs))} / ${f2(m(conc, n, (x) => x.cpuMs))}`,
      f1(m(seq, n, (x) => x.latencyMs)),
      n.startsWith('eoc') ? '1.00 / 1.00' : `${f2(vs(seq, n, peerOf(n), (x) => x.rate))} / ${f2(vs(conc, n, peerOf(n), (x) => x.rate))}`,
      n.startsWith('eoc') ? '1.00' : f2(vs(conc, n, peerOf(n), (x) => x.cpuMs)),
    ]),
  );
  say();
  say('Ours calls userinfo at login by default (OIDC_FETCH_USERINFO=true); express-openid-connect does not.');
  say("`fetchUserinfo: auto` skips it when the ID token already carries the requested scopes' claims.");
}

// --- 4. refresh grants under concurrency (one per login, however many requests and instances) ---

async function grantsUnderConcurrency(op: FakeOp, redisUrl: string, processes: 1 | 2, n: number) {
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  const common = { ISSUER: op.issuer, CLIENT_ID: op.clientId, CLIENT_SECRET: op.clientSecret, REDIS_URL: redisUrl };
  const a: RpProcess = await startRpProcess(common);
  const apps = [a];
  try {
    if (processes === 2) apps.push(await startRpProcess({ ...common, BASE_URL: a.url }));
    const cookie = await login({ spec: { kind: 'ours', store: 'redis' }, origin: a.url } as Target);
    await (await fetch(`${a.url}/me`, { headers: { cookie, accept: 'application/json' } })).arrayBuffer();
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

async function refreshPhase(op: FakeOp, redisUrl: string): Promise<void> {
  const grants = [await grantsUnderConcurrency(op, redisUrl, 1, 100), await grantsUnderConcurrency(op, redisUrl, 2, 100)];
  say('\n### 100 concurrent requests of one session with an expired access token');
  say();
  table(
    ['app processes', 'answered 200', 'refresh grants (target 1)', 'wall time'],
    grants.map((g) => [g.processes === 2 ? '2 (one Redis)' : '1', `${g.ok}/${g.requests}`, String(g.grants), `${f0(g.ms)} ms`]),
  );
}

// --- 5. memory after many logins and requests ----------------------------------------------------

interface MemoryPoint {
  at: string;
  heap: number;
  redis?: number;
}

/** `amount` requests to /api spread round-robin over the sessions of `cookies`. */
async function spreadRequests(target: Target, cookies: string[], amount: number): Promise<void> {
  let i = 0;
  const result = await autocannon({
    url: `${target.origin}/api`,
    connections: CONNECTIONS,
    amount,
    timeout: 30,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, headers: { accept: 'application/json', cookie: cookies[i++ % cookies.length] as string } }),
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`memory phase: ${result.non2xx} requests not 2xx, ${result.errors} errors`);
}

async function memoryPhase(op: FakeOp, provider: ProviderEnv, redisUrl: string): Promise<void> {
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  say(`\n### Memory after ${group(MEMORY_LOGINS)} logins and ${group(MEMORY_REQUESTS)} requests (ours)`);
  say();
  say('Heap: heapUsed of the relying-party process after a full GC. Redis: INFO used_memory. Logins 10 at a time,');
  say('then the requests spread round-robin over all the sessions, then 5 s idle; per login = growth since the start');
  say('(after a warm-up of 100 logins and 5,000 requests) / logins. Steady: the requests and the pause add nothing.');
  say();
  const rows: string[][] = [];
  const series: string[] = [];
  try {
    for (const store of ['memory', 'redis'] as const) {
      await redis.flushAll();
      const target = await startTarget({ kind: 'ours', store }, provider);
      try {
        const point = async (at: string): Promise<MemoryPoint> => ({
          at,
          heap: await target.heap(),
          ...(store === 'redis' ? { redis: await usedMemory() } : {}),
        });
        // Warm-up, then the baseline without those sessions' weight mattering.
        const warm = await logins(target, 100, 10);
        await spreadRequests(target, warm, 5_000);
        const points: MemoryPoint[] = [await point('start')];
        const cookies: string[] = [];
        const loginStep = Math.max(1, Math.floor(MEMORY_LOGINS / 5));
        while (cookies.length < MEMORY_LOGINS) {
          cookies.push(...(await logins(target, Math.min(loginStep, MEMORY_LOGINS - cookies.length), LOGIN_CONCURRENCY)));
          op.requests.length = 0;
          points.push(await point(`${cookies.length} logins`));
        }
        const afterLogins = points[points.length - 1] as MemoryPoint;
        const requestStep = Math.max(1, Math.floor(MEMORY_REQUESTS / 5));
        for (let done = 0; done < MEMORY_REQUESTS; done += requestStep) {
          await spreadRequests(target, cookies, Math.min(requestStep, MEMORY_REQUESTS - done));
          points.push(await point(`+${group(Math.min(done + requestStep, MEMORY_REQUESTS))} requests`));
        }
        const afterRequests = points[points.length - 1] as MemoryPoint;
        await sleep(5_000);
        const idle = await point('idle 5 s');
        points.push(idle);
        const start = points[0] as MemoryPoint;
        const sessions = await target.ask<{ count: number; bytes: number }>('sessions');
        let sessionBytes = sessions.count > 0 ? sessions.bytes / sessions.count : Number.NaN;
        let sessionRedis = Number.NaN;
        let tokenSetBytes = Number.NaN;
        let tokenSetRedis = Number.NaN;
        if (store === 'redis') {
          const sample = async (pattern: string) => {
            const keys: string[] = [];
            for await (const batch of redis.scanIterator({ MATCH: pattern, COUNT: 500 })) {
              keys.push(...(Array.isArray(batch) ? batch : [batch]));
              if (keys.length >= 200) break;
            }
            const usage = await Promise.all(keys.map((k) => redis.memoryUsage(k)));
            const lengths = await Promise.all(keys.map((k) => redis.strLen(k)));
            return { usage: median(usage.map(Number)), length: median(lengths) };
          };
          const sess = await sample('oidc:sess:*');
          const sets = await sample('oidc:tokens:*');
          sessionBytes = sess.length;
          sessionRedis = sess.usage;
          tokenSetBytes = sets.length;
          tokenSetRedis = sets.usage;
        }
        const perLogin = (heap: number) => f0((heap - start.heap) / MEMORY_LOGINS);
        const redisPerLogin = (at: MemoryPoint) => (store === 'redis' ? f0(((at.redis as number) - (start.redis as number)) / MEMORY_LOGINS) : '-');
        rows.push([
          store,
          perLogin(afterLogins.heap),
          perLogin(idle.heap),
          kb(afterRequests.heap - afterLogins.heap),
          kb(idle.heap - afterRequests.heap),
          redisPerLogin(idle),
          store === 'redis' ? kb((idle.redis as number) - (afterLogins.redis as number)) : '-',
          store === 'redis' ? `${f0(sessionBytes)} / ${f0(sessionRedis)}` : f0(sessionBytes),
          store === 'redis' ? `${f0(tokenSetBytes)} / ${f0(tokenSetRedis)}` : '-',
        ]);
        series.push(
          `${store}: ${points.map((p) => `${p.at} ${(p.heap / 1048576).toFixed(1)} MB${p.redis !== undefined ? ` (Redis ${(p.redis / 1048576).toFixed(1)} MB)` : ''}`).join('; ')}`,
        );
      } finally {
        await target.stop();
      }
    }
  } finally {
    await redis.quit();
  }
  table(
    [
      'store',
      'heap bytes/login, after the logins',
      'at the end',
      `heap change over the ${group(MEMORY_REQUESTS)} requests`,
      'then over 5 s idle',
      'Redis used_memory bytes/login, at the end',
      'Redis change over requests + idle',
      'session JSON bytes (/ Redis MEMORY USAGE)',
      'token set JSON bytes / Redis MEMORY USAGE',
    ],
    rows,
  );
  say();
  for (const line of series) say(`- ${line}`);
  say('With the memory store the heap holds the sessions (express-session MemoryStore), the token sets and the');
  say('session index; with Redis all three are in Redis. The fake provider gives every login the same user, so');
  say("the user's index entry grows by one member per login.");
}

async function statePhase(redisUrl: string): Promise<void> {
  const m = await stateMemory(redisUrl);
  say('\n### State kept outside the session for 10,000 logins (1,000 users x 10), written as the callback writes it');
  say();
  table(
    ['token set JSON bytes', 'heap bytes/login (memory store)', 'after all ended', 'Redis used_memory bytes/login', 'after all ended'],
    [[String(m.tokenSetBytes), f0(m.heapPerLogin), f0(m.heapPerEndedLogin), f0(m.redisPerLogin), f0(m.redisPerEndedLogin)]],
  );
}

async function main() {
  const op = await startFakeOp({ behaviour: { accessTokenTtl: 3600 } });
  let redis: RedisServer | undefined;
  const load0 = loadavg();
  const started = new Date();
  try {
    redis = await startRedisServer();
    const provider: ProviderEnv = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, redisUrl: redis.url };
    say(`## express-oidc-rp bench, ${started.toISOString()}`);
    say();
    say(
      `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}; ` +
        `route rounds ${ROUNDS} of ${ROUND_S} s, login rounds ${LOGIN_ROUNDS}, ${LOGIN_S} s per login run, ${CONNECTIONS} connections (autocannon).`,
    );
    const kept = new Map<string, Target>();
    if (PHASES.has('route')) await routePhase(op, provider, kept);
    if (PHASES.has('bearer')) await bearerPhase(op, provider, kept.get('ours-memory'));
    else await kept.get('ours-memory')?.stop();
    if (PHASES.has('logins')) await loginPhase(op, provider);
    if (PHASES.has('refresh')) await refreshPhase(op, redis.url);
    if (PHASES.has('memory')) await memoryPhase(op, provider, redis.url);
    if (PHASES.has('state')) await statePhase(redis.url);
    say();
    say(
      `Load average at the end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}; ${((Date.now() - started.getTime()) / 60000).toFixed(1)} minutes.`,
    );
  } finally {
    await closeHarness();
    await redis?.stop();
    await op.close();
  }
  writeResultsFile();
}

await main();
