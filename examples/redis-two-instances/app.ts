/**
 * One instance of an app that runs as several processes behind a load balancer: sessions
 * (connect-redis) and the library's state (token sets, the refresh lock, the logout index) are in
 * one Redis, given to both as the same node-redis client (README "Several instances (Redis)").
 * Log in on one instance, and the other knows you; refresh on one, and the other uses the new
 * tokens.
 *
 *   npm run example -- redis-two-instances     # instances A on :3000 and B on :3002, one Redis
 *
 * Each process is started as `npx tsx examples/redis-two-instances/app.ts` with its own PORT and
 * the same REDIS_URL (default redis://127.0.0.1:6379; a Redis must be running), SESSION_SECRET
 * and OIDC_* variables. INSTANCE names it in its answers (default: its port).
 */
import { createHash } from 'node:crypto';
import express from 'express';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { createOidcAuth } from 'express-oidc-rp';

const port = Number(process.env.PORT ?? 3000);
const instance = process.env.INSTANCE ?? String(port);
const sessionSecret = process.env.SESSION_SECRET;
if (!sessionSecret) throw new Error('set SESSION_SECRET (the same long random string on every instance)');

const redis = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
redis.on('error', (err: Error) => console.error(`redis: ${err.message}`));
await redis.connect();

// One client for both: connect-redis 9 takes node-redis only, and the library accepts it too.
const oidc = createOidcAuth({ baseUrl: process.env.OIDC_RP_BASE_URL ?? `http://127.0.0.1:${port}`, redis });

const app = express();
app.use(
  session({
    store: new RedisStore({ client: redis }),
    // The same secret (and cookie name) on every instance: each must read the others' cookies.
    secret: sessionSecret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax' },
  }),
);
app.use(oidc.router);

// Which access token a request carries, without showing it: the same fingerprint on two
// instances means they use one token set.
const fingerprint = (token: string | undefined) => (token ? createHash('sha256').update(token).digest('hex').slice(0, 12) : null);

app.get('/', (req, res) => {
  res.type('html').send(
    req.oidc.isAuthenticated()
      ? `<p>Instance ${instance}: signed in as ${req.oidc.claims?.sub}. <a href="/me">/me</a></p>
<form method="post" action="/refresh"><button>Refresh the tokens</button></form>
<form method="post" action="/oidc/logout"><button>Log out</button></form>`
      : `<p>Instance ${instance}: <a href="/oidc/authenticate?next=/me">Log in</a></p>`,
  );
});

app.get('/me', oidc.requireAuth(), (req, res) => {
  res.json({ instance, sub: req.oidc.claims?.sub, accessToken: fingerprint(req.oidc.accessToken), expiresAt: req.oidc.accessTokenExpiresAt });
});

// A refresh grant now (README "req.oidc and req.user"): one grant per login, whichever instance asks.
app.post('/refresh', oidc.requireAuth(), async (req, res, next) => {
  try {
    await req.oidc.refresh();
    res.json({ instance, accessToken: fingerprint(req.oidc.accessToken), expiresAt: req.oidc.accessTokenExpiresAt });
  } catch (err) {
    next(err);
  }
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`redis-two-instances example, instance ${instance}, listening on http://127.0.0.1:${port}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  void oidc
    .close()
    .then(() => redis.quit())
    .finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
