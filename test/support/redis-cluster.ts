// A real Redis Cluster of three masters on loopback, for the store contract and the cluster client
// paths: three redis-server processes with cluster mode on (Debian package, installed by
// scripts/ensure-system-deps.mjs), joined with `redis-cli --cluster create`, in a temporary
// directory for their nodes files.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, type RedisServer } from './redis-server.js';

export interface RedisCluster {
  /** The masters' `redis://127.0.0.1:<port>` URLs. */
  urls: string[];
  nodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out.trim()}`))));
  });
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-rp-cluster-'));
  const servers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startRedisServer({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes-{port}.conf'), '--cluster-node-timeout', '2000', '--dir', dir],
          maxPort: 55_000,
        }),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must see the whole slot map before clients connect.
    const deadline = Date.now() + 15_000;
    for (const s of servers) {
      for (;;) {
        const info = await run('redis-cli', ['-p', String(s.port), 'cluster', 'info']);
        if (/cluster_state:ok/.test(info)) break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${s.port} not ok: ${info}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { urls: servers.map((s) => s.url), nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
