/**
 * Load with faults (`npm run test:load`): two app instances (test/support/rp-server.ts, each its own
 * process) share one redis-server and one provider (test/support/fake-op.ts, in this process);
 * simulated users log in, browse with short-lived access tokens (so they refresh many times), call
 * an API, and log out, while for part of the run the provider misbehaves: 10% of token requests
 * answer 500, some stall past the library's timeout, the provider restarts once, its signing key
 * rotates once, and one app instance is killed (SIGKILL) and started again on the same port.
 *
 * Pass criteria (docs/load-test.md), printed as counts at the end:
 * - no process crash (besides the deliberate kill) and no unhandled rejection (rp-server prints a
 *   marker and exits 70 on one; this process counts its own);
 * - no request past its deadline (every request here has one, see DEADLINE_MS), and no answer
 *   other than 200, a redirect, 401 (sign in again) or 503 (try again): never a 500;
 * - every user ends either signed in with working tokens (GET /me 200 on both instances, and the
 *   provider says the access token is active) or cleanly sent to login (401, and the cookie no
 *   longer authenticates on either instance); a cookie that authenticates again after a 401 is a
 *   half-broken session;
 * - at most one refresh grant per session per expiry, none before the token was due, none while
 *   another presentation of the same refresh token is being answered;
 * - no refresh token presented again after the provider rotated it, unless the rotation's answer
 *   never reached the library (test/load/accounting.ts says which).
 *
 * Exit code: 0 when every criterion holds, 1 when one does not, 2 when the harness itself failed.
 *
 * Knobs (env): LOAD_USERS (500), LOAD_CONCURRENCY (50 users at a time), LOAD_STEPS (12 page or API
 * requests per user), LOAD_THINK_MS (700, mean pause between them).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startFakeOp, type FakeOp, type TokenFault } from '../support/fake-op.js';
import { startRpProcess, type RpProcess, type RpProcessEnv } from '../support/rp-process.js';
import { accountGrants, servedAfterRefusal, type GrantAccounting, type ServedAfterRefusal } from './accounting.js';

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

const USERS = knob('LOAD_USERS', 500);
const CONCURRENCY = Math.min(knob('LOAD_CONCURRENCY', 50), USERS);
const STEPS = knob('LOAD_STEPS', 12);
const THINK_MS = knob('LOAD_THINK_MS', 700);

/** The provider's access token lifetime: a user's visit spans several. */
const ACCESS_TOKEN_TTL_S = 3;
/** The library's `timeout` (OIDC_TIMEOUT_SECONDS in rp-server). */
const TIMEOUT_S = 1;
/** The library's default refreshLeewaySeconds (capped at half the lifetime: refresh 1.5 s before expiry). */
const REFRESH_LEEWAY_S = 30;
/** A stalled token request: longer than the library's timeout. */
const STALL_MS = TIMEOUT_S * 1000 + 600;
/**
 * Every request's deadline. The longest a request may take in the library: waiting for another
 * instance's refresh (3 * timeout + 3 s, src/store/stores.ts), then its own grant and a JWKS fetch
 * (2 * timeout), and for /call two API calls around the refresh (2 * timeout): 7 * timeout + 3 s.
 * Plus 2 s for a loaded 2-core machine.
 */
const DEADLINE_MS = (7 * TIMEOUT_S + 3 + 2) * 1000;
/** The provider is down this long when it restarts. */
const PROVIDER_DOWN_MS = 1000;
/** Whole-run watchdog: the run is meant to take under 3 minutes. */
const WATCHDOG_MS = 6 * 60_000;

const LOGIN_PATH = '/oidc/authenticate';
const LOGOUT_PATH = '/oidc/logout';
const WELCOME = '/welcome';
const LOGIN_FAILED = '/login-failed';

// ---------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------

const started = Date.now();
/** When the first user started: the fault schedule and the times printed count from here. */
let usersStarted = started;
const since = (t: number): string => ((t - usersStarted) / 1000).toFixed(1);

