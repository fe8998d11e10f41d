/**
 * Benchmark target, run as a child process so the load generator does not share its event loop.
 * One app per process, chosen by TARGET:
 *   floor: express + express-session; GET /api reads the session (the cost any session app pays)
 *   ours:  the same + oidc.router (express-oidc-rp, the built package); GET /api behind requireAuth()
 *   eoc:   express-openid-connect's auth() (as its README configures it, with the authorization code
 *          flow and a client secret, as our library uses); GET /api behind requiresAuth()
 * STORE: memory | redis (floor, ours: express-session's MemoryStore or connect-redis);
 *        cookie | redis (eoc: its default encrypted cookie session, or connect-redis as `session.store`).
 * Env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIS_URL, OURS_OPTIONS (JSON, more createOidcAuth options),
 * BENCH_DIST (another build of the library to load: its index.js).
 * Prints "READY <port>". Answers IPC messages: 'cpu' (CPU µs used so far), 'heap' (heap after a full
 * GC), 'sessions' (express-session MemoryStore: count and JSON bytes), 'profile-start' /
 * 'profile-stop' (a V8 CPU profile of this process, written to the path given).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Session as InspectorSession } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import express from 'express';
import session, { type Store } from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
// CommonJS whose exports the ESM loader cannot list (`...require('./requiresAuth')`): the default import.
import eoc from 'express-openid-connect';
import { pathToFileURL } from 'node:url';

const env = process.env;
// The built package, as an app runs it (tsx-transpiled source adds per-closure name helpers);
// BENCH_DIST: another build of it (its index.js), to compare two versions in one run.
const { createOidcAuth }: typeof import('../dist/index.js') = await import(env.BENCH_DIST ? pathToFileURL(env.BENCH_DIST).href : '../dist/index.js');
const TARGET = env.TARGET ?? 'floor';
const STORE = env.STORE ?? 'memory';

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
const baseUrl = `http://127.0.0.1:${port}`;

let redis: ReturnType<typeof createClient> | undefined;
if (STORE === 'redis') {
  redis = createClient({ url: env.REDIS_URL });
  await redis.connect();
}

const memoryStore = STORE === 'memory' ? new session.MemoryStore() : undefined;
const sessionStore = (prefix: string): Store => memoryStore ?? new RedisStore({ client: redis as NonNullable<typeof redis>, prefix });
// The same express-session options for the floor and for ours.
const sessionOptions = (store: Store) => ({ secret: 'bench-secret', resave: false, saveUninitialized: false, store });
const quietLogger = {
  debug() {},
  info() {},
  warn: (m: string, fields?: object) => console.error(m, fields ?? ''),
  error: (m: string, fields?: object) => console.error(m, fields ?? ''),
};
/** Seconds for each call to the provider, when the harness sets it (TargetSpec.providerTimeoutS). */
const providerTimeoutS = env.PROVIDER_TIMEOUT_S ? Number(env.PROVIDER_TIMEOUT_S) : undefined;

const app = express();
let close: () => Promise<void> = async () => {};

/** An unprotected route, mounted where each app mounts its protected ones (the bearer comparison's baseline). */
const open = () =>
  app.get('/open', (_req, res) => {
    res.json({ sub: 'anonymous' });
  });

