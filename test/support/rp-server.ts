/**
 * A relying-party server as its own Node process, for multi-instance tests:
 *
 *   node --import tsx test/support/rp-server.ts
 *
 * Configured by env: PORT (0 = any), ISSUER, CLIENT_ID, CLIENT_SECRET (optional), OIDC_EXTRA_OPTIONS
 * (more createOidcAuth options as JSON), BASE_URL (defaults to this
 * process's own URL), REDIS_URL, CLIENT_KIND ('node-redis' | 'ioredis': the client given to the
 * library; connect-redis always gets node-redis), optional REDIS_CLUSTER (comma-separated
 * redis:// URLs of a Redis Cluster's masters: then both clients are cluster clients, node-redis
 * createCluster or ioredis Cluster, and REDIS_URL is not read), optional OIDC_TIMEOUT_SECONDS (the library's
 * `timeout`, which sizes the refresh lock TTL) and EXPRESS_MODULE ('express' | 'express4').
 *
 * An unhandled rejection or uncaught exception prints `rp-server: UNHANDLED_REJECTION` (or
 * `UNCAUGHT_EXCEPTION`) and the stack on stderr, and exits with code 70: a crash is never silent.
 *
 * Prints `LISTENING <port>` on stdout when ready. Exits on SIGTERM/SIGINT (closing the server, the
 * Redis clients and the library), and by itself when the parent goes away (IPC disconnect, or
 * re-parenting), so a crashed test run leaves no orphan behind.
 */
import { register } from 'node:module';
import type { AddressInfo } from 'node:net';

// A crash must be visible to the test that started this process (test/load counts these markers).
process.on('unhandledRejection', (reason: unknown) => {
  process.stderr.write(`rp-server: UNHANDLED_REJECTION: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
  process.exit(70);
});
process.on('uncaughtException', (err: Error) => {
  process.stderr.write(`rp-server: UNCAUGHT_EXCEPTION: ${err.stack ?? err.message}\n`);
  process.exit(70);
});

const env = process.env;
const need = (name: string): string => {
  const v = env[name];
  if (!v) {
    process.stderr.write(`rp-server: env ${name} is required\n`);
    process.exit(2);
  }
  return v;
};

// The vitest "express4" project aliases `express` to the `express4` package; do the same here so
// the child process runs the same Express major as the test that spawned it.
if (env.EXPRESS_MODULE === 'express4') {
  const hooks = `export async function resolve(specifier, context, next) {
    return next(specifier === 'express' ? 'express4' : specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url);
}

const { default: express } = await import('express');
const { default: session } = await import('express-session');
const { RedisStore } = await import('connect-redis');
const { createClient, createCluster } = await import('redis');
const { Cluster, Redis } = await import('ioredis');
const { createOidcAuth } = await import('../../src/index.js');
type RedisClientLike = import('../../src/types.js').RedisClientLike;

const issuer = need('ISSUER');
const clientId = need('CLIENT_ID');
// Optional: a private_key_jwt or public client has none (OIDC_EXTRA_OPTIONS then says how it authenticates).
const clientSecret = env.CLIENT_SECRET || undefined;
// More createOidcAuth options as JSON (profile, clientAssertionSigningKey, dpop...).
const extraOptions = env.OIDC_EXTRA_OPTIONS ? (JSON.parse(env.OIDC_EXTRA_OPTIONS) as Record<string, unknown>) : {};
const clusterUrls = env.REDIS_CLUSTER ? env.REDIS_CLUSTER.split(',') : undefined;
const redisUrl = clusterUrls ? '' : need('REDIS_URL');
const clientKind = env.CLIENT_KIND ?? 'node-redis';
if (clientKind !== 'node-redis' && clientKind !== 'ioredis') {
  process.stderr.write(`rp-server: CLIENT_KIND must be node-redis or ioredis, not ${clientKind}\n`);
  process.exit(2);
}

// connect-redis 9 speaks node-redis only (its cluster client too).
const sessionClient = clusterUrls ? createCluster({ rootNodes: clusterUrls.map((url) => ({ url })) }) : createClient({ url: redisUrl });
sessionClient.on('error', (err: Error) => process.stderr.write(`rp-server: session redis error: ${err.message}\n`));
await sessionClient.connect();

let libraryClient: RedisClientLike;
let closeLibrary: () => Promise<unknown>;
if (clientKind === 'ioredis' && clusterUrls) {
  const io = new Cluster(
    clusterUrls.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) })),
    { lazyConnect: true },
  );
  io.on('error', (err: Error) => process.stderr.write(`rp-server: ioredis cluster error: ${err.message}\n`));
  await io.connect();
  libraryClient = io;
  closeLibrary = () => io.quit();
} else if (clusterUrls) {
  const nr = createCluster({ rootNodes: clusterUrls.map((url) => ({ url })) });
  nr.on('error', (err: Error) => process.stderr.write(`rp-server: library redis cluster error: ${err.message}\n`));
  await nr.connect();
  libraryClient = nr;
  closeLibrary = () => nr.close();
} else if (clientKind === 'ioredis') {
  const io = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  io.on('error', (err: Error) => process.stderr.write(`rp-server: ioredis error: ${err.message}\n`));
  await io.connect();
  libraryClient = io;
  closeLibrary = () => io.quit();
} else {
  const nr = createClient({ url: redisUrl });
  nr.on('error', (err: Error) => process.stderr.write(`rp-server: library redis error: ${err.message}\n`));
  await nr.connect();
  libraryClient = nr;
  closeLibrary = () => nr.close();
}

