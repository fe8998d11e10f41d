/**
 * The demo: a small Express app using express-oidc-rp. `npm start` runs it (examples/demo.ts);
 * its pages are in demo-pages.ts.
 *
 * Which provider it logs in at:
 * - no OIDC_* environment: an embedded development provider (oidc-provider, see dev-provider.ts),
 *   so a newcomer sees a working login with no account anywhere;
 * - DEMO_PROVIDER_ISSUER: the embedded provider of another demo process (two processes behind one
 *   Redis, see README "Two commands"), with the demo's client;
 * - OIDC_OP_ISSUER (or explicit endpoints), OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET: that
 *   real provider.
 *
 * REDIS_URL puts the sessions (connect-redis) and the library's token sets and refresh locks
 * (the `redis` option) in that Redis, through one node-redis client, as README "Several instances
 * (Redis)" shows; two demo processes with the same REDIS_URL and SESSION_SECRET then share every
 * login.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session, { type Store } from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { createOidcAuth, isOidcError, type OidcAuth, type OidcAuthOptions } from '../src/index.js';
import { defaultAccounts, startDevProvider, type DevProvider, type DevProviderClient } from './dev-provider.js';
import { homePage, profilePage, secondsLeft, type DemoInfo, type RefreshNotice, type TokenView } from './demo-pages.js';

declare module 'express-session' {
  interface SessionData {
    /** What "Refresh now" did, shown once by the next profile page (post/redirect/get). */
    demoNotice?: RefreshNotice;
  }
}

/** The demo's client at the development provider; every demo process uses the same one. */
export const DEMO_CLIENT = { clientId: 'demo-app', clientSecret: 'demo-app-secret-change-me' } as const;

/**
 * Seconds. Short, so that an access token visibly expires and is renewed while you watch: the
 * library refreshes it by itself `refreshLeewaySeconds` (30) before expiry, here half-way.
 */
export const DEMO_ACCESS_TOKEN_TTL = 60;

/** The login name the home page offers, and a sample password (the development provider checks none). */
const DEV_LOGIN = 'alice';
const DEV_PASSWORD = 'wonderland';

// offline_access asks for a refresh token, without which "Refresh now" has nothing to refresh.
const DEV_SCOPES = ['openid', 'email', 'profile', 'offline_access'];

const fingerprint = (token: string | undefined): string | undefined =>
  token === undefined ? undefined : createHash('sha256').update(token).digest('base64url').slice(0, 10);

function tokenView(req: express.Request): TokenView {
  return { expiresAt: req.oidc.accessTokenExpiresAt, fingerprint: fingerprint(req.oidc.accessToken) };
}

export interface DemoAppOptions {
  oidc: OidcAuth;
  sessionSecret: string;
  /** express-session's store; its MemoryStore when absent (one process only). */
  store?: Store;
  info: DemoInfo;
}

export function createDemoApp({ oidc, sessionSecret, store, info }: DemoAppOptions): express.Express {
  const app = express();
  app.use(
    session({
      // One cookie name and secret for every demo process: browsers send 127.0.0.1's cookies to
      // each of its ports, so with a shared store a login on one port is a login on the others.
      name: 'demo.sid',
      secret: sessionSecret,
      ...(store && { store }),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    }),
  );
  app.use(oidc.router);

  app.get('/', (req, res) => {
    const claims = req.oidc.isAuthenticated() ? req.oidc.claims : undefined;
    const signedIn = claims && {
      name: String(claims.name ?? claims.preferred_username ?? claims.sub),
      email: typeof claims.email === 'string' ? claims.email : undefined,
    };
    res.set('cache-control', 'no-store').send(homePage(info, signedIn));
  });

  app.get('/profile', oidc.requireAuth(), (req, res) => {
    const notice = req.session.demoNotice;
    delete req.session.demoNotice;
    res.set('cache-control', 'no-store').send(
      profilePage(info, {
        sub: String(req.oidc.claims?.sub),
        user: req.user,
        claims: req.oidc.claims,
        token: tokenView(req),
        hasRefreshToken: req.oidc.refreshToken !== undefined,
        scopes: req.oidc.scopes,
        notice,
      }),
    );
  });

  // A plain form POST: the session cookie is SameSite=Lax, so another site cannot make a
  // signed-in browser send it here (requireAuth would send that request to login instead).
  app.post('/profile/refresh', oidc.requireAuth(), (req, res, next) => {
    const before = tokenView(req);
    req.oidc.refresh().then(
      () => {
        req.session.demoNotice = { kind: 'refreshed', before, after: tokenView(req) };
        res.redirect(303, '/profile');
      },
      (err: unknown) => {
        // No refresh token, provider down, refresh token refused: say so on the page.
        if (!isOidcError(err)) return next(err);
        req.session.demoNotice = { kind: 'failed', code: err.code, message: err.message };
        res.redirect(303, '/profile');
      },
    );
  });

  app.get('/api/me', oidc.requireAuth(), (req, res) => {
    const { expiresAt, fingerprint } = tokenView(req);
    res.set('cache-control', 'no-store').json({
      served_by: info.servedBy,
      user: req.user,
      scopes: req.oidc.scopes,
      access_token: {
        expires_at: expiresAt === undefined ? null : new Date(expiresAt * 1000).toISOString(),
        expires_in: secondsLeft(expiresAt) ?? null,
        fingerprint: fingerprint ?? null,
      },
    });
  });
  return app;
}

