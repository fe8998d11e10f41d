/**
 * What the benchmarks share: the target processes (bench/app-server.ts), autocannon runs, complete
 * logins through the local provider, medians.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'undici';
import autocannon from 'autocannon';
import type { FakeOp } from '../test/support/fake-op.js';

export type TargetKind = 'floor' | 'ours' | 'eoc';
export type StoreKind = 'memory' | 'redis' | 'cookie';

export interface TargetSpec {
  kind: TargetKind;
  store: StoreKind;
  /** More createOidcAuth options (ours), as an object. */
  oursOptions?: Record<string, unknown>;
  /** Another build of the library (the path of its index.js), to compare two versions in one run. */
  dist?: string;
  /**
   * Run the target under another program, e.g. valgrind: `command` then `args`, then node and
   * its arguments (bench/instructions.ts counts the target's instructions this way).
   */
  wrapper?: { command: string; args: string[] };
  /** More node flags for this target (after BENCH_TARGET_NODE_ARGS's). */
  nodeArgs?: string[];
  /**
   * Seconds the app waits for each call to the provider (ours: `timeout`, express-openid-connect:
   * `httpTimeout`); default each library's (5 s). Under valgrind a login runs about 50 times slower.
   */
  providerTimeoutS?: number;
}

export interface ProviderEnv {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redisUrl?: string | undefined;
}

export interface Target {
  spec: TargetSpec;
  origin: string;
  child: ChildProcess;
  /** Ask the target process something over IPC (see app-server.ts). */
  ask<T extends object>(cmd: string, extra?: object): Promise<T>;
  /** CPU µs the target process has used so far (user + system). */
  cpu(): Promise<number>;
  /** heapUsed after a full GC. */
  heap(): Promise<number>;
  stop(): Promise<void>;
}

/** A numeric knob from the environment, or its default. */
export const envNumber = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

/**
 * Run `fn` for each name, in an order rotated by `round` and reversed every other round: each run
 * goes first as often as the others, and follows each of its neighbours as often as it precedes
 * it (a run right after another on the same process finds it warm).
 */
export async function rotated<T extends string>(names: readonly T[], round: number, fn: (name: T) => Promise<void>): Promise<void> {
  const order = names.map((_, j) => names[(round + j) % names.length] as T);
  if (round % 2 === 1) order.reverse();
  for (const name of order) await fn(name);
}

/**
 * `rounds` interleaved rounds: each measures every name once, in rotated() order, so drift in the
 * machine's load hits all alike. The samples by name, in round order.
 */
export async function interleavedRounds<S>(
  names: readonly string[],
  rounds: number,
  measure: (name: string, round: number) => Promise<S>,
): Promise<Map<string, S[]>> {
  const samples = new Map<string, S[]>(names.map((n) => [n, []]));
  for (let i = 0; i < rounds; i++) await rotated(names, i, async (name) => void samples.get(name)?.push(await measure(name, i)));
  return samples;
}

/** The `name=value` part of a Set-Cookie header, as a Cookie header sends it back. */
export const cookieOf = (setCookie: string | null): string => (setCookie ?? '').split(';')[0] ?? '';

export const label = (s: TargetSpec): string => `${s.kind}-${s.store}`;

export async function startTarget(spec: TargetSpec, provider: ProviderEnv): Promise<Target> {
  // BENCH_TARGET_NODE_ARGS: more node flags for the targets (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
  const nodeArgs = ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_TARGET_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(spec.nodeArgs ?? [])];
  const child = fork(process.env.BENCH_APP_SERVER ?? new URL('./app-server.ts', import.meta.url), [], {
    // fork() runs `execPath ...execArgv module`: with a wrapper, the wrapper runs node.
    ...(spec.wrapper ? { execPath: spec.wrapper.command, execArgv: [...spec.wrapper.args, process.execPath, ...nodeArgs] } : { execArgv: nodeArgs }),
    env: {
      ...process.env,
      TARGET: spec.kind,
      STORE: spec.store,
      ISSUER: provider.issuer,
      CLIENT_ID: provider.clientId,
      CLIENT_SECRET: provider.clientSecret,
      REDIS_URL: provider.redisUrl ?? '',
      OURS_OPTIONS: JSON.stringify(spec.oursOptions ?? {}),
      BENCH_DIST: spec.dist ?? '',
      PROVIDER_TIMEOUT_S: spec.providerTimeoutS === undefined ? '' : String(spec.providerTimeoutS),
    },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let out = '';
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/READY (\d+)/);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`bench target ${label(spec)} exited with ${code}`)));
  });
  const ask = <T extends object>(cmd: string, extra: object = {}): Promise<T> =>
    new Promise((resolve) => {
      const onMessage = (msg: unknown) => {
        if (typeof msg === 'object' && msg !== null && (msg as { cmd?: string }).cmd === cmd) {
          child.off('message', onMessage);
          resolve(msg as T);
        }
      };
      child.on('message', onMessage);
      child.send({ cmd, ...extra });
    });
  return {
    spec,
    origin: `http://127.0.0.1:${port}`,
    child,
    ask,
    cpu: async () => (await ask<{ cpu: number }>('cpu')).cpu,
    heap: async () => (await ask<{ heapUsed: number }>('heap')).heapUsed,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export interface LoadSample {
  /** Answered requests per second, wall clock (the load generator shares the machine). */
  rps: number;
  /** Target CPU µs per request, from the target process itself. */
  cpuUs: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  requests: number;
}

/**
 * `amount` requests to one route (autocannon), unmeasured: every one must be answered 2xx, else the
 * benchmark itself has failed (a wrong cookie, a broken app) and this throws. `timeoutS`: per
 * request (longer for an app running under valgrind).
 */
export async function sendAll(
  target: Target,
  path: string,
  headers: Record<string, string>,
  opts: { amount: number; connections: number; timeoutS?: number; what?: string },
): Promise<void> {
  const result = await autocannon({
    url: `${target.origin}${path}`,
    connections: opts.connections,
    amount: opts.amount,
    headers,
    timeout: opts.timeoutS ?? 30,
  });
  if (result.non2xx > 0 || result.errors > 0 || result['2xx'] !== opts.amount) {
    throw new Error(
      `${label(target.spec)} ${path}${opts.what ? ` (${opts.what})` : ''}: ${result['2xx']} of ${opts.amount} answered 2xx, ${result.non2xx} did not, ${result.errors} errors`,
    );
  }
}

/** The cookie of a floor app's session (bench/app-server.ts GET /seed: a small user object). */
export async function floorCookie(floor: Target): Promise<string> {
  return cookieOf((await fetch(`${floor.origin}/seed`)).headers.get('set-cookie'));
}

/**
 * The access token the bearer benchmarks send: an RFC 9068 JWT (`typ: at+jwt`) of the provider's,
 * valid for an hour, for bearerAuth() with its default audience (the client id).
 */
export async function bearerJwt(op: FakeOp): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return op.signIdToken(
    { iss: op.issuer, sub: 'user-1', aud: op.clientId, client_id: op.clientId, iat: now, exp: now + 3600, scope: 'openid' },
    { typ: 'at+jwt' },
  );
}

