/**
 * What the library keeps per login outside express-session: 10,000 logins (1,000 users, 10
 * logins each) written as the callback writes them (a token set and two session-index members),
 * measured as heap growth with the in-memory store and as Redis `used_memory` growth with Redis.
 * Then every login ends (logout's tombstone and index removal) to show what stays.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { MemorySharedStore, type SharedStore } from '../src/store/shared-store.js';
import { RedisSharedStore } from '../src/store/redis-store.js';
import { TokenStore } from '../src/store/token-store.js';
import { SessionIndex } from '../src/store/session-index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const LOGINS = 10_000;
const ISS = 'https://op.example.com';
const TTL_MS = 30 * 24 * 3600_000;
const b64 = (n: number) => randomBytes(n).toString('base64url');

/** A token set of realistic size: RS256 JWT access and ID tokens (~1 kB each), an opaque refresh token. */
function tokenSet(): Parameters<TokenStore['create']>[1] {
  const now = Math.floor(Date.now() / 1000);
  const jwt = () => `${b64(36)}.${b64(600)}.${b64(256)}`;
  return { version: 1, accessToken: jwt(), accessTokenExpiresAt: now + 300, obtainedAt: now, refreshToken: b64(48), idToken: jwt() };
}

async function fill(store: SharedStore): Promise<Array<{ sub: string; sid: string; loginId: string; sessionId: string }>> {
  const tokens = new TokenStore(store, TTL_MS);
  const index = new SessionIndex(store, TTL_MS);
  const logins = [];
  for (let i = 0; i < LOGINS; i++) {
    const login = { sub: `user-${i % 1000}`, sid: b64(12), loginId: b64(16), sessionId: b64(24) };
    await tokens.create(login.loginId, tokenSet());
    await index.add(ISS, login.sub, login.sid, login);
    logins.push(login);
  }
  return logins;
}

async function endAll(store: SharedStore, logins: Awaited<ReturnType<typeof fill>>): Promise<void> {
  const tokens = new TokenStore(store, TTL_MS);
  const index = new SessionIndex(store, TTL_MS);
  for (const l of logins) {
    await index.remove(ISS, l.sub, l.sid, l);
    await tokens.end(l.loginId);
  }
}

const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

export interface StateMemory {
  tokenSetBytes: number;
  heapPerLogin: number;
  heapPerEndedLogin: number;
  redisPerLogin: number;
  redisPerEndedLogin: number;
}

export async function stateMemory(redisUrl: string): Promise<StateMemory> {
  const tokenSetBytes = JSON.stringify(tokenSet()).length;

  const memory = new MemorySharedStore();
  const h0 = heap();
  const memLogins = await fill(memory);
  const h1 = heap();
  await endAll(memory, memLogins);
  const h2 = heap();
  memory.close();

  const client = createClient({ url: redisUrl });
  await client.connect();
  await client.flushAll();
  const used = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
  const redis = new RedisSharedStore(client, 'bench:');
  const r0 = await used();
  const redisLogins = await fill(redis);
  const r1 = await used();
  await endAll(redis, redisLogins);
  const r2 = await used();
  await client.close();

  return {
    tokenSetBytes,
    heapPerLogin: (h1 - h0) / LOGINS,
    heapPerEndedLogin: (h2 - h0) / LOGINS,
    redisPerLogin: (r1 - r0) / LOGINS,
    redisPerEndedLogin: (r2 - r0) / LOGINS,
  };
}
