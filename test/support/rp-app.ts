/**
 * A relying-party app for integration tests: express + express-session + express-oidc-rp on
 * 127.0.0.1, with a protected JSON route. The server listens before the library is configured,
 * so baseUrl (and the redirect_uri registered at the provider) can use the real port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session, { type Store } from 'express-session';
import request from 'supertest';
import { createOidcAuth, type OidcAuth } from '../../src/index.js';
import type { OidcAuthOptions } from '../../src/types.js';
import { captureLogger, type CapturedLog } from './logger.js';

/** GET /me of the test apps: who the request is, and its tokens, as JSON. */
export function sendMe(req: express.Request, res: express.Response): void {
  res.json({
    user: req.user,
    claims: req.oidc.claims,
    accessToken: req.oidc.accessToken,
    refreshToken: req.oidc.refreshToken,
    idToken: req.oidc.idToken,
    accessTokenExpiresAt: req.oidc.accessTokenExpiresAt,
  });
}

export interface RpApp {
  url: string;
  oidc: OidcAuth;
  agent: ReturnType<typeof request.agent>;
  /** Messages the library logged, for asserting that failures say why. */
  logs: CapturedLog[];
  store: Store;
  close(): Promise<void>;
}

export interface ReservedPort {
  url: string;
  server: Server;
}

/** Listen first (port 0) so the URL is known before the provider and the library are configured. */
export async function reservePort(): Promise<ReservedPort> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}

export interface RpAppOptions {
  reserved?: ReservedPort;
  /** Options for createOidcAuth; baseUrl defaults to the app's URL. */
  oidc: OidcAuthOptions;
  store?: Store;
  /** Mount express-session (default true). */
  withSession?: boolean;
}

export async function startRpApp(opts: RpAppOptions): Promise<RpApp> {
  const reserved = opts.reserved ?? (await reservePort());
  const logs: RpApp['logs'] = [];
  const store = opts.store ?? new session.MemoryStore();
  const oidc = createOidcAuth({ baseUrl: reserved.url, logger: captureLogger(logs), env: {}, ...opts.oidc });

  const app = express();
  if (opts.withSession !== false) {
    app.use(session({ secret: 'test-session-secret', resave: false, saveUninitialized: false, store }));
  }
  app.use(oidc.router);
  app.get('/', (_req, res) => {
    res.type('text/plain').send('home');
  });
  app.get('/me', oidc.requireAuth(), sendMe);
  // req.oidc.fetch to the URL given (tests only: a real app never lets the browser pick the URL).
  app.get('/call', async (req, res, next) => {
    try {
      const r = await req.oidc.fetch(String(req.query.url));
      res.json({ status: r.status, body: await r.text(), wwwAuthenticate: r.headers.get('www-authenticate') });
    } catch (err) {
      next(err);
    }
  });
  // req.oidc.refresh(): a refresh grant on demand; answers the tokens req.oidc shows afterwards.
  app.post('/refresh-now', oidc.requireAuth(), async (req, res, next) => {
    try {
      await req.oidc.refresh();
      res.json({ accessToken: req.oidc.accessToken, accessTokenExpiresAt: req.oidc.accessTokenExpiresAt });
    } catch (err) {
      next(err);
    }
  });
  // An API that refuses every token as invalid (RFC 6750 3.1).
  app.get('/always-invalid-token', (_req, res) => {
    res.status(401).set('www-authenticate', 'Bearer error="invalid_token"').end();
  });
  app.get('/whoami', (req, res) => {
    res.json({ authenticated: req.oidc?.isAuthenticated() ?? false, user: req.user ?? null });
  });
  // Surface errors (e.g. a missing express-session) as JSON so tests can read them.
  app.use((err: Error & { code?: string; statusCode?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.statusCode ?? 500).json({ error: err.code ?? 'error', message: err.message });
  });
  reserved.server.on('request', app);

  return {
    url: reserved.url,
    oidc,
    agent: request.agent(reserved.url),
    logs,
    store,
    async close() {
      await oidc.close();
      reserved.server.closeAllConnections();
      await new Promise<void>((resolve) => reserved.server.close(() => resolve()));
    },
  };
}
