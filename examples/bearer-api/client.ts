/**
 * A client of the API in api.ts: it obtains the user's access token with a login (the
 * authorization code flow, through express-oidc-rp) and calls the API with it, showing each
 * answer. Run with the API by `npm run example -- bearer-api`, then open http://127.0.0.1:3002.
 *
 * Alone: `npx tsx examples/bearer-api/client.ts` with PORT (3002), API_URL (http://127.0.0.1:3000),
 * SESSION_SECRET and the OIDC_* variables; register `<this URL>/oidc/callback` at the provider.
 */
import express from 'express';
import session from 'express-session';
import { createOidcAuth } from 'express-oidc-rp';

const port = Number(process.env.PORT ?? 3002);
const apiUrl = process.env.API_URL ?? 'http://127.0.0.1:3000';
const sessionSecret = process.env.SESSION_SECRET;
if (!sessionSecret) throw new Error('set SESSION_SECRET (a long random string) to sign the session cookie');

const oidc = createOidcAuth({ baseUrl: process.env.OIDC_RP_BASE_URL ?? `http://127.0.0.1:${port}` });

const app = express();
app.use(session({ secret: sessionSecret, resave: false, saveUninitialized: false, cookie: { httpOnly: true, sameSite: 'lax' } }));
app.use(oidc.router);

interface Answer {
  call: string;
  status: number;
  wwwAuthenticate: string | null;
  body: unknown;
}

async function answer(call: string, response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (an empty 401): keep the text
  }
  return { call, status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), body };
}

// Signed in (requireAuth sends the browser to the login first): call the API without a token, with
// a made-up one, then with the user's on each route.
app.get('/', oidc.requireAuth(), async (req, res, next) => {
  try {
    const answers = [
      // What a caller without a token, or with a made-up one, gets.
      await answer('GET /api/me without a token', await fetch(`${apiUrl}/api/me`)),
      await answer('GET /api/me with an invalid token', await fetch(`${apiUrl}/api/me`, { headers: { authorization: 'Bearer not-a-real-token' } })),
      // req.oidc.fetch sends the session's access token as `Authorization: Bearer` (and, should the
      // API answer 401 invalid_token, refreshes it once and retries).
      await answer('GET /api/me', await req.oidc.fetch(`${apiUrl}/api/me`)),
      await answer('GET /api/profile', await req.oidc.fetch(`${apiUrl}/api/profile`)),
      await answer('GET /api/admin', await req.oidc.fetch(`${apiUrl}/api/admin`)),
    ];
    for (const a of answers) console.log(`${a.call}: ${a.status}${a.wwwAuthenticate ? ` (WWW-Authenticate: ${a.wwwAuthenticate})` : ''}`);
    res.json({ signedInAs: req.oidc.claims?.sub, scopes: req.oidc.scopes, answers });
  } catch (err) {
    next(err);
  }
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`bearer-api example: client listening on http://127.0.0.1:${port}, calling the API at ${apiUrl}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  void oidc.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