/**
 * autocannon against one route for `seconds` (or `amount` requests); every answer must be 2xx, else
 * the benchmark itself has failed (a wrong cookie, a broken app) and this throws.
 */
export async function hammer(
  target: Target,
  path: string,
  headers: Record<string, string>,
  opts: { seconds?: number; amount?: number; connections: number /** Requests sent first, not measured. */; warmup?: number },
): Promise<LoadSample> {
  if (opts.warmup) await sendAll(target, path, headers, { amount: opts.warmup, connections: opts.connections, what: 'warm-up' });
  const cpu0 = await target.cpu();
  const started = performance.now();
  const result = await autocannon({
    url: `${target.origin}${path}`,
    connections: opts.connections,
    ...(opts.amount !== undefined ? { amount: opts.amount } : { duration: opts.seconds ?? 2 }),
    headers,
    timeout: 30,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = await target.cpu();
  const ok = result['2xx'];
  if (result.non2xx > 0 || result.errors > 0 || ok === 0) {
    throw new Error(
      `${label(target.spec)} ${path}: ${ok} answered 2xx, ${result.non2xx} did not (${JSON.stringify(result.statusCodeStats)}), ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return { rps: ok / seconds, cpuUs: (cpu1 - cpu0) / ok, p50: result.latency.p50, p99: result.latency.p99, requests: ok };
}

// --- complete logins, as a browser makes them ---------------------------------------------------

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

/** A cookie jar for one browser: name -> value, following Set-Cookie (deletions included). */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(setCookie: string | string[] | undefined): void {
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=.*1970/i.test(a));
      if (value === '' || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }
}

async function get(url: string, jar: Jar): Promise<{ status: number; location: string | undefined }> {
  const cookie = jar.header();
  const res = await request(url, { method: 'GET', dispatcher: agent, headers: cookie ? { cookie } : {} });
  await res.body.dump();
  jar.take(res.headers['set-cookie']);
  const location = res.headers.location;
  return { status: res.statusCode, location: Array.isArray(location) ? location[0] : location };
}

/**
 * One complete login through the provider (start, authorization endpoint, callback): the cookie
 * header a browser then sends. Throws when the login did not succeed.
 */
export async function login(target: Target): Promise<string> {
  const rp = new Jar();
  const op = new Jar();
  const startPath = target.spec.kind === 'ours' ? '/oidc/authenticate' : '/login';
  const start = await get(`${target.origin}${startPath}`, rp);
  if (start.status !== 302 || !start.location) throw new Error(`${label(target.spec)} login start answered ${start.status}`);
  const authorize = await get(start.location, op);
  if (authorize.status !== 302 || !authorize.location) throw new Error(`authorization endpoint answered ${authorize.status}`);
  const callback = new URL(authorize.location);
  const done = await get(`${target.origin}${callback.pathname}${callback.search}`, rp);
  const landed = done.location ? new URL(done.location, target.origin).pathname : '';
  if (done.status !== 302 || landed === '/login-failed') {
    throw new Error(`${label(target.spec)} login failed: ${done.status} ${done.location}`);
  }
  const cookie = rp.header();
  if (!cookie) throw new Error(`${label(target.spec)} login set no session cookie`);
  return cookie;
}

/** `count` logins, `concurrency` at a time; the cookies in order. */
export async function logins(target: Target, count: number, concurrency: number): Promise<string[]> {
  const cookies: string[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        cookies[i] = await login(target);
      }
    }),
  );
  return cookies;
}

export interface LoginSample {
  /** Complete logins per second, wall clock. */
  rate: number;
  /** Relying-party process CPU per login, ms. */
  cpuMs: number;
  /** Wall time of one login, ms (median). */
  latencyMs: number;
  count: number;
}

/** Logins for `seconds`, `concurrency` at a time. */
export async function loginsFor(target: Target, seconds: number, concurrency: number): Promise<LoginSample> {
  const cpu0 = await target.cpu();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await login(target);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu1 = await target.cpu();
  return { rate: latencies.length / elapsed, cpuMs: (cpu1 - cpu0) / 1000 / latencies.length, latencyMs: median(latencies), count: latencies.length };
}

export async function closeHarness(): Promise<void> {
  await agent.close();
}
