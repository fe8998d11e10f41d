/**
 * Benchmark target, run as a child process so the load generator does not share its event loop.
 * Serves two apps on two ports, identical but for express-oidc-rp:
 *   bare: express + express-session, GET /api reads the session
 *   oidc: the same + oidc.router, GET /api behind requireAuth, through sessionRefresh
 * Env: ISSUER, CLIENT_ID, CLIENT_SECRET, STORE (memory | redis), REDIS_URL.
 * Prints "READY <barePort> <oidcPort>".
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session, { type Store } from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
// The built package, as an app runs it (tsx-transpiled source adds per-closure name helpers).
import { createOidcAuth } from '../dist/index.js';

const env = process.env;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

let redis: ReturnType<typeof createClient> | undefined;
async function makeStore(prefix: string): Promise<Store> {
  if (env.STORE !== 'redis') return new session.MemoryStore();
  if (!redis) {
    redis = createClient({ url: env.REDIS_URL });
    await redis.connect();
  }
  return new RedisStore({ client: redis, prefix });
}

const sessionOptions = (store: Store) => ({ secret: 'bench-secret', resave: false, saveUninitialized: false, store });

const bareServer = createServer();
const oidcServer = createServer();
const barePort = await listen(bareServer);
const oidcPort = await listen(oidcServer);

const bare = express();
bare.use(session(sessionOptions(await makeStore('bare:'))));
bare.get('/seed', (req, res) => {
  (req.session as unknown as Record<string, unknown>).user = { sub: 'user-1', email: 'user1@example.com' };
  res.json({ ok: true });
});
// The same payload the library keeps in a session, to separate its middleware's cost from the
// cost of a bigger session (express-session parses, hashes and compares it on every request).
bare.post('/seed-same', express.json(), (req, res) => {
  (req.session as unknown as Record<string, unknown>).oidc = req.body as unknown;
  res.json({ ok: true });
});
bare.get('/api', (req, res) => {
  const s = req.session as unknown as Record<string, { sub: string; auth?: { sub: string } } | undefined>;
  const user = s.user ?? s.oidc?.auth;
  if (!user) {
    res.status(401).json({ error: 'unauthenticated' });
    return;
  }
  res.json({ sub: user.sub });
});
bareServer.on('request', bare);

const oidc = createOidcAuth({
  env: {},
  issuer: env.ISSUER,
  clientId: env.CLIENT_ID,
  clientSecret: env.CLIENT_SECRET,
  baseUrl: `http://127.0.0.1:${oidcPort}`,
  ...(env.STORE === 'redis' && redis ? { redis } : {}),
  logger: { debug() {}, info() {}, warn: (m) => console.error(m), error: (m) => console.error(m) },
});
const app = express();
app.use(session(sessionOptions(await makeStore('oidc:sess:'))));
app.use(oidc.router);
// API routes: the same handler without and with bearerAuth (a cached, valid JWT access token).
app.get('/open', (_req, res) => {
  res.json({ sub: 'anonymous' });
});
app.get('/bearer', oidc.bearerAuth(), (req, res) => {
  res.json({ sub: req.oidc.claims?.sub });
});
app.get('/__session', (req, res) => {
  res.json((req.session as unknown as Record<string, unknown>).oidc);
});
app.get('/api', oidc.requireAuth(), (req, res) => {
  res.json({ sub: req.oidc.claims?.sub });
});
oidcServer.on('request', app);

// CPU time of this process, on request: the load generator reads it around each round, so the
// cost per request is measured where it is spent, independent of how the generator is scheduled.
process.on('message', (msg) => {
  if (msg === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpu: user + system });
  }
});
process.stdout.write(`READY ${barePort} ${oidcPort}\n`);
const stop = () => {
  bareServer.closeAllConnections();
  oidcServer.closeAllConnections();
  bareServer.close();
  oidcServer.close();
  void oidc.close();
  void redis?.quit();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