const count = {
  requests: 0,
  byStatus: new Map<string, number>(),
  latencies: [] as number[],
  overDeadline: [] as string[],
  /** Answers that are none of 200, 302/303, 401, 503 (a 500 above all). */
  unexpected: [] as string[],
  /** Requests to an instance cut by its deliberate kill (or sent while it was down), retried on the other. */
  cutByKill: 0,
  /** Connection failures to an instance that was up: never expected. */
  connectionFailures: [] as string[],
  loginAttempts: 0,
  loginFailedAttempts: 0,
  loginGaveUp: 0,
  /** GET /me, /call answered 401 during the visit (the session ended: sent to login). */
  sentToLoginMidVisit: 0,
  /** A cookie that authenticated again after its session was said to be over. */
  halfBroken: [] as string[],
  /** GET /me answered 200: with which access token, sent when (checked against the provider's refusals). */
  served: [] as Array<{ accessToken: string; sentAt: number }>,
  unavailable: 0,
  apiCalls: 0,
  apiInner: new Map<number, number>(),
  endLoggedIn: 0,
  endSentToLogin: 0,
  endBroken: [] as string[],
  /** The access tokens of broken end states (their login's grant log is printed). */
  brokenTokens: [] as Array<{ what: string; accessToken: string }>,
  logouts: 0,
  logoutBroken: [] as string[],
  tokensActiveAfterLogout: 0,
  harnessUnhandled: [] as string[],
};

function bump(map: Map<string | number, number>, key: string | number): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

process.on('unhandledRejection', (reason: unknown) => {
  count.harnessUnhandled.push(reason instanceof Error ? (reason.stack ?? reason.message) : String(reason));
});

// ---------------------------------------------------------------------------
// HTTP with a deadline
// ---------------------------------------------------------------------------

const agent = new Agent({ keepAliveTimeout: 2_000, connections: 256 });

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

class ConnectionError extends Error {}
class DeadlineError extends Error {}

/** One request with its own deadline; connection failures become ConnectionError, the deadline DeadlineError. */
async function http(url: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {}): Promise<Reply> {
  const t0 = Date.now();
  count.requests++;
  try {
    const res = await request(url, {
      method: init.method ?? 'GET',
      headers: init.headers,
      dispatcher: agent,
      signal: AbortSignal.timeout(DEADLINE_MS),
      ...(init.method === 'POST' ? { body: '' } : {}),
    });
    const text = await res.body.text();
    const ms = Date.now() - t0;
    count.latencies.push(ms);
    return { status: res.statusCode, headers: res.headers, text };
  } catch (err) {
    const ms = Date.now() - t0;
    const name = (err as Error)?.name;
    if (name === 'TimeoutError' || name === 'AbortError' || ms >= DEADLINE_MS) {
      count.overDeadline.push(`${init.method ?? 'GET'} ${url} at ${since(t0)} s`);
      throw new DeadlineError(`${url}: no answer within ${DEADLINE_MS} ms`);
    }
    throw new ConnectionError(`${url}: ${(err as Error)?.message ?? String(err)}`);
  }
}

function header(reply: Reply, name: string): string | undefined {
  const v = reply.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sessionCookie(reply: Reply): string | undefined {
  const raw = reply.headers['set-cookie'];
  const all = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return all.find((c) => c.startsWith('connect.sid='))?.split(';')[0];
}

// ---------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------

interface Instance {
  name: 'A' | 'B';
  /** Its `?rp=` tag at the provider's token endpoint: a1, then a2 after the restart; b. */
  tag: string;
  proc: RpProcess;
  url: string;
  up: boolean;
  /** When it was last killed (requests started before and failing after were cut by the kill). */
  killedAt?: number;
  upAgainAt?: number;
}

let redis: RedisServer | undefined;
let op: FakeOp | undefined;
let api: { url: string; close(): Promise<void> } | undefined;
const instances: Instance[] = [];
/** Processes stopped or killed on purpose: their exit is not a crash. */
const expectedExits = new Set<RpProcess>();
const crashes: string[] = [];
const allProcesses: RpProcess[] = [];

function watch(inst: Instance): void {
  const proc = inst.proc;
  allProcesses.push(proc);
  void proc.exited.then(({ code, signal }) => {
    if (expectedExits.has(proc)) return;
    inst.up = false;
    crashes.push(
      `instance ${inst.name} (${inst.tag}, pid ${proc.pid}) exited with code ${code}, signal ${signal}\n${proc.stderr().split('\n').slice(-15).join('\n')}`,
    );
  });
}

async function startInstance(name: 'A' | 'B', tag: string, env: Partial<RpProcessEnv>): Promise<RpProcess> {
  const o = op as FakeOp;
  return startRpProcess({
    ISSUER: o.issuer,
    CLIENT_ID: o.clientId,
    CLIENT_SECRET: o.clientSecret,
    REDIS_URL: (redis as RedisServer).url,
    OIDC_TIMEOUT_SECONDS: String(TIMEOUT_S),
    // A's node-redis and B's ioredis: both clients the library supports, under the same load.
    CLIENT_KIND: name === 'A' ? 'node-redis' : 'ioredis',
    OIDC_EXTRA_OPTIONS: JSON.stringify({
      // The token endpoint as discovered, tagged with who calls it (RFC 6749 3.2 allows a query).
      tokenEndpoint: `${o.issuer}/token?rp=${tag}`,
      loginRedirectUrl: WELCOME,
      loginRedirectUrlFailure: LOGIN_FAILED,
    }),
    ...env,
  });
}

/** The API the users call through req.oidc.fetch: it asks the provider (RFC 7662) whether the token is active. */
async function startApi(o: FakeOp): Promise<{ url: string; close(): Promise<void> }> {
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString('base64')}`;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (!token) return send(401, { error: 'invalid_request' }, { 'www-authenticate': 'Bearer' });
    request(`${o.issuer}/introspect`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
      dispatcher: agent,
      signal: AbortSignal.timeout(500),
    })
      .then((r) => r.body.json() as Promise<{ active?: boolean }>)
      .then(
        (body) => (body.active ? send(200, { ok: true }) : send(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' })),
        () => send(503, { error: 'temporarily_unavailable' }),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Is the access token active at the provider? Retries while the provider is down (restart). */
async function activeAtProvider(token: string): Promise<boolean> {
  const o = op as FakeOp;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString('base64')}`;
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await request(`${o.issuer}/introspect`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
        dispatcher: agent,
        signal: AbortSignal.timeout(2000),
      });
      return ((await r.body.json()) as { active?: boolean }).active === true;
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(250);
    }
  }
}

