/**
 * The library's own cost on the hot path, without HTTP: `oidc.router` (its dispatcher and
 * sessionRefresh) then `requireAuth()`, for a signed-in session with a valid token, called directly
 * with a request object shaped as express and express-session leave it. Reports ns per request,
 * GC included, the cost of making the request object itself subtracted.
 *
 *   npm run build && node --import tsx --expose-gc bench/hot-path.ts
 *
 * BENCH_DIST=<path of another build's index.js> measures that build instead.
 *
 * The HTTP benchmark (bench/run.ts) is what the targets are judged on; this one isolates the part
 * the library can change, where machine noise would bury a few hundred nanoseconds.
 */
import { pathToFileURL } from 'node:url';
import type { Request, Response } from 'express';

// BENCH_DIST: another build of the library (its index.js), to compare two versions.
const { createOidcAuth }: typeof import('../dist/index.js') = await import(
  process.env.BENCH_DIST ? pathToFileURL(process.env.BENCH_DIST).href : '../dist/index.js'
);

const N = Number(process.env.BENCH_HOT_N ?? 300_000);
const ROUNDS = Number(process.env.BENCH_HOT_ROUNDS ?? 7);
const gc = (globalThis as { gc?: () => void }).gc;

const oidc = createOidcAuth({
  env: {},
  issuer: 'https://op.example.com',
  clientId: 'bench',
  clientSecret: 'bench-secret',
  baseUrl: 'https://rp.example.com',
  logger: { debug() {}, info() {}, warn() {}, error() {} },
});
const guard = oidc.requireAuth();
const now = Math.floor(Date.now() / 1000);
/** What a login leaves in the session (the shape bench/run.ts measures over HTTP). */
const oidcData = {
  auth: {
    loginId: '15iIcAfPbYJmJOUj0rGXZg',
    iss: 'https://op.example.com',
    sub: 'user-1',
    sid: 'fJgvkKdd5CwZje9L',
    claims: {
      iss: 'https://op.example.com',
      sub: 'user-1',
      aud: 'bench',
      exp: now + 300,
      iat: now,
      auth_time: now,
      sid: 'fJgvkKdd5CwZje9L',
      email: 'user1@example.com',
      email_verified: true,
      name: 'User One',
    },
    user: { sub: 'user-1', iss: 'https://op.example.com', email: 'user1@example.com', email_verified: true, name: 'User One' },
    authTime: now,
    renewAt: now + 900,
    accessToken: '6nf0-QhcvzX8_6uiC8sRN-Lt3gLf1H1qxBi1L124Hpc',
    accessTokenExpiresAt: now + 3600,
    refreshToken: 'Mv2nFYufiTeBcGTNu-otj6YLkLnMBmP-4lMlDDPFPV4',
    scope: 'openid email',
    tokensObtainedAt: now,
    tokenVersion: 1,
  },
};
const noop = () => {};
const session = { cookie: { originalMaxAge: null }, regenerate: noop, save: noop, destroy: noop, oidc: oidcData };
const res = {} as Response;

/** A fresh request each time, as express-session makes one (the session itself is parsed per request). */
function request(): Request {
  return {
    method: 'GET',
    path: '/api',
    originalUrl: '/api',
    url: '/api',
    headers: { accept: 'application/json' },
    get: (name: string) => (name.toLowerCase() === 'authorization' ? undefined : 'application/json'),
    session: { ...session, oidc: { auth: { ...oidcData.auth } } },
  } as unknown as Request;
}

let passed = 0;
function one(): void {
  const req = request();
  oidc.router(req, res, (err?: unknown) => {
    if (err) throw err;
    guard(req, res, (e?: unknown) => {
      if (e) throw e;
      if (req.oidc.claims?.sub === 'user-1') passed++;
    });
  });
}
/** The same request object cost without the library, to subtract. */
function baseline(): void {
  const req = request();
  if ((req as unknown as { session: { oidc: { auth: { sub: string } } } }).session.oidc.auth.sub === 'user-1') passed++;
}

function measure(fn: () => void): number {
  gc?.();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  return Number(process.hrtime.bigint() - t0) / N;
}

for (let i = 0; i < 20_000; i++) {
  one();
  baseline();
}
const lib: number[] = [];
const base: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  base.push(measure(baseline));
  lib.push(measure(one));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
if (passed < N * ROUNDS) throw new Error('the guard did not let the signed-in request through');
console.log(
  `oidc.router + requireAuth(), signed-in session, valid token: ${(median(lib) - median(base)).toFixed(0)} ns per request ` +
    `(median of ${ROUNDS} rounds of ${N}; ${median(lib).toFixed(0)} ns with the request object, ${median(base).toFixed(0)} ns for the request object alone)`,
);
await oidc.close();
