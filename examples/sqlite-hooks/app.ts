/**
 * User hooks backed by a real table: each login finds, creates or updates a row of an SQLite
 * database (better-sqlite3), and the session keeps only the row's id. The hooks are in users.ts.
 *
 *   npm run example -- sqlite-hooks                              # with the development provider
 *   node --env-file=.env --import tsx examples/sqlite-hooks/app.ts   # with your provider (OIDC_* variables)
 *
 * DATABASE_PATH (default examples/sqlite-hooks/users.sqlite) is the database file, created on
 * first start. INVITE_EMAILS (comma separated) adds rows known by email only, which the first
 * login with that verified address claims. PORT (3000), SESSION_SECRET, and the OIDC_* variables
 * of README's options table configure the rest.
 */
import { fileURLToPath } from 'node:url';
import express from 'express';
import session from 'express-session';
import { createOidcAuth } from 'express-oidc-rp';
import { inviteUser, openUserDatabase, userHooks } from './users.js';

const port = Number(process.env.PORT ?? 3000);
const sessionSecret = process.env.SESSION_SECRET;
if (!sessionSecret) throw new Error('set SESSION_SECRET (a long random string) to sign the session cookie');

const db = openUserDatabase(process.env.DATABASE_PATH ?? fileURLToPath(new URL('./users.sqlite', import.meta.url)));
for (const email of (process.env.INVITE_EMAILS ?? '').split(',').filter(Boolean)) {
  const known = db.prepare('SELECT 1 FROM users WHERE email = ?').get(email);
  if (!known) inviteUser(db, email);
}

const oidc = createOidcAuth({
  baseUrl: process.env.OIDC_RP_BASE_URL ?? `http://127.0.0.1:${port}`,
  hooks: userHooks(db),
  // A refused login (verifyClaims said no, several rows matched) lands here; the server log says why.
  loginRedirectUrlFailure: '/login-failed',
});

const app = express();
app.use(session({ secret: sessionSecret, resave: false, saveUninitialized: false, cookie: { httpOnly: true, sameSite: 'lax' } }));
app.use(oidc.router);

app.get('/', (req, res) => {
  res
    .type('html')
    .send(
      req.user
        ? `<p>Signed in as user #${req.user.id}. <a href="/me">/me</a></p><form method="post" action="/oidc/logout"><button>Log out</button></form>`
        : '<p><a href="/oidc/authenticate?next=/me">Log in</a></p>',
    );
});

// req.user is the row deserializeUser read for this request.
app.get('/me', oidc.requireAuth(), (req, res) => {
  res.json({ user: req.user });
});

app.get('/login-failed', (_req, res) => {
  res.status(403).type('html').send('<p>That login was refused (a verified email address is required). <a href="/">Home</a></p>');
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`sqlite-hooks example listening on http://127.0.0.1:${port}, users in ${db.name}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  void oidc.close().finally(() => {
    db.close();
    process.exit(0);
  });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
