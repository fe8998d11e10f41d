/**
 * Start test/support/rp-server.ts as a separate Node process (a second "instance" of the app).
 *
 * The child gets an IPC channel so it exits by itself when this process goes away, and is also
 * SIGKILLed on this process's exit, so no orphan outlives a crashed test run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface RpProcessEnv {
  PORT?: string;
  ISSUER: string;
  CLIENT_ID: string;
  CLIENT_SECRET?: string;
  /** More createOidcAuth options, as JSON. */
  OIDC_EXTRA_OPTIONS?: string;
  BASE_URL?: string;
  /** A standalone Redis; or REDIS_CLUSTER, a Redis Cluster's master URLs, comma separated. */
  REDIS_URL?: string;
  REDIS_CLUSTER?: string;
  CLIENT_KIND?: 'node-redis' | 'ioredis';
  OIDC_TIMEOUT_SECONDS?: string;
  EXPRESS_MODULE?: 'express' | 'express4';
}

export interface RpProcess {
  url: string;
  port: number;
  pid: number;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL now (a crash); resolves when the process has exited. */
  kill(): Promise<void>;
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code / signal once the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const SCRIPT = fileURLToPath(new URL('./rp-server.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START_TIMEOUT_MS = 20_000;

export async function startRpProcess(env: RpProcessEnv): Promise<RpProcess> {
  // A minimal environment: the test runner's own variables (vite sets BASE_URL=/, NODE_OPTIONS...)
  // must not leak into the child's configuration.
  const childEnv: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'SYSTEMROOT', 'NODE_DEBUG']) {
    if (process.env[name] !== undefined) childEnv[name] = process.env[name];
  }
  for (const [name, value] of Object.entries(env)) if (value !== undefined) childEnv[name] = value;
  // cwd = repo root so `--import tsx` resolves from this project's node_modules.
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const port = await new Promise<number>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`rp-server ${why}\n--- stderr ---\n${stderr.trim()}\n--- stdout ---\n${stdout.trim()}`));
    };
    const timer = setTimeout(() => fail(`did not print LISTENING within ${START_TIMEOUT_MS / 1000}s`), START_TIMEOUT_MS);
    child.once('error', (err) => fail(`could not be spawned: ${err.message}`));
    void exited.then(({ code, signal }) => fail(`exited before listening (code ${code}, signal ${signal})`));
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /^LISTENING (\d+)$/m.exec(stdout);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (exitInfo) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
    stderr: () => stderr,
    exited,
  };
}
