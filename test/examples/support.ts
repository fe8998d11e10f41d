/**
 * Running an example the way its README says: a child process started with the documented
 * command, ready once it printed `listening on http://127.0.0.1:PORT` (every example does, once
 * per process). Each command gets its own process group, so stop() ends what it started too (the
 * tsx and npm wrappers, the launcher's children, its redis-server), and nothing outlives the test
 * run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startDevProvider, type DevProvider } from '../../examples/dev-provider.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const READY_TIMEOUT_MS = 30_000;
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/g;

export interface RunningExample {
  /** The URL each process printed, in the order they printed them. */
  urls: string[];
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Variables besides PATH, HOME and TMPDIR: the test runner's own environment is not passed on. */
  env?: Record<string, string>;
  cwd?: string;
  /** How many `listening on` lines make the example ready (default 1). */
  processes?: number;
}

export async function startExample(command: string, args: string[], opts: StartOptions = {}): Promise<RunningExample> {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name];
  const child: ChildProcess = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: stop() signals the whole group.
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), signal);
    } catch {
      // the group is gone already
    }
  };
  const killOnExit = () => signalGroup('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), 5_000);
    if (running) await exited;
    clearTimeout(timer);
    // Processes of the group that outlived the wrapper (none should): not past this test.
    signalGroup('SIGKILL');
  };

  const wanted = opts.processes ?? 1;
  const started = Date.now();
  for (;;) {
    const urls = [...output.matchAll(LISTENING)].map((m) => m[1] as string);
    if (urls.length >= wanted) return { urls, output: () => output, stop };
    if (!running || Date.now() - started > READY_TIMEOUT_MS) {
      await stop();
      throw new Error(`${command} ${args.join(' ')} ${running ? 'did not print "listening on"' : 'exited'}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `npx tsx <file>` as the READMEs say, without npx's lookup: node with tsx's loader. */
/**
 * Wait until the example has printed `text`. Its output arrives through pipes (through two of them
 * when run-example.ts starts several processes): a line printed before an HTTP answer can reach the
 * test after that answer.
 */
export async function outputContaining(example: RunningExample, text: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!example.output().includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return example.output();
}

export function startTsExample(file: string, opts: StartOptions = {}): Promise<RunningExample> {
  return startExample(process.execPath, ['--import', 'tsx', file], opts);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A development provider the test holds (to edit its accounts), with a client for an example
 * on `port`, and the variables that point the example at it.
 */
export async function providerFor(port: number): Promise<{ op: DevProvider; env: Record<string, string> }> {
  const url = `http://127.0.0.1:${port}`;
  const client = { client_id: 'example-test', client_secret: 'example-test-secret' };
  const op = await startDevProvider({ clients: [{ ...client, redirect_uris: [`${url}/oidc/callback`], post_logout_redirect_uris: [`${url}/`] }] });
  return {
    op,
    env: {
      OIDC_OP_ISSUER: op.issuer,
      OIDC_RP_CLIENT_ID: client.client_id,
      OIDC_RP_CLIENT_SECRET: client.client_secret,
      OIDC_RP_SCOPES: 'openid email profile offline_access',
      OIDC_RP_BASE_URL: url,
      SESSION_SECRET: 'example-test-session-secret',
      PORT: String(port),
    },
  };
}

/** `tsc -p <project>`: resolves with its exit code and output. */
export function typeCheck(project: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url)), '-p', project], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}
