/**
 * The README's quick start as a file: express-session, express-oidc-rp's router, a protected route.
 *
 *   npx tsx examples/minimal/app.ts        # then open http://127.0.0.1:3000 and log in as "alice"
 *
 * It imports the package by its name, as an app does (`npm run build` first, in this repository).
 * Configuration comes from the environment: OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID,
 * OIDC_RP_CLIENT_SECRET, OIDC_RP_BASE_URL, SESSION_SECRET and the rest of README's options table,
 * so `node --env-file=.env --import tsx examples/minimal/app.ts` runs it against your provider
 * (register `<base URL>/oidc/callback` there). With OIDC_OP_ISSUER unset it starts the embedded development
 * provider (examples/dev-provider.ts) on DEV_PROVIDER_PORT (3001) instead, so that one command
 * shows a whole login. PORT (3000) is the app's port.
 */
import express from 'express';
import session from 'express-session';
import { createOidcAuth, type OidcAuthOptions } from 'express-oidc-rp';
import { startDevProvider, type DevProvider } from '../dev-provider.js';

const port = Number(process.env.PORT ?? 3000);
const baseUrl = process.env.OIDC_RP_BASE_URL ?? `http://127.0.0.1:${port}`;

// No provider configured: register this app at an embedded development provider. Everything in
// this block is for trying the example out; with a real provider the environment says it all.
let devProvider: DevProvider | undefined;
let devOptions: OidcAuthOptions = {};
if (!process.env.OIDC_OP_ISSUER) {
  const client = { client_id: 'minimal-example', client_secret: 'minimal-example-secret' };
  devProvider = await startDevProvider({
    port: Number(process.env.DEV_PROVIDER_PORT ?? 3001),
    clients: [{ ...client, redirect_uris: [`${baseUrl}/oidc/callback`], post_logout_redirect_uris: [`${baseUrl}/`] }],
  });
  devOptions = {
    issuer: devProvider.issuer,
    clientId: client.client_id,
    clientSecret: client.client_secret,
    // offline_access: the provider grants a refresh token, which sessionRefresh uses.
    scopes: ['openid', 'email', 'profile', 'offline_access'],
  };
  console.log(`development provider at ${devProvider.issuer}: log in with any name, e.g. "alice", and any password`);
}

const sessionSecret = process.env.SESSION_SECRET ?? (devProvider ? 'minimal-example-session-secret' : undefined);
if (!sessionSecret) throw new Error('set SESSION_SECRET (a long random string) to sign the session cookie');

// Synchronous: every option and OIDC_* variable is checked here, and a bad one stops the app now.
const oidc = createOidcAuth({ baseUrl, ...devOptions });

const app = express();
app.use(
  session({
    secret: sessionSecret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax' }, // + secure: true behind HTTPS (README "Production checklist")
  }),
);
app.use(oidc.router); // GET /oidc/authenticate, GET /oidc/callback, POST /oidc/logout, and sessionRefresh

app.get('/', (req, res) => {
  res
    .type('html')
    .send(
      req.oidc.isAuthenticated()
        ? '<p>Signed in. <a href="/me">/me</a></p><form method="post" action="/oidc/logout"><button>Log out</button></form>'
        : '<p><a href="/oidc/authenticate?next=/me">Log in</a></p>',
    );
});

app.get('/me', oidc.requireAuth(), (req, res) => {
  res.json({ user: req.user, claims: req.oidc.claims });
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`minimal example listening on http://127.0.0.1:${port} (open ${baseUrl})`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  void Promise.all([oidc.close(), devProvider?.close()]).finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
