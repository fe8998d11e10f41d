/**
 * `npm run example -- <name>`: runs an example of this folder with its documented command, against
 * the embedded development provider (examples/dev-provider.ts) unless a provider is configured.
 *
 * The examples read their provider from the environment (OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID,
 * OIDC_RP_CLIENT_SECRET), as a deployed app does, so that none of them carries development-only
 * code (examples/minimal is the exception: the quick start runs alone). With OIDC_OP_ISSUER unset,
 * this starts the development provider on DEV_PROVIDER_PORT (3001), registers there the callback
 * URL of each process the example runs, and hands the example those three variables and a
 * SESSION_SECRET; with OIDC_OP_ISSUER set, the example gets the environment as it is.
 *
 * An example that needs Redis gets REDIS_URL as it is, or, unset, a throwaway redis-server (no
 * persistence) on a free port for as long as it runs.
 *
 * Each process gets PORT (its own port, from the variable the table below names) and, unless set,
 * OIDC_RP_BASE_URL = http://127.0.0.1:PORT. Output of examples with several processes is prefixed
 * with the process's name. Ctrl-C stops everything; so does any process exiting.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { startDevProvider, type DevProvider } from './dev-provider.js';

interface ExampleProcess {
  /** Shown before its output when the example runs several processes; also its INSTANCE variable. */
  name: string;
  /** Path from examples/: `.ts` files run with tsx, `.cjs` files with plain node. */
  file: string;
  /** The variable that sets this process's port, and its default. */
  portVariable: string;
  defaultPort: number;
  /** More variables, from the base URLs of the example's processes (in table order). */
  env?: (urls: string[]) => Record<string, string>;
}

interface Example {
  processes: ExampleProcess[];
  /** Needs a Redis: REDIS_URL, or a throwaway redis-server started here. */
  redis?: boolean;
}

const EXAMPLES: Record<string, Example> = {
  minimal: { processes: [{ name: 'app', file: 'minimal/app.ts', portVariable: 'PORT', defaultPort: 3000 }] },
  'sqlite-hooks': { processes: [{ name: 'app', file: 'sqlite-hooks/app.ts', portVariable: 'PORT', defaultPort: 3000 }] },
  'redis-two-instances': {
    redis: true,
    processes: [
      { name: 'A', file: 'redis-two-instances/app.ts', portVariable: 'PORT', defaultPort: 3000 },
      { name: 'B', file: 'redis-two-instances/app.ts', portVariable: 'PORT_B', defaultPort: 3002 },
    ],
  },
  'bearer-api': {
    processes: [
      { name: 'api', file: 'bearer-api/api.ts', portVariable: 'PORT', defaultPort: 3000 },
      { name: 'client', file: 'bearer-api/client.ts', portVariable: 'CLIENT_PORT', defaultPort: 3002, env: ([api]) => ({ API_URL: api as string }) },
    ],
  },
  'commonjs-express4': { processes: [{ name: 'app', file: 'commonjs-express4/app.cjs', portVariable: 'PORT', defaultPort: 3000 }] },
  'typescript-strict': { processes: [{ name: 'app', file: 'typescript-strict/app.ts', portVariable: 'PORT', defaultPort: 3000 }] },
};

const DEV_CLIENT = { client_id: 'examples', client_secret: 'examples-secret-change-me' };

const root = fileURLToPath(new URL('..', import.meta.url));
const name = process.argv[2] ?? '';
const example = EXAMPLES[name];
if (!example) {
  console.error(`usage: npm run example -- <name>, one of: ${Object.keys(EXAMPLES).join(', ')}`);
  process.exit(2);
}

// The examples import the package by its name, which package.json "exports" maps to dist/.
if (!existsSync(new URL('../dist/index.js', import.meta.url))) {
  console.error('dist/ is missing: run `npm run build` first (the examples import express-oidc-rp as an app does)');
  process.exit(1);
}

const { processes } = example;
const ports = processes.map((p) => Number(process.env[p.portVariable] ?? p.defaultPort));
const baseUrls = ports.map((port) => `http://127.0.0.1:${port}`);
const env: NodeJS.ProcessEnv = { ...process.env };

let devProvider: DevProvider | undefined;
if (!env.OIDC_OP_ISSUER) {
  devProvider = await startDevProvider({
    port: Number(env.DEV_PROVIDER_PORT ?? 3001),
    clients: [
      {
        ...DEV_CLIENT,
        redirect_uris: baseUrls.map((url) => `${url}/oidc/callback`),
        post_logout_redirect_uris: baseUrls.map((url) => `${url}/`),
      },
    ],
  });
  Object.assign(env, {
    OIDC_OP_ISSUER: devProvider.issuer,
    OIDC_RP_CLIENT_ID: DEV_CLIENT.client_id,
    OIDC_RP_CLIENT_SECRET: DEV_CLIENT.client_secret,
    // offline_access: the provider grants a refresh token (sessionRefresh, req.oidc.refresh()).
    OIDC_RP_SCOPES: env.OIDC_RP_SCOPES ?? 'openid email profile offline_access',
    SESSION_SECRET: env.SESSION_SECRET ?? 'examples-session-secret-change-me',
  });
  console.log(`development provider at ${devProvider.issuer}: log in with any name, e.g. "alice", and any password`);
}

let redisServer: ChildProcess | undefined;
if (example.redis && !env.REDIS_URL) {
  const port = await freePort();
  redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const spawned = await new Promise<Error | undefined>((resolve) => {
    redisServer?.once('spawn', () => resolve(undefined)).once('error', resolve);
  });
  if (spawned) {
    console.error(`no Redis: set REDIS_URL, or install redis-server (${spawned.message})`);
    await devProvider?.close();
    process.exit(1);
  }
  env.REDIS_URL = `redis://127.0.0.1:${port}`;
  await untilRedisAnswers(env.REDIS_URL);
  console.log(`throwaway redis-server at ${env.REDIS_URL} (set REDIS_URL to use your own)`);
}

const children: ChildProcess[] = processes.map((p, i) => {
  const file = `examples/${p.file}`;
  const args = p.file.endsWith('.cjs') ? [file] : ['--import', 'tsx', file];
  const port = String(ports[i]);
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...env, PORT: port, INSTANCE: p.name, OIDC_RP_BASE_URL: env.OIDC_RP_BASE_URL ?? baseUrls[i], ...p.env?.(baseUrls) },
    stdio: processes.length > 1 ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  if (processes.length > 1) {
    for (const [stream, out] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ] as const) {
      if (stream) createInterface({ input: stream }).on('line', (line) => out.write(`[${p.name}] ${line}\n`));
    }
  }
  child.once('exit', (code, signal) => void stopAll(code ?? (signal ? 1 : 0)));
  return child;
});

let stopping = false;
async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await stopRedis();
  await devProvider?.close();
  process.exit(exitCode);
}

/** Waits for it to exit: an orphan would outlive the launcher (as a zombie where nothing reaps it). */
function stopRedis(): Promise<void> {
  const server = redisServer;
  if (!server || server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    server.once('exit', () => resolve());
    server.kill('SIGTERM');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Connects until the new redis-server accepts connections (it takes a moment to listen). */
async function untilRedisAnswers(url: string): Promise<void> {
  const client = createClient({ url, socket: { reconnectStrategy: (retries) => (retries < 50 ? 100 : false) } });
  client.on('error', () => {}); // connection refused while it starts: retried above
  await client.connect();
  await client.quit();
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
