/**
 * An app under the strictest usual compiler settings (tsconfig.json here: strict,
 * noUncheckedIndexedAccess, exactOptionalPropertyTypes, noPropertyAccessFromIndexSignature, and the
 * package's own declarations checked), typing `req.user` by augmenting Express.User.
 *
 *   npm run example -- typescript-strict             # run it, with the development provider
 *   npx tsc -p examples/typescript-strict            # type-check it (after `npm run build`)
 *
 * type-errors.ts beside it lists what these settings refuse; tsc fails if one of them compiles.
 */
import express, { type ErrorRequestHandler } from 'express';
import session from 'express-session';
import { createOidcAuth, isOidcError, type OidcClaims, type OidcHooks } from 'express-oidc-rp';

declare global {
  namespace Express {
    // req.user, and what the user hooks take and return. (passport users augment the same interface.)
    interface User {
      sub: string;
      email: string | null;
      displayName: string;
    }
  }
}

// The standard claims (OIDC Core 5.1) are typed, optional: `claims.email` is `string | undefined`.
// A provider's own claims are `unknown` until narrowed (noPropertyAccessFromIndexSignature:
// claims['tenant_role'], not claims.tenant_role, says it may be absent).
function stringClaim(claims: OidcClaims, name: string): string | null {
  const value = claims[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

const userFromClaims = (claims: OidcClaims): Express.User => ({
  sub: claims.sub,
  email: claims.email ?? null,
  displayName: claims.name ?? claims.preferred_username ?? stringClaim(claims, 'nickname') ?? claims.sub,
});

// `satisfies` keeps the object's own type and types each hook's parameters from OidcHooks.
const hooks = {
  createUser: (claims) => userFromClaims(claims),
  updateUser: (_user, claims) => userFromClaims(claims),
} satisfies OidcHooks;

const port = Number(process.env['PORT'] ?? 3000);
const sessionSecret = process.env['SESSION_SECRET'];
if (sessionSecret === undefined) throw new Error('set SESSION_SECRET (a long random string) to sign the session cookie');

// The provider from the environment (OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID, OIDC_RP_CLIENT_SECRET).
// The README quick start's pattern: options straight from process.env (string | undefined), which
// exactOptionalPropertyTypes accepts because every option is declared `?: T | undefined`.
const oidc = createOidcAuth({
  baseUrl: process.env['OIDC_RP_BASE_URL'] ?? `http://127.0.0.1:${port}`,
  clientSecret: process.env['OIDC_RP_CLIENT_SECRET'],
  hooks,
});

const app = express();
app.use(session({ secret: sessionSecret, resave: false, saveUninitialized: false, cookie: { httpOnly: true, sameSite: 'lax' } }));
app.use(oidc.router);

app.get('/', (req, res) => {
  res
    .type('html')
    .send(
      req.user ? `<p>Signed in as ${escapeHtml(req.user.displayName)}. <a href="/me">/me</a></p>` : '<p><a href="/oidc/authenticate?next=/me">Log in</a></p>',
    );
});

app.get('/me', oidc.requireAuth(), (req, res) => {
  // requireAuth() let the request in, but types cannot say so: req.user is still `User | undefined`.
  const user = req.user;
  if (user === undefined) {
    res.status(401).end();
    return;
  }
  const expiresAt: number | undefined = req.oidc.accessTokenExpiresAt;
  res.json({ user, scopes: req.oidc.scopes, accessTokenExpiresAt: expiresAt ?? null });
});

// Errors reach Express as `unknown`; isOidcError narrows them to OidcError and its `code` union.
const onError: ErrorRequestHandler = (err: unknown, _req, res, next) => {
  if (!isOidcError(err)) return next(err);
  res.status(err.statusCode ?? 500).json({ error: err.code });
};
app.use(onError);

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`typescript-strict example listening on http://127.0.0.1:${port}`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void oidc.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
