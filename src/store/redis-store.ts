/**
 * SharedStore on Redis, on the app's client: node-redis (v4/v5, `createClient()`) or ioredis (an
 * app on ioredis still gives connect-redis 9 a node-redis client: README "Several instances
 * (Redis)"). Both are driven through their raw-command entry point
 * (`sendCommand` / `call`), so one code path serves both and no client-specific option objects leak in.
 *
 * Atomic steps are single commands or Lua scripts: a compare-and-set must not be a GET followed by
 * a SET from another instance's point of view.
 */
import type { SharedStore } from './shared-store.js';
import type { IoRedisLike, NodeRedisClusterLike, NodeRedisLike, NodeRedisSentinelLike, RedisClientLike } from '../types.js';
import { redisClientKind, type RedisClientKind } from '../config/validators.js';

type Command = (args: string[]) => Promise<unknown>;

/**
 * The key a command touches: every command this store sends names exactly one key, first after the
 * command name, or after the script and the key count for EVAL. A cluster client routes by it.
 */
const firstKeyOf = (args: string[]): string | undefined => (args[0] === 'EVAL' ? args[3] : args[1]);

export function redisCommand(client: RedisClientLike): Command {
  switch (redisClientKind(client)) {
    case 'ioredis': {
      const c = client as IoRedisLike;
      return ([name, ...args]) => c.call(name as string, ...args);
    }
    case 'node-redis': {
      const c = client as NodeRedisLike;
      return (args) => c.sendCommand(args);
    }
    // Never isReadonly: a replica may not have a rotated token set yet, and reading it there would
    // present a refresh token the provider already rotated.
    case 'node-redis-cluster': {
      const c = client as NodeRedisClusterLike;
      return (args) => c.sendCommand(firstKeyOf(args), false, args);
    }
    case 'node-redis-sentinel': {
      const c = client as NodeRedisSentinelLike;
      return (args) => c.sendCommand(false, args);
    }
    default:
      throw new TypeError('express-oidc-rp: option "redis" must be a node-redis or ioredis client (standalone, Cluster or Sentinel)');
  }
}