// ---------------------------------------------------------------------------
// Simulated users
// ---------------------------------------------------------------------------

interface User {
  id: number;
  cookie: string | undefined;
  lastAccessToken: string | undefined;
}

/** The instance a user's n-th request goes to: alternating, and never one that is known to be down. */
function pick(n: number): Instance {
  const preferred = instances[n % 2] as Instance;
  return preferred.up ? preferred : (instances[(n + 1) % 2] as Instance);
}

/**
 * A request to an instance, as a load balancer would send it: one that fails to connect because
 * its instance was killed (or is down) goes to the other instance; any other connection failure
 * is a finding.
 */
async function toApp(n: number, path: string, cookie: string | undefined, init: { method?: 'GET' | 'POST'; json?: boolean } = {}): Promise<Reply> {
  for (let attempt = 0; ; attempt++) {
    const inst = pick(n + attempt);
    const t0 = Date.now();
    const headers: Record<string, string> = {};
    if (cookie) headers.cookie = cookie;
    if (init.json) headers.accept = 'application/json';
    try {
      const reply = await http(`${inst.url}${path}`, { method: init.method ?? 'GET', headers });
      bump(count.byStatus, reply.status);
      return reply;
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err;
      const killed = inst.killedAt !== undefined && t0 <= (inst.upAgainAt ?? Number.POSITIVE_INFINITY) + 1000 && Date.now() >= inst.killedAt;
      if (killed || !inst.up) count.cutByKill++;
      else count.connectionFailures.push(`${err.message} (at ${since(t0)} s)`);
      if (attempt >= 6) throw err;
      await sleep(100);
    }
  }
}

/** A GET /me sent at `sentAt` was answered 200 with this access token. */
function served(accessToken: string | undefined, sentAt: number): void {
  if (accessToken) count.served.push({ accessToken, sentAt });
}

function noteUnexpected(what: string, reply: Reply): void {
  count.unexpected.push(`${what}: ${reply.status} ${reply.text.slice(0, 200)}`);
}

