/**
 * The bookkeeping every server a test starts needs around its child process: whether and how it
 * exited, a spawn error, a kill if the test process ends without stopping it, and a stop() that
 * asks (SIGTERM) and then insists (SIGKILL after 3 s).
 */
import type { ChildProcess } from 'node:child_process';

export interface SupervisedChild {
  /** The exit code (null when killed by a signal); undefined while it runs. */
  exited(): number | null | undefined;
  /** Why it could not be started (spawn's 'error'), if so. */
  spawnError(): Error | undefined;
  /** SIGTERM, SIGKILL after 3 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * `signal` sends a signal to what the child stands for (itself, or its process group when it was
 * spawned detached); it is not called once the child has exited.
 */
export function superviseChild(child: ChildProcess, signal: (s: NodeJS.Signals) => void = (s) => child.kill(s)): SupervisedChild {
  let exited: number | null | undefined;
  let spawnError: Error | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code) => {
      exited = code;
      resolve();
    });
  });
  child.once('error', (err) => (spawnError = err));
  const send = (s: NodeJS.Signals) => {
    if (exited === undefined) signal(s);
  };
  // No orphaned server if the test process ends without calling stop().
  const killOnExit = () => send('SIGKILL');
  process.once('exit', killOnExit);
  void exitedPromise.then(() => process.off('exit', killOnExit));
  return {
    exited: () => exited,
    spawnError: () => spawnError,
    async stop() {
      if (exited !== undefined) return;
      send('SIGTERM');
      const timer = setTimeout(() => send('SIGKILL'), 3000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
