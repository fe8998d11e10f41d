/**
 * The demo: a small Express app using express-oidc-rp. `npm start` runs it (examples/demo.ts).
 *
 * With no OIDC_* environment it starts an embedded development provider (oidc-provider, see
 * dev-provider.ts) so a newcomer sees a working login with no account anywhere; with
 * OIDC_OP_ISSUER (or explicit endpoints), OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET set, it
 * logs in against that real provider instead.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import { createOidcAuth, type OidcAuth, type OidcAuthOptions } from '../src/index.js';
import { startDevProvider, type DevProvider } from './dev-provider.js';

const escapeHtml = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}
pre{background:#f4f4f4;padding:1rem;overflow:auto}button,a.button{font:inherit;padding:.4rem .9rem}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

export function createDemoApp(oidc: OidcAuth, sessionSecret: string): express.Express {
  const app = express();
  app.use(
    session({
      name: 'demo.sid',
      secret: sessionSecret,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    }),
  );
  app.use(oidc.router);

  app.get('/', (req, res) => {
    if (req.oidc.isAuthenticated()) {
      const claims = req.oidc.claims as NonNullable<typeof req.oidc.claims>; // present when authenticated
      res.send(
        page(
          'express-oidc-rp demo',
          `<p id="greeting">Signed in as <strong>${escapeHtml(claims.name ?? claims.sub)}</strong> (${escapeHtml(claims.email ?? 'no email')}).</p>
<p><a href="/profile">Profile (protected page)</a> · <a href="/api/me">/api/me (protected JSON)</a></p>
<form method="post" action="/oidc/logout"><button id="logout" type="submit">Log out</button></form>`,
        ),
      );
      return;
    }
    res.send(
      page(
        'express-oidc-rp demo',
        `<p id="greeting">You are not signed in.</p><p><a id="login" class="button" href="/oidc/authenticate?next=/profile">Log in</a></p>`,
      ),
    );
  });

  app.get('/profile', oidc.requireAuth(), (req, res) => {
    res.send(
      page(
        'Profile',
        `<p id="profile-sub">sub: ${escapeHtml(req.oidc.claims?.sub)}</p>
<p>Access token expires at: ${escapeHtml(req.oidc.accessTokenExpiresAt ? new Date(req.oidc.accessTokenExpiresAt * 1000).toISOString() : 'unknown')}</p>
<p>Refresh token stored: ${req.oidc.refreshToken ? 'yes' : 'no'}</p>
<h2>Claims</h2><pre id="claims">${escapeHtml(JSON.stringify(req.oidc.claims, null, 2))}</pre>
<p><a href="/">Home</a></p>`,
      ),
    );
  });

  app.get('/api/me', oidc.requireAuth(), (req, res) => {
    res.json({ user: req.user, claims: req.oidc.claims });
  });
  return app;
}

export interface DemoOptions {
  /** Port of the demo app (default 3000; 0 = any free port). */
  port?: number;
  /** Port of the embedded development provider (default 3001; 0 = any). */
  providerPort?: number;
  env?: Record<string, string | undefined>;
}

export interface RunningDemo {
  url: string;
  provider: DevProvider | undefined;
  oidc: OidcAuth;
  close(): Promise<void>;
}

const listen = (server: Server, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: the demo is for this machine.
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

/** True when the environment configures a real provider. */
export function hasProviderEnv(env: Record<string, string | undefined>): boolean {
  return Boolean(env.OIDC_RP_CLIENT_ID && (env.OIDC_OP_ISSUER || env.OIDC_OP_AUTHORIZATION_ENDPOINT));
}

export async function startDemo(opts: DemoOptions = {}): Promise<RunningDemo> {
  const env = opts.env ?? process.env;
  const server = createServer();
  const port = await listen(server, opts.port ?? 3000);
  const url = env.OIDC_RP_BASE_URL ?? `http://127.0.0.1:${port}`;

  let provider: DevProvider | undefined;
  let options: OidcAuthOptions = { env, baseUrl: url };
  if (!hasProviderEnv(env)) {
    provider = await startDevProvider({
      port: opts.providerPort ?? 3001,
      clients: [
        {
          client_id: 'demo-app',
          client_secret: 'demo-app-secret-change-me',
          redirect_uris: [`${url}/oidc/callback`],
          post_logout_redirect_uris: [`${url}/`],
        },
      ],
    });
    options = {
      ...options,
      issuer: provider.issuer,
      clientId: 'demo-app',
      clientSecret: 'demo-app-secret-change-me',
      scopes: ['openid', 'email', 'profile', 'offline_access'],
    };
  }
  const oidc = createOidcAuth(options);
  const app = createDemoApp(oidc, env.SESSION_SECRET ?? 'demo-session-secret-change-me');
  server.on('request', app);

  return {
    url,
    provider,
    oidc,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await oidc.close();
      await provider?.close();
    },
  };
}