const app = express();
const server = app.listen(Number(env.PORT ?? 0), '127.0.0.1');
await new Promise<void>((resolve, reject) => {
  server.once('listening', resolve);
  server.once('error', reject);
});
const { port } = server.address() as AddressInfo;
const ownUrl = `http://127.0.0.1:${port}`;

const oidc = createOidcAuth({
  issuer,
  clientId,
  clientSecret,
  baseUrl: env.BASE_URL || ownUrl,
  redis: libraryClient,
  env: {},
  ...(env.OIDC_TIMEOUT_SECONDS ? { timeout: Number(env.OIDC_TIMEOUT_SECONDS) } : {}),
  ...extraOptions,
});

app.use(
  session({
    secret: 'multi-instance-secret',
    resave: false,
    saveUninitialized: false,
    store: new RedisStore({ client: sessionClient }),
  }),
);
app.use(oidc.router);
app.get('/me', oidc.requireAuth(), (req, res) => {
  res.json({
    pid: process.pid,
    sub: req.oidc.claims?.sub,
    accessToken: req.oidc.accessToken,
    refreshToken: req.oidc.refreshToken,
    accessTokenExpiresAt: req.oidc.accessTokenExpiresAt,
  });
});
// req.oidc.fetch to the URL given (tests only).
app.get('/call', oidc.requireAuth(), async (req, res, next) => {
  try {
    const r = await req.oidc.fetch(String(req.query.url));
    res.json({ pid: process.pid, status: r.status, body: await r.text() });
  } catch (err) {
    next(err);
  }
});
// Which Express major this child runs (the test checks it matches its own project).
app.get('/health', (_req, res) => {
  res.json({ pid: process.pid, expressMajor: typeof (express as unknown as { query?: unknown }).query === 'function' ? 4 : 5 });
});
app.use(
  (
    err: Error & { code?: string; statusCode?: number },
    _req: import('express').Request,
    res: import('express').Response,
    _next: import('express').NextFunction,
  ) => {
    process.stderr.write(`rp-server: ${err.code ?? 'error'}: ${err.message}\n`);
    res.status(err.statusCode ?? 500).json({ error: err.code ?? 'error', message: err.message });
  },
);

let stopping = false;
async function shutdown(reason: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Whatever happens below, do not linger.
  setTimeout(() => process.exit(code || 1), 2_000).unref();
  try {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await oidc.close();
    await Promise.allSettled([sessionClient.close(), closeLibrary()]);
  } catch (err) {
    process.stderr.write(`rp-server: error during shutdown (${reason}): ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.exit(code);
}

process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
// Parent gone: the IPC channel closes (spawned with an 'ipc' stdio slot)...
if (process.connected) {
  process.once('disconnect', () => void shutdown('parent disconnected'));
  process.channel?.unref();
}
// ...or, without IPC, we get re-parented.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown('parent died');
}, 500).unref();

process.stdout.write(`LISTENING ${port}\n`);