export interface DemoOptions {
  /** Port of the demo app (default 3000; 0 = any free port). */
  port?: number;
  /** Port of the embedded development provider (default 3001; 0 = any). */
  providerPort?: number;
  /** Default process.env: the OIDC_* settings, REDIS_URL, SESSION_SECRET, DEMO_PEER_URLS, DEMO_PROVIDER_ISSUER. */
  env?: Record<string, string | undefined>;
}

export interface RunningDemo {
  url: string;
  /** The embedded development provider, when this process runs one. */
  provider: DevProvider | undefined;
  issuer: string | undefined;
  sessionStore: DemoInfo['sessionStore'];
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

/** DEMO_PEER_URLS: base URLs of other demo processes that will use this process's embedded provider. */
export function peerUrls(env: Record<string, string | undefined>): string[] {
  const raw = env.DEMO_PEER_URLS ?? '';
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      if (!URL.canParse(s)) throw new Error(`DEMO_PEER_URLS: "${s}" is not a URL (expected e.g. http://127.0.0.1:3002)`);
      return new URL(s).href.replace(/\/$/, '');
    });
}

/** The demo's client at the embedded provider: this process's callback and every peer's. */
function demoClient(baseUrls: string[]): DevProviderClient {
  return {
    client_id: DEMO_CLIENT.clientId,
    client_secret: DEMO_CLIENT.clientSecret,
    redirect_uris: baseUrls.map((u) => `${u}/oidc/callback`),
    post_logout_redirect_uris: baseUrls.map((u) => `${u}/`),
  };
}

type RedisClient = ReturnType<typeof createClient>;

/** A password in REDIS_URL stays out of pages and logs. */
export const redactUrl = (url: string): string => (URL.canParse(url) ? url.replace(/\/\/[^@/]*@/, '//***@') : url);

async function connectRedis(url: string): Promise<RedisClient> {
  let ready = false;
  const client = createClient({
    url,
    // At start-up a Redis that is not there is a mistake to report at once (node-redis would
    // retry forever and the demo would hang); once connected, ride out restarts by reconnecting.
    socket: { reconnectStrategy: (retries: number, cause: Error) => (ready ? Math.min(100 * retries, 2000) : cause) },
  });
  client.on('ready', () => {
    ready = true;
  });
  // Without a listener an 'error' event would end the process; before `ready`, connect() reports it.
  client.on('error', (err: Error) => {
    if (ready) console.error(`redis (${redactUrl(url)}): ${err.message}`);
  });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`REDIS_URL ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)} (is redis-server running there?)`, { cause: err });
  }
  return client;
}

export async function startDemo(opts: DemoOptions = {}): Promise<RunningDemo> {
  const env = opts.env ?? process.env;
  const server = createServer();
  const port = await listen(server, opts.port ?? 3000);
  const url = env.OIDC_RP_BASE_URL ?? `http://127.0.0.1:${port}`;

  let provider: DevProvider | undefined;
  let redis: RedisClient | undefined;
  let oidc: OidcAuth | undefined;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await oidc?.close();
    await provider?.close();
    if (redis?.isOpen) await redis.close();
  };

  try {
    redis = env.REDIS_URL ? await connectRedis(env.REDIS_URL) : undefined;
    let options: OidcAuthOptions = { env, baseUrl: url, ...(redis && { redis }) };
    let issuer: string | undefined;
    let devLogin: DemoInfo['devLogin'];
    if (hasProviderEnv(env)) {
      issuer = env.OIDC_OP_ISSUER ?? env.OIDC_OP_AUTHORIZATION_ENDPOINT;
    } else {
      if (env.DEMO_PROVIDER_ISSUER) {
        issuer = env.DEMO_PROVIDER_ISSUER;
      } else {
        provider = await startDevProvider({
          port: opts.providerPort ?? 3001,
          accessTokenTtl: DEMO_ACCESS_TOKEN_TTL,
          clients: [demoClient([url, ...peerUrls(env)])],
        });
        issuer = provider.issuer;
      }
      options = { ...options, issuer, clientId: DEMO_CLIENT.clientId, clientSecret: DEMO_CLIENT.clientSecret, scopes: DEV_SCOPES };
      devLogin = { login: DEV_LOGIN, password: DEV_PASSWORD, otherLogins: Object.keys(defaultAccounts()).filter((l) => l !== DEV_LOGIN) };
    }
    oidc = createOidcAuth(options);
    const sessionStore: DemoInfo['sessionStore'] = redis ? 'redis' : 'memory';
    const app = createDemoApp({
      oidc,
      sessionSecret: env.SESSION_SECRET ?? 'demo-session-secret-change-me',
      ...(redis && { store: new RedisStore({ client: redis }) }),
      info: { servedBy: `${url} (pid ${process.pid})`, sessionStore, issuer, devLogin },
    });
    server.on('request', app);
    return { url, provider, issuer, sessionStore, oidc, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