/** The whole login: the app's login route, the provider (one redirect), the app's callback. Retries failed attempts. */
async function logIn(u: User, n: number): Promise<boolean> {
  const o = op as FakeOp;
  for (let attempt = 0; attempt < 10; attempt++) {
    count.loginAttempts++;
    if (attempt > 0) await sleep(300 + 200 * attempt);
    const start = await toApp(n + attempt, LOGIN_PATH, u.cookie);
    if (start.status === 503) {
      count.unavailable++;
      continue;
    }
    const authorize = header(start, 'location');
    if (start.status !== 302 || !authorize?.startsWith(`${o.issuer}/authorize`)) {
      noteUnexpected('login route', start);
      continue;
    }
    const pending = sessionCookie(start) ?? u.cookie;
    let callback: string | undefined;
    try {
      const atOp = await http(authorize);
      callback = header(atOp, 'location');
      if (atOp.status !== 302 || !callback) throw new Error(`authorize answered ${atOp.status}`);
    } catch (err) {
      if (err instanceof DeadlineError) throw err;
      // The provider is restarting: the browser shows an error page, the user tries again.
      count.loginFailedAttempts++;
      continue;
    }
    const back = new URL(callback);
    // The callback may land on either instance (one URL behind a load balancer).
    const done = await toApp(n + attempt + 1, back.pathname + back.search, pending);
    const to = header(done, 'location');
    if (done.status === 302 && to === WELCOME) {
      const cookie = sessionCookie(done);
      if (!cookie) {
        noteUnexpected('login callback without a new session cookie', done);
        continue;
      }
      u.cookie = cookie;
      return true;
    }
    if (done.status === 302 && to === LOGIN_FAILED) {
      // The code exchange failed (a 500, a stall, the provider down): the user starts again.
      count.loginFailedAttempts++;
      u.cookie = sessionCookie(done) ?? pending;
      continue;
    }
    noteUnexpected('login callback', done);
  }
  count.loginGaveUp++;
  return false;
}

/**
 * After a 401: the session is over, so the cookie must not authenticate anywhere any more.
 * Returns false (and records it) when it still does.
 */
async function confirmEnded(u: User, n: number, where: string): Promise<boolean> {
  for (let i = 0; i < 2; i++) {
    const sentAt = Date.now();
    const again = await toApp(n + 1 + i, '/me', u.cookie, { json: true });
    if (again.status === 200) {
      served((JSON.parse(again.text) as { accessToken?: string }).accessToken, sentAt);
      count.halfBroken.push(`user ${u.id}: ${where} said 401, then GET /me on ${pick(n + 1 + i).name} answered 200`);
      return false;
    }
    if (again.status !== 401 && again.status !== 503) noteUnexpected('GET /me after a 401', again);
  }
  return true;
}

/** One page view (GET /me) or API call (GET /call -> req.oidc.fetch -> the API). Returns false if the user was sent to login. */
async function visitStep(u: User, n: number, apiCall: boolean): Promise<boolean> {
  const path = apiCall ? `/call?url=${encodeURIComponent((api as { url: string }).url)}` : '/me';
  const sentAt = Date.now();
  const reply = await toApp(n, path, u.cookie, { json: true });
  if (reply.status === 200) {
    const body = JSON.parse(reply.text) as { accessToken?: string; status?: number };
    if (apiCall) {
      count.apiCalls++;
      bump(count.apiInner, body.status ?? 0);
    } else {
      u.lastAccessToken = body.accessToken;
      served(body.accessToken, sentAt);
    }
    return true;
  }
  if (reply.status === 401) {
    count.sentToLoginMidVisit++;
    await confirmEnded(u, n, apiCall ? 'GET /call' : 'GET /me');
    return false;
  }
  if (reply.status === 503) {
    count.unavailable++;
    return true;
  }
  noteUnexpected(apiCall ? 'GET /call' : 'GET /me', reply);
  return true;
}

/**
 * The user's state at the end of the visit: signed in with working tokens, or cleanly sent to
 * login. Looked at as a user would find out: a page (GET /me), then an API call through the app
 * (which is how the library learns that the provider revoked a login behind its back: the API
 * refuses the token, the refresh is refused, the session ends), then the page again, whose access
 * token the provider must accept. Temporary answers (503, a refusal during a provider outage) are
 * looked at again, for up to 20 s.
 */
async function endState(u: User, n: number): Promise<void> {
  const until = Date.now() + 20_000;
  const apiPath = `/call?url=${encodeURIComponent((api as { url: string }).url)}`;
  for (let round = 0; Date.now() < until; round++) {
    if (round > 0) await sleep(500);
    const page = await toApp(n + round, '/me', u.cookie, { json: true });
    const call = page.status === 200 ? await toApp(n + round + 1, apiPath, u.cookie, { json: true }) : page;
    const sentAt = Date.now();
    const again = call.status === 200 ? await toApp(n + round, '/me', u.cookie, { json: true }) : call;
    const last = again;
    if (last.status === 503) {
      count.unavailable++;
      continue;
    }
    if (last.status === 401) {
      if (await confirmEnded(u, n + round, 'the final check')) count.endSentToLogin++;
      else count.endBroken.push(`user ${u.id}: 401, then 200`);
      return;
    }
    if (last.status !== 200) {
      noteUnexpected('final check', last);
      count.endBroken.push(`user ${u.id}: final check answered ${last.status}`);
      return;
    }
    if ((JSON.parse(call.text) as { status?: number }).status !== 200) continue; // the API refused or was down: look again
    const body = JSON.parse(again.text) as { accessToken?: string };
    served(body.accessToken, sentAt);
    u.lastAccessToken = body.accessToken;
    if (body.accessToken && (await activeAtProvider(body.accessToken))) {
      count.endLoggedIn++;
      return;
    }
    // Not active at the provider: expired meanwhile, or revoked behind the library's back. Look again.
  }
  count.endBroken.push(`user ${u.id}: no final state within 20 s`);
  if (u.lastAccessToken) count.brokenTokens.push({ what: `user ${u.id}: no final state within 20 s`, accessToken: u.lastAccessToken });
}

