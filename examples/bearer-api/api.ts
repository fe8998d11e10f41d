/**
 * An API protected by access tokens (README "Protecting APIs"): no session, no cookies, only
 * `Authorization: Bearer <token>`, checked by bearerAuth(), and scope guards. client.ts is a
 * client that obtains a user's token and calls it.
 *
 *   npm run example -- bearer-api      # this API on :3000, the client on :3002: open http://127.0.0.1:3002
 *
 * Alone: `npx tsx examples/bearer-api/api.ts` with PORT and the OIDC_* variables of the provider
 * that issues the tokens (the client id and secret authenticate this API at its introspection
 * endpoint), then `curl -i http://127.0.0.1:3000/api/me`.
 *
 *   route              guard                                                  no token  without the scope       with it
 *   GET /api/me        bearerAuth()                                           401       -                       200
 *   GET /api/profile   bearerAuth({ scopes: ['profile'] })                    401       403 insufficient_scope  200
 *   GET /api/admin     bearerAuth(), then requireAuth({ scopes: ['admin'] })  401       403 insufficient_scope  200
 *
 * The development provider grants openid, email, profile and offline_access, never `admin`: there
 * /api/admin answers 403 to every token, which is the point of showing it.
 */
import express from 'express';
import { createOidcAuth } from 'express-oidc-rp';

const port = Number(process.env.PORT ?? 3000);

// The same configuration as a web app's (issuer, client id and secret); baseUrl names this API.
// The development provider's access tokens are opaque, so bearerAuth() asks its introspection
// endpoint (RFC 7662) about each one, then caches the answer until the token expires.
const oidc = createOidcAuth({ baseUrl: process.env.OIDC_RP_BASE_URL ?? `http://127.0.0.1:${port}` });

const app = express();

app.get('/api/me', oidc.bearerAuth(), (req, res) => {
  res.json({ sub: req.oidc.claims?.sub, scopes: req.oidc.scopes });
});

// The scopes as a bearerAuth() option: one middleware answers 401 or 403 with RFC 6750's challenge.
app.get('/api/profile', oidc.bearerAuth({ scopes: ['profile'] }), (req, res) => {
  res.json({ sub: req.oidc.claims?.sub, profile: 'granted' });
});

// The same check as a separate guard: requireAuth() reads req.oidc, which bearerAuth() filled in,
// and answers a bearer request's missing scope with the same 403 and challenge.
app.get('/api/admin', oidc.bearerAuth(), oidc.requireAuth({ scopes: ['admin'] }), (req, res) => {
  res.json({ sub: req.oidc.claims?.sub, admin: true });
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`bearer-api example: API listening on http://127.0.0.1:${port}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  void oidc.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
