// Starts a throwaway redis-server (Debian package, installed by scripts/ensure-system-deps.mjs)
// on a free loopback port, without persistence, for tests that need a real Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { superviseChild } from './child-process.js';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function findRedisServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One raw PING over RESP; resolves true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

export interface RedisServerOptions {
  /** Extra redis-server arguments; `{port}` in one is replaced by the chosen port. */
  args?: string[];
  /**
   * Largest port to use: a cluster node also listens on port + 10000 (its cluster bus), which must
   * stay a valid port.
   */
  maxPort?: number;
}

async function startOnce(bin: string, opts: RedisServerOptions): Promise<RedisServer | 'port-taken'> {
  let port = await freePort();
  for (let i = 0; opts.maxPort !== undefined && port > opts.maxPort && i < 50; i++) port = await freePort();
  if (opts.maxPort !== undefined && port > opts.maxPort) return 'port-taken';
  const extra = (opts.args ?? []).map((a) => a.replaceAll('{port}', String(port)));
  const child: ChildProcess = spawn(
    bin,
    // --dir: a replica's full sync writes an RDB file even with --save "": never into the checkout.
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      mkdtempSync(join(tmpdir(), 'oidc-redis-')),
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const supervised = superviseChild(child);

  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const spawnError = supervised.spawnError();
    if (spawnError) throw new Error(`could not start redis-server (${bin}): ${spawnError.message}`);
    if (supervised.exited() !== undefined) {
      // Lost a race for the port with another process: try another one.
      if (/address already in use/i.test(output)) return 'port-taken';
      throw new Error(`redis-server exited with code ${supervised.exited()}: ${output.trim()}`);
    }
    if (await ping(port)) {
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        stop: supervised.stop,
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING within 10s: ${output.trim()}`);
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = findRedisServer();
  if (!bin) {
    // Never skip: a missing redis-server is a setup error.
    throw new Error('redis-server not found on PATH. Run `node scripts/ensure-system-deps.mjs` ' + '(installs the Debian package "redis-server").');
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const server = await startOnce(bin, opts);
    if (server !== 'port-taken') return server;
  }
  throw new Error('redis-server: could not bind a free port after 5 attempts');
}