// KEYS[1] key; ARGV[1] expected; ARGV[2] new value; ARGV[3] ttl ms.
const COMPARE_AND_SET = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end`;
// KEYS[1] key; ARGV[1] expected; ARGV[2] ttl ms.
const EXTEND_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
// KEYS[1] key; ARGV[1] expected.
const DELETE_IF_EQUALS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
// Sets of expiring members are sorted sets scored by each member's expiry (epoch ms on the Redis
// server's clock, TIME, so every instance agrees). Expired members are pruned on each add and
// read; the key expires with its longest-lived member.
const NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
// KEYS[1] set; ARGV[1] member; ARGV[2] ttl ms.
const ADD_TO_SET = `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`;
// KEYS[1] set.
const LIVE_MEMBERS = `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)`;

/** How long a token-set write waits for a replica (WAIT's timeout). */
const REPLICA_WAIT_MS = 250;
/** How often the number of replicas is read again. */
const REPLICAS_RECHECK_MS = 60_000;

/** A subscriber connection's few operations, whichever client it comes from. */
interface Subscriber {
  subscribe(channel: string, deliver: (channel: string) => void): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  close(): Promise<void>;
}

type Listener = (message: string, channel: string) => void;
/** node-redis: a client's duplicate(), or a cluster's sharded subscriptions (it manages their connections). */
interface NodeRedisPubSub {
  duplicate(): NodeRedisPubSub;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: Listener): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  close(): Promise<unknown>;
}
interface NodeRedisClusterPubSub {
  sSubscribe(channel: string, listener: Listener): Promise<unknown>;
  sUnsubscribe(channel: string): Promise<unknown>;
}
/** ioredis (Redis and Cluster): a duplicate() connection in subscriber mode. */
interface IoRedisPubSub {
  duplicate(): IoRedisPubSub;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  quit(): Promise<unknown>;
}

/** The subscriber for this client kind; undefined for Sentinel clients (waiters then only poll). */
async function openSubscriber(client: RedisClientLike, kind: RedisClientKind | undefined): Promise<Subscriber | undefined> {
  switch (kind) {
    case 'node-redis': {
      const sub = (client as unknown as NodeRedisPubSub).duplicate();
      // The subscriber only speeds waiters up (they poll anyway) and reconnects by itself: its
      // connection errors must not crash the app as an unhandled 'error' event.
      sub.on('error', () => undefined);
      await sub.connect();
      return {
        subscribe: async (channel, deliver) => void (await sub.subscribe(channel, (_m, ch) => deliver(ch))),
        unsubscribe: async (channel) => void (await sub.unsubscribe(channel)),
        close: async () => void (await sub.close()),
      };
    }
    case 'node-redis-cluster': {
      // Sharded pub/sub (Redis 7): the message goes to the shard of the channel's slot only.
      const cluster = client as unknown as NodeRedisClusterPubSub;
      return {
        subscribe: async (channel, deliver) => void (await cluster.sSubscribe(channel, (_m, ch) => deliver(ch))),
        unsubscribe: async (channel) => void (await cluster.sUnsubscribe(channel)),
        close: async () => undefined,
      };
    }
    case 'ioredis': {
      const sub = (client as unknown as IoRedisPubSub).duplicate();
      sub.on('error', () => undefined); // as for node-redis: waiters poll anyway
      const handlers: Array<(channel: string) => void> = [];
      sub.on('message', (channel) => {
        for (const h of handlers) h(channel);
      });
      return {
        subscribe: async (channel, deliver) => {
          if (!handlers.includes(deliver)) handlers.push(deliver);
          await sub.subscribe(channel);
        },
        unsubscribe: async (channel) => void (await sub.unsubscribe(channel)),
        close: async () => void (await sub.quit()),
      };
    }
    default:
      return undefined;
  }
}

export class RedisSharedStore implements SharedStore {
  readonly kind = 'redis' as const;
  private readonly cmd: Command;
  private readonly client: RedisClientLike;
  private subscriber: Promise<Subscriber | undefined> | undefined;
  /** Listeners by full channel name: one Redis subscription per channel, however many waiters. */
  private readonly listeners = new Map<string, Set<() => void>>();

  private readonly clientKind: RedisClientKind | undefined;
  /** Replicas of the server, read from INFO replication at most once per REPLICAS_RECHECK_MS. */
  private replicas: { count: number; at: number } | undefined;

  constructor(
    client: RedisClientLike,
    private readonly prefix: string,
  ) {
    this.cmd = redisCommand(client);
    this.client = client;
    this.clientKind = redisClientKind(client);
    // A cluster client cannot address WAIT to the node holding a key (WAIT names no key), and
    // ioredis's Cluster is an ioredis kind too: recognised by its own flag.
    this.isCluster = this.clientKind === 'node-redis-cluster' || (client as { isCluster?: unknown }).isCluster === true;
  }

  private readonly isCluster: boolean;

  /**
   * Redis acknowledges a write before its replicas have it; a failover in between promotes a
   * replica without the rotated token set, and the next refresh would present the previous refresh
   * token (which the provider counts as theft). WAIT 1 makes the write wait until one replica has it,
   * bounded by REPLICA_WAIT_MS so a lagging replica delays a refresh, never blocks it.
   */
  async replicate(): Promise<void> {
    if (this.isCluster) return;
    const now = Date.now();
    try {
      if (!this.replicas || now - this.replicas.at > REPLICAS_RECHECK_MS) {
        const info = await this.cmd(['INFO', 'replication']);
        const text = typeof info === 'string' ? info : info instanceof Buffer ? info.toString('utf8') : '';
        this.replicas = { count: Number(/connected_slaves:(\d+)/.exec(text)?.[1] ?? 0), at: now };
      }
      if (this.replicas.count > 0) await this.cmd(['WAIT', '1', String(REPLICA_WAIT_MS)]);
    } catch {
      // Best effort, never a failed write: a hosted Redis that refuses INFO or WAIT is treated as
      // having no replica until the next check.
      this.replicas = { count: 0, at: now };
    }
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  private eval(script: string, key: string, ...args: string[]): Promise<unknown> {
    return this.cmd(['EVAL', script, '1', this.k(key), ...args]);
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.cmd(['GET', this.k(key)]);
    return typeof v === 'string' ? v : v instanceof Buffer ? v.toString('utf8') : undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.cmd(['SET', this.k(key), value, 'PX', String(Math.max(1, Math.round(ttlMs)))]);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const r = await this.cmd(['SET', this.k(key), value, 'PX', String(Math.max(1, Math.round(ttlMs))), 'NX']);
    return r === 'OK';
  }

  async setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const r = await this.cmd(['SET', this.k(key), value, 'PX', String(Math.max(1, Math.round(ttlMs))), 'XX']);
    return r === 'OK';
  }

  async compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    return Number(await this.eval(COMPARE_AND_SET, key, expected, value, String(Math.max(1, Math.round(ttlMs))))) === 1;
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    return Number(await this.eval(DELETE_IF_EQUALS, key, expected)) === 1;
  }

  async extendIfEquals(key: string, expected: string, ttlMs: number): Promise<boolean> {
    return Number(await this.eval(EXTEND_IF_EQUALS, key, expected, String(Math.max(1, Math.round(ttlMs))))) === 1;
  }

  private readonly deliver = (channel: string): void => {
    for (const fn of [...(this.listeners.get(channel) ?? [])]) fn();
  };

  async subscribe(channel: string, onMessage: () => void): Promise<() => Promise<void>> {
    const full = this.k(channel);
    this.subscriber ??= openSubscriber(this.client, this.clientKind);
    const sub = await this.subscriber;
    if (!sub) return async () => undefined; // Sentinel: waiters poll
    let set = this.listeners.get(full);
    if (!set) {
      set = new Set();
      this.listeners.set(full, set);
      await sub.subscribe(full, this.deliver);
    }
    set.add(onMessage);
    const listeners = set;
    return async () => {
      listeners.delete(onMessage);
      if (listeners.size === 0 && this.listeners.get(full) === listeners) {
        this.listeners.delete(full);
        await sub.unsubscribe(full);
      }
    };
  }

  async publish(channel: string): Promise<void> {
    // A cluster's sharded subscriptions hear SPUBLISH (routed by the channel, like a key).
    await this.cmd([this.clientKind === 'node-redis-cluster' ? 'SPUBLISH' : 'PUBLISH', this.k(channel), '1']);
  }

  async close(): Promise<void> {
    const sub = await this.subscriber;
    this.subscriber = undefined;
    this.listeners.clear();
    await sub?.close();
  }

  async delete(key: string): Promise<void> {
    await this.cmd(['DEL', this.k(key)]);
  }

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    await this.eval(ADD_TO_SET, key, member, String(Math.max(1, Math.round(ttlMs))));
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    // Redis deletes a sorted set with its last member.
    await this.cmd(['ZREM', this.k(key), member]);
  }

  async members(key: string): Promise<string[]> {
    const r = await this.eval(LIVE_MEMBERS, key);
    return Array.isArray(r) ? r.map((m) => (m instanceof Buffer ? m.toString('utf8') : String(m))) : [];
  }
}
