// An app in CommonJS on Express 4: `require('express-oidc-rp')` loads the package, an ES module,
// through Node's require(esm), which Node >= 20.19 has on by default (the package's "engines").
//
//   npm run example -- commonjs-express4
//   node examples/commonjs-express4/app.cjs     # with PORT, SESSION_SECRET and the OIDC_* variables
//
// In this repository `express` is Express 5, so those commands run it on Express 5. With
// `npm install express@4 express-session express-oidc-rp` in your project it runs on Express 4 as
// written, which is how test/examples/commonjs-express4.test.ts runs it: this file, unchanged,
// in a project whose `express` is Express 4. The first line it prints names the Express version.
'use strict';

const express = require('express');
const session = require('express-session');
const { createOidcAuth } = require('express-oidc-rp');

const port = Number(process.env.PORT || 3000);
if (!process.env.SESSION_SECRET) throw new Error('set SESSION_SECRET (a long random string) to sign the session cookie');

// Everything else from the environment: OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID, OIDC_RP_CLIENT_SECRET...
const oidc = createOidcAuth({ baseUrl: process.env.OIDC_RP_BASE_URL || `http://127.0.0.1:${port}` });

const app = express();
app.use(
  session({
    secret: process.env.SESSION_SECRET,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax' },
  }),
);
app.use(oidc.router);

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
  res.json({ user: req.user, express: require('express/package.json').version });
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`commonjs-express4 example on Express ${require('express/package.json').version}, listening on http://127.0.0.1:${port}`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  oidc.close().finally(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
