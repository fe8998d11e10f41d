/**
 * The cost of storeEncryptionKeys (src/store/encryption.ts): sealing and opening one token set of
 * realistic size, alone and through TokenStore on the in-memory store, against the same without
 * encryption; and the stored size. The figures are in docs/benchmarks.md.
 *
 *   node --import tsx bench/store-encryption.ts
 *
 * Each figure is the median of 15 batches of 500 sequential operations (after 1,000 to warm up),
 * so a burst of load from elsewhere on the machine moves one batch, not the figure: wall time per
 * operation, and the CPU time of the whole process per operation (WebCrypto, which jose uses, runs
 * each encryption on a libuv worker thread: on a busy machine the wall time is mostly waiting for
 * threads to be scheduled, the CPU time is the cost). A raw AES-256-GCM encryption of the same size
 * through node:crypto is printed as the machine's yardstick.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { JweCodec } from '../src/store/encryption.js';
import { MemorySharedStore } from '../src/store/shared-store.js';
import { TokenStore, type TokenSet } from '../src/store/token-store.js';

const b64 = (n: number) => randomBytes(n).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const jwt = (payload: number) => `${b64(36)}.${b64(payload)}.${b64(256)}`;
const SETS: Record<string, TokenSet> = {
  // As bench/state-memory.ts: RS256 JWT access and ID tokens (~1 kB each), an opaque refresh token.
  'JWT access token': { version: 1, accessToken: jwt(600), accessTokenExpiresAt: now + 300, obtainedAt: now, refreshToken: b64(48), idToken: jwt(600) },
  'opaque access token': { version: 1, accessToken: b64(32), accessTokenExpiresAt: now + 300, obtainedAt: now, refreshToken: b64(48), idToken: jwt(600) },
};

interface Cost {
  wallUs: number;
  cpuUs: number;
}

async function median(fn: () => unknown, batches = 15, perBatch = 500): Promise<Cost> {
  for (let i = 0; i < 1000; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let b = 0; b < batches; b++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) await fn();
    wall.push(Number(process.hrtime.bigint() - t0) / 1000 / perBatch);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / perBatch);
  }
  const mid = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  return { wallUs: mid(wall), cpuUs: mid(cpu) };
}

const us = ({ wallUs, cpuUs }: Cost) => `${wallUs.toFixed(1).padStart(6)} µs wall, ${cpuUs.toFixed(1).padStart(6)} µs CPU`;
const codec = new JweCodec([randomBytes(32)]);
const storeKey = `tokens:{${b64(16)}}`;

console.log(
  `Node ${process.version}, load average ${(await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const [name, set] of Object.entries(SETS)) {
  const json = JSON.stringify(set);
  const sealed = await codec.seal(storeKey, json);
  console.log(`\n${name}: ${json.length} bytes of JSON, ${sealed.length} bytes sealed`);
  console.log(`  seal       ${us(await median(() => codec.seal(storeKey, json)))}`);
  console.log(`  open       ${us(await median(() => codec.open(storeKey, sealed)))}`);
  console.log(`  seal+open  ${us(await median(async () => codec.open(storeKey, await codec.seal(storeKey, json))))}`);
}

const set = SETS['JWT access token'] as TokenSet;
const memory = new MemorySharedStore();
const plain = new TokenStore(memory, 60_000);
const sealed = new TokenStore(memory, 60_000, codec);
console.log('\nTokenStore create + read, in-memory store (what a login and a refresh each do once):');
const createAndRead = (tokens: TokenStore) => async () => {
  await tokens.create('login', set);
  return tokens.read('login');
};
console.log(`  JSON       ${us(await median(createAndRead(plain)))}`);
console.log(`  JWE        ${us(await median(createAndRead(sealed)))}`);
memory.close();

const key = randomBytes(32);
const bytes = randomBytes(JSON.stringify(set).length);
const raw = await median(() => {
  const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
  c.update(bytes);
  c.final();
  return c.getAuthTag();
});
console.log(`\nyardstick: node:crypto AES-256-GCM of ${bytes.length} bytes, synchronous: ${us(raw)}`);