/** POST logout; then neither the old nor the new cookie authenticates, on either instance. */
async function logOut(u: User, n: number): Promise<void> {
  const reply = await toApp(n, LOGOUT_PATH, u.cookie, { method: 'POST' });
  if (reply.status !== 303) {
    noteUnexpected('POST logout', reply);
    count.logoutBroken.push(`user ${u.id}: logout answered ${reply.status}`);
    return;
  }
  count.logouts++;
  const cookies = [u.cookie, sessionCookie(reply)].filter((c): c is string => c !== undefined);
  for (const [i, cookie] of cookies.entries()) {
    for (const k of [0, 1]) {
      const me = await toApp(n + i + k, '/me', cookie, { json: true });
      if (me.status !== 401) count.logoutBroken.push(`user ${u.id}: after logout, GET /me answered ${me.status}`);
    }
  }
  // Revocation at logout is best effort (a provider outage must not block logout): counted, not judged.
  if (u.lastAccessToken && (await activeAtProvider(u.lastAccessToken))) count.tokensActiveAfterLogout++;
}

async function runUser(id: number): Promise<void> {
  const u: User = { id, cookie: undefined, lastAccessToken: undefined };
  let n = id;
  if (!(await logIn(u, n++))) return;
  for (let step = 0; step < STEPS; step++) {
    await sleep(THINK_MS * (0.5 + Math.random()));
    const stillIn = await visitStep(u, n++, step % 4 === 3);
    if (!stillIn && !(await logIn(u, n++))) return;
  }
  await endState(u, n++);
  await logOut(u, n++);
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

const faults = {
  on: false,
  tokenRequests: 0,
  answered500: 0,
  stalledProcessed: 0,
  stalledDropped: 0,
  events: [] as string[],
  pending: [] as string[],
};

/** Exactly every 10th token request in the window answers 500; every 20th (offset) stalls past the timeout, alternately processed and dropped. */
function tokenFault(): TokenFault | undefined {
  if (!faults.on) return undefined;
  const n = ++faults.tokenRequests;
  if (n % 10 === 0) {
    faults.answered500++;
    return { status: 500 };
  }
  if (n % 20 === 5) {
    const processed = (faults.stalledProcessed + faults.stalledDropped) % 2 === 0;
    if (processed) faults.stalledProcessed++;
    else faults.stalledDropped++;
    return { delayMs: STALL_MS, whenAbandoned: processed ? 'process' : 'drop' };
  }
  return undefined;
}

let killInfo: { tag: string; at: number } | undefined;

async function killAndRestartA(): Promise<void> {
  const a = instances[0] as Instance;
  const old = a.proc;
  expectedExits.add(old);
  a.up = false;
  a.killedAt = Date.now();
  await old.kill();
  // A rotation answered to a1 up to its death may never have been stored.
  killInfo = { tag: 'a1', at: Date.now() };
  faults.events.push(`instance A (${a.tag}, pid ${old.pid}) killed (SIGKILL): at ${since(a.killedAt)} s`);
  a.tag = 'a2';
  a.proc = await startInstance('A', a.tag, { PORT: String(old.port) });
  watch(a);
  a.upAgainAt = Date.now();
  a.up = true;
  faults.events.push(`instance A (a2, pid ${a.proc.pid}) listening again on the same port: at ${since(a.upAgainAt)} s`);
}

/** The fault schedule over the expected run time; every event must happen while users are active. */
async function runFaults(expectedMs: number, done: Promise<void>): Promise<void> {
  const o = op as FakeOp;
  const schedule: Array<[number, string, () => Promise<void> | void]> = [
    [
      0.15,
      'faults on: 10% of token requests answer 500, 5% stall past the timeout',
      () => {
        faults.on = true;
      },
    ],
    [0.3, `provider restart (down ${PROVIDER_DOWN_MS} ms)`, () => o.restart(PROVIDER_DOWN_MS)],
    [0.45, 'signing key rotated', () => o.rotateKeys()],
    [0.6, '', killAndRestartA],
    [
      0.8,
      'faults off',
      () => {
        faults.on = false;
      },
    ],
  ];
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  faults.pending = schedule.map(([, what]) => what || 'instance A killed and started again');
  for (const [at, what, action] of schedule) {
    const wait = usersStarted + at * expectedMs - Date.now();
    if (wait > 0) await Promise.race([sleep(wait), done]);
    if (finished) return;
    const t = Date.now();
    await action();
    if (what) faults.events.push(`${what}: at ${since(t)} s`);
    faults.pending.shift();
  }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/** The grant log of one login (token family), for a finding. */
function printLogin(what: string, familyId: string | undefined, refreshToken: string | undefined): void {
  const history = (op as FakeOp).tokenGrants.filter(
    (g) =>
      (familyId !== undefined && g.familyId === familyId) ||
      (refreshToken !== undefined && (g.refreshToken === refreshToken || g.issued?.refreshToken === refreshToken)),
  );
  const t = (x: number | undefined) => (x === undefined ? '-' : since(x));
  console.log(`\nlogin ${familyId ?? '?'}: ${what}`);
  for (const g of history) {
    const grant = g.grantType === 'refresh_token' ? `refresh ${g.refreshToken?.slice(0, 8)}` : 'code';
    const issued = g.issued
      ? ` -> access ${g.issued.accessToken.slice(0, 8)} (exp ${t(g.issued.accessTokenExpiresAt * 1000)}), refresh ${g.issued.refreshToken?.slice(0, 8)}`
      : '';
    console.log(`  ${t(g.receivedAt)} ${grant} by ${g.query.rp}: ${g.outcome}${issued}; answered ${t(g.answeredAt)}, connection lost ${t(g.connectionLostAt)}`);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function report(acc: GrantAccounting, afterRefusal: ServedAfterRefusal[], markers: string[]): boolean {
  const lat = [...count.latencies].sort((a, b) => a - b);
  const line = (label: string, value: number | string, verdict?: boolean) =>
    console.log(`  ${label.padEnd(72, '.')} ${String(value).padStart(6)}${verdict === undefined ? '' : verdict ? '  PASS' : '  FAIL'}`);
  const crashesBesidesKill = crashes.length;
  const unhandled = markers.filter((m) => m.includes('UNHANDLED_REJECTION')).length + count.harnessUnhandled.length;
  const users = count.endLoggedIn + count.endSentToLogin;

  console.log(
    `\nLoad with faults: ${USERS} users (${CONCURRENCY} at a time), ${STEPS} requests each, access tokens of ${ACCESS_TOKEN_TTL_S} s, library timeout ${TIMEOUT_S} s`,
  );
  console.log(
    `Duration: ${((Date.now() - started) / 1000).toFixed(1)} s in all, ${since(Date.now())} s of users (setup: ${since(started).replace('-', '')} s)`,
  );
  console.log('\nFaults (seconds since the first user started):');
  for (const e of faults.events) console.log(`  ${e}`);
  console.log(
    `  token requests while faults were on: ${faults.tokenRequests}; answered 500: ${faults.answered500}; stalled ${STALL_MS} ms: ${faults.stalledProcessed + faults.stalledDropped} (${faults.stalledProcessed} processed with the answer lost, ${faults.stalledDropped} dropped)`,
  );

  console.log('\nTraffic:');
  line('requests to the apps and the provider', count.requests);
  line('answers by status', [...count.byStatus].map(([s, c]) => `${s}:${c}`).join(' '));
  line('latency p50 / p99 / max (ms)', `${percentile(lat, 50)} / ${percentile(lat, 99)} / ${lat.at(-1) ?? 0}`);
  line('login attempts (failed: provider fault)', `${count.loginAttempts} (${count.loginFailedAttempts})`);
  line('503 answers (provider unavailable: try again)', count.unavailable);
  line('API calls (answers by the API)', `${count.apiCalls} (${[...count.apiInner].map(([s, c]) => `${s}:${c}`).join(' ')})`);
  line('requests cut by the deliberate kill (sent to the other instance)', count.cutByKill);
  line('sessions ended during a visit (sent to login, then logged in again)', count.sentToLoginMidVisit);
  line('logouts (provider tokens still active after logout: revocation failed)', `${count.logouts} (${count.tokensActiveAfterLogout})`);
  console.log('\nProvider grant log:');
  line('token requests', acc.tokenRequests);
  line(
    'by outcome',
    Object.entries(acc.byOutcome)
      .map(([k, v]) => `${k}:${v}`)
      .join(' '),
  );
  line('code grants issued / refresh grants issued', `${acc.codeGrantsIssued} / ${acc.refreshGrantsIssued}`);
  line('logins that refreshed', acc.familiesRefreshed);
  line('most presentations of one refresh token (retries after a failure)', acc.maxPresentationsPerLifetime);
  line('refresh tokens presented more than once (extra presentations)', `${acc.presentedTwice.tokens} (${acc.presentedTwice.extraPresentations})`);
  line('  presented again after the provider rotated them (reuse)', acc.reuses.length);
  line('    explained: the rotation answer was lost (timeout, provider restart)', acc.reuseByCause['lost-answer']);
  line('    explained: the rotation was answered to the killed instance', acc.reuseByCause['killed-instance']);
  line('    unexplained', acc.reuseByCause.unexplained);
  line('  other extra presentations (retries of a token not rotated yet)', acc.presentedTwice.extraPresentations - acc.reuses.length);
  line('theft signals at the provider (reuse outcomes)', acc.theftSignals.total);
  line('  of them abandoned requests the provider processed after the retry', acc.theftSignals.abandonedProcessedLate);

  const criteria: Array<[string, number | string, boolean]> = [
    ['process crashes (besides the deliberate kill)', crashesBesidesKill, crashesBesidesKill === 0],
    ['unhandled rejections (app processes and this one)', unhandled, unhandled === 0],
    [`requests without an answer within ${DEADLINE_MS / 1000} s`, count.overDeadline.length, count.overDeadline.length === 0],
    ['answers other than 200, 302/303, 401, 503 (a 500...)', count.unexpected.length, count.unexpected.length === 0],
    ['connection failures to an instance that was up', count.connectionFailures.length, count.connectionFailures.length === 0],
    ['users ending logged in with working tokens', count.endLoggedIn, true],
    ['users ending cleanly sent to login', count.endSentToLogin, true],
    ['users in any other end state, or who could not log in', USERS - users, users === USERS],
    ['half-broken sessions (a cookie authenticating again after a 401)', count.halfBroken.length, count.halfBroken.length === 0],
    ['pages served as signed in after the library was told the login is dead', afterRefusal.length, afterRefusal.length === 0],
    ['logouts leaving a cookie that still authenticates', count.logoutBroken.length, count.logoutBroken.length === 0],
    ['most refresh grants for one session and expiry', acc.maxIssuedPerLifetime, acc.maxIssuedPerLifetime <= 1],
    ['refresh grants before the access token was due', acc.earlyRefreshes, acc.earlyRefreshes === 0],
    ['presentations of a refresh token while another was being answered', acc.concurrentPresentations, acc.concurrentPresentations === 0],
    ['refresh tokens presented again after rotation, unexplained (a bug)', acc.reuseByCause.unexplained, acc.reuseByCause.unexplained === 0],
    ['fault events that did not happen while users were active', faults.pending.length, faults.pending.length === 0],
  ];
  console.log('\nPass criteria:');
  for (const [label, value, ok] of criteria) line(label, value, ok);

  const details: Array<[string, string[]]> = [
    ['crashes', crashes],
    ['crash markers', markers],
    ['unhandled rejections here', count.harnessUnhandled],
    ['over the deadline', count.overDeadline],
    ['unexpected answers', count.unexpected],
    ['connection failures', count.connectionFailures],
    ['half-broken', count.halfBroken],
    ['broken end states', count.endBroken],
    ['broken logouts', count.logoutBroken],
    ['pages served after the refusal', afterRefusal.map((r) => `login ${r.familyId}: sent at ${since(r.sentAt)} s, refused at ${since(r.refusedAt)} s`)],
    ['unexplained reuses', acc.reuses.filter((r) => r.cause === 'unexplained').map((r) => JSON.stringify(r))],
    ['fault events not run', faults.pending],
  ];
  for (const [what, list] of details) {
    if (list.length === 0) continue;
    console.log(`\n${what} (${list.length}, first 10):`);
    for (const item of list.slice(0, 10)) console.log(`  ${item}`);
  }
  // The whole story of each unexplained reuse and each broken end state: the grants of its login.
  for (const r of acc.reuses.filter((x) => x.cause === 'unexplained').slice(0, 5)) {
    printLogin(`reuse of ${r.refreshToken.slice(0, 8)} by ${r.by} at ${since(r.at)} s`, r.familyId, r.refreshToken);
  }
  for (const r of afterRefusal.slice(0, 3))
    printLogin(`GET /me sent at ${since(r.sentAt)} s answered 200 with access ${r.accessToken.slice(0, 8)}`, r.familyId, undefined);
  for (const b of count.brokenTokens.slice(0, 5)) {
    const family = (op as FakeOp).tokenGrants.find((g) => g.issued?.accessToken === b.accessToken)?.familyId;
    printLogin(`${b.what} (access token ${b.accessToken.slice(0, 8)})`, family, undefined);
  }
  const pass = criteria.every(([, , ok]) => ok);
  console.log(`\n${pass ? 'PASS' : 'FAIL'}: load with faults`);
  return pass;
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function cleanup(): Promise<void> {
  for (const inst of instances) expectedExits.add(inst.proc);
  await Promise.allSettled(instances.map((i) => i.proc.stop()));
  await Promise.allSettled([api?.close(), op?.close(), agent.close()]);
  await redis?.stop().catch(() => undefined);
}

async function main(): Promise<number> {
  redis = await startRedisServer();
  op = await startFakeOp({ behaviour: { accessTokenTtl: ACCESS_TOKEN_TTL_S } });
  op.set({ tokenFault });
  api = await startApi(op);
  const aProc = await startInstance('A', 'a1', { PORT: '0' });
  const a: Instance = { name: 'A', tag: 'a1', proc: aProc, url: aProc.url, up: true };
  instances.push(a);
  watch(a);
  // B builds the same redirect_uri as A (one app behind one URL): the callback may land on either.
  const bProc = await startInstance('B', 'b', { PORT: '0', BASE_URL: a.url });
  const b: Instance = { name: 'B', tag: 'b', proc: bProc, url: bProc.url, up: true };
  instances.push(b);
  watch(b);
  console.log(`redis ${redis.url}, provider ${op.issuer}, API ${api.url}, A ${a.url} (pid ${aProc.pid}), B ${b.url} (pid ${bProc.pid})`);
  console.log(`${USERS} users, ${CONCURRENCY} at a time, ${STEPS} requests each (mean pause ${THINK_MS} ms)`);

  // Users go through a pool of CONCURRENCY workers.
  const perUserMs = STEPS * THINK_MS + 1500;
  const expectedMs = Math.ceil(USERS / CONCURRENCY) * perUserMs;
  let next = 0;
  let finishedUsers = 0;
  usersStarted = Date.now();
  const progress = setInterval(() => console.log(`  ${since(Date.now())} s: ${finishedUsers}/${USERS} users done`), 10_000);
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (next < USERS) {
      const id = next++;
      try {
        await runUser(id);
      } catch (err) {
        if (!(err instanceof DeadlineError)) count.endBroken.push(`user ${id}: ${(err as Error)?.stack ?? String(err)}`);
        else count.endBroken.push(`user ${id}: ${err.message}`);
      }
      finishedUsers++;
    }
  });
  const usersDone = Promise.all(workers).then(() => undefined);
  const faultRun = runFaults(expectedMs, usersDone);
  await usersDone;
  clearInterval(progress);
  await faultRun;

  const markers = allProcesses.flatMap((p) =>
    p
      .stderr()
      .split('\n')
      .filter((l) => /UNHANDLED_REJECTION|UNCAUGHT_EXCEPTION/.test(l)),
  );
  const kill = killInfo ? { ...killInfo, windowMs: TIMEOUT_S * 1000 + 1000 } : undefined;
  const acc = accountGrants(op.tokenGrants, {
    accessTokenTtlSeconds: ACCESS_TOKEN_TTL_S,
    refreshLeewaySeconds: REFRESH_LEEWAY_S,
    ...(kill ? { kill } : {}),
  });
  return report(acc, servedAfterRefusal(op.tokenGrants, count.served, kill), markers) ? 0 : 1;
}

// Stopped from outside (Ctrl-C, a CI timeout): stop everything this run started, then go.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\nload test: ${signal}; stopping everything`);
    void cleanup().finally(() => process.exit(2));
  });
}

const watchdog = setTimeout(() => {
  console.error(`\nload test: no result within ${WATCHDOG_MS / 1000} s; stopping everything`);
  void cleanup().finally(() => process.exit(2));
}, WATCHDOG_MS);

let exitCode = 2;
try {
  exitCode = await main();
} catch (err) {
  console.error('load test: harness failure:', err);
  exitCode = 2;
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
process.exit(exitCode);