if (TARGET === 'floor') {
  app.use(session(sessionOptions(sessionStore('floor:sess:'))));
  open();
  app.get('/seed', (req, res) => {
    (req.session as unknown as Record<string, unknown>).user = { sub: 'user-1', email: 'user1@example.com' };
    res.json({ ok: true });
  });
  // The same payload the library keeps in a session, to separate its middleware's cost from the
  // cost of a bigger session (express-session parses, hashes and compares it on every request).
  app.post('/seed-same', express.json(), (req, res) => {
    (req.session as unknown as Record<string, unknown>).oidc = req.body as unknown;
    res.json({ ok: true });
  });
  app.get('/api', (req, res) => {
    type Seeded = { sub?: string; claims?: { sub: string } };
    const s = req.session as unknown as Record<string, (Seeded & { auth?: Seeded }) | undefined>;
    const user = s.user ?? s.oidc?.auth;
    if (!user) {
      res.status(401).json({ error: 'unauthenticated' });
      return;
    }
    // A session seeded with only the claims (bench/instructions.ts "least") has its sub there.
    res.json({ sub: user.sub ?? user.claims?.sub });
  });
} else if (TARGET === 'ours') {
  const oidc = createOidcAuth({
    env: {},
    issuer: env.ISSUER,
    clientId: env.CLIENT_ID,
    clientSecret: env.CLIENT_SECRET,
    baseUrl,
    // A failed login must be told apart from a good one by where it lands.
    loginRedirectUrlFailure: '/login-failed',
    ...(redis ? { redis } : {}),
    logger: quietLogger,
    ...(providerTimeoutS === undefined ? {} : { timeout: providerTimeoutS }),
    ...(JSON.parse(env.OURS_OPTIONS || '{}') as Record<string, unknown>),
  });
  app.use(session(sessionOptions(sessionStore('oidc:sess:'))));
  app.use(oidc.router);
  // The same stack as /bearer (express-session, oidc.router), without bearerAuth().
  open();
  app.get('/bearer', oidc.bearerAuth(), (req, res) => {
    res.json({ sub: req.oidc.claims?.sub });
  });
  app.get('/__session', (req, res) => {
    res.json((req.session as unknown as Record<string, unknown>).oidc);
  });
  app.get('/api', oidc.requireAuth(), (req, res) => {
    res.json({ sub: req.oidc.claims?.sub });
  });
  close = () => oidc.close();
} else if (TARGET === 'eoc') {
  // express-openid-connect's README: issuerBaseURL, baseURL, clientID, secret, idpLogout. The
  // authorization code flow with a client secret (its EXAMPLES.md, "obtaining access tokens"), so
  // both libraries do the same exchange with the provider; routes protected one by one with
  // requiresAuth() (authRequired: false), as oidc.requireAuth() protects ours.
  app.use(
    eoc.auth({
      issuerBaseURL: env.ISSUER as string,
      baseURL: baseUrl,
      clientID: env.CLIENT_ID as string,
      clientSecret: env.CLIENT_SECRET as string,
      secret: 'a-long-random-bench-secret-of-at-least-32-chars',
      idpLogout: true,
      authRequired: false,
      authorizationParams: { response_type: 'code', scope: 'openid profile email' },
      ...(providerTimeoutS === undefined ? {} : { httpTimeout: providerTimeoutS * 1000 }),
      // Its EXAMPLES.md "Use a custom session store": an express-session compatible store.
      ...(redis ? { session: { store: new RedisStore({ client: redis, prefix: 'eoc:sess:' }) as never } } : {}),
    }),
  );
  open();
  app.get('/api', eoc.requiresAuth(), (req, res) => {
    // Its req.oidc (express-oidc-rp's declaration of req.oidc is the one TypeScript sees here).
    res.json({ sub: (req as unknown as { oidc: { user?: { sub?: string } } }).oidc.user?.sub });
  });
} else {
  throw new Error(`unknown TARGET ${TARGET}`);
}
app.get('/login-failed', (_req, res) => {
  res.status(500).json({ error: 'login failed' });
});
server.on('request', app);

// --- measurement hooks, on IPC ---------------------------------------------------------------

const gc = (globalThis as { gc?: () => void }).gc;
let inspector: InspectorSession | undefined;
const post = <T>(method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) => (inspector as InspectorSession).post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));

type Message = { cmd: string; path?: string; intervalUs?: number };
process.on('message', async (raw: string | Message) => {
  const msg: Message = typeof raw === 'string' ? { cmd: raw } : raw;
  const reply = (body: object) => process.send?.({ cmd: msg.cmd, ...body });
  if (msg.cmd === 'cpu') {
    // CPU time of this process: the load generator reads it around each round, so the cost per
    // request is measured where it is spent, independent of how the generator is scheduled.
    const { user, system } = process.cpuUsage();
    reply({ cpu: user + system });
  } else if (msg.cmd === 'heap') {
    if (!gc) throw new Error('start the target with --expose-gc');
    gc();
    gc();
    const m = process.memoryUsage();
    reply({ heapUsed: m.heapUsed, rss: m.rss, external: m.external });
  } else if (msg.cmd === 'sessions') {
    const all = (memoryStore as unknown as { sessions?: Record<string, string> } | undefined)?.sessions ?? {};
    const values = Object.values(all);
    reply({ count: values.length, bytes: values.reduce((n, v) => n + Buffer.byteLength(v), 0) });
  } else if (msg.cmd === 'profile-start') {
    inspector = new InspectorSession();
    inspector.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: msg.intervalUs ?? 100 });
    await post('Profiler.start');
    reply({ ok: true });
  } else if (msg.cmd === 'profile-stop') {
    const { profile } = await post<{ profile: object }>('Profiler.stop');
    writeFileSync(msg.path as string, JSON.stringify(profile));
    inspector?.disconnect();
    reply({ ok: true });
  }
});
process.stdout.write(`READY ${port}\n`);
const stop = () => {
  server.closeAllConnections();
  server.close();
  void close();
  void redis?.quit();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
