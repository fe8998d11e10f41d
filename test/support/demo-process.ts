/**
 * Runs examples/demo.ts as its own Node process, as `npm start` does (tsx), with the environment
 * given and nothing of the test runner's: a demo process exactly as README "Two commands" starts
 * one. Resolves once the demo printed the URL it serves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface DemoProcess {
  /** The URL the demo printed ("open http://..."). */
  url: string;
  /** Everything the demo printed so far. */
  stdout(): string;
  /** Resolves with the match once the demo's output matches `pattern` (within the start timeout). */
  printed(pattern: RegExp): Promise<RegExpExecArray>;
  stderr(): string;
  /** SIGTERM (the demo closes its servers and Redis client), SIGKILL after 3 s. Idempotent. */
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START_TIMEOUT_MS = 20_000;

export async function startDemoProcess(env: Record<string, string>): Promise<DemoProcess> {
  // Only what a shell would have: vitest's own variables (BASE_URL=/, NODE_ENV, ...) and any
  // OIDC_* of this machine must not reach the demo's configuration.
  const childEnv: NodeJS.ProcessEnv = { ...env };
  for (const name of ['PATH', 'HOME', 'TMPDIR']) if (process.env[name] !== undefined) childEnv[name] = process.env[name];
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  // No orphan outlives a crashed test run.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const printed = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      const fail = (why: string) => {
        done();
        reject(new Error(`demo ${why}\n--- stderr ---\n${stderr.trim()}\n--- stdout ---\n${stdout.trim()}`));
      };
      const check = () => {
        const m = pattern.exec(stdout);
        if (m) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => fail(`did not print ${pattern} within ${START_TIMEOUT_MS / 1000}s`), START_TIMEOUT_MS);
      child.once('error', (err) => fail(`could not be spawned: ${err.message}`));
      void exited.then(() => fail(`exited before printing ${pattern}`));
      listeners.add(check);
      check();
    });

  let url: string;
  try {
    url = (await printed(/open (http:\/\/\S+)\n/))[1] as string;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  return {
    url,
    stdout: () => stdout,
    stderr: () => stderr,
    printed,
    async stop() {
      if (hasExited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
