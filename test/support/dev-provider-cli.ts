/**
 * `express-oidc-rp dev-provider` as a user runs it: a child process, from the source (cli/, with
 * tsx) or from the packed package (test/package.test.ts). What it prints is parsed the way a user
 * reads it, and a real app (rp-app.ts) logs in against it: refresh, bearerAuth through
 * introspection, back-channel logout, RP-initiated logout to the default post-logout URI.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express from 'express';
import request from 'supertest';
import { expect } from 'vitest';
import { loginThrough } from './login.js';
import { CookieJar, completeProviderLogin, completeProviderLogout } from './provider-login.js';
import { startRpApp, type ReservedPort } from './rp-app.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The command from the source: `node --import tsx cli/express-oidc-rp.ts`. */
export const SOURCE_COMMAND = ['--import', 'tsx', fileURLToPath(new URL('../../cli/express-oidc-rp.ts', import.meta.url))];

const START_TIMEOUT_MS = 20_000;

/** A minimal environment: the test runner's own variables (vite sets BASE_URL, NODE_OPTIONS...) stay out. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'SYSTEMROOT']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `node <nodeArgs> <args>` to its end (a command that should not keep running). */
export function runCli(nodeArgs: string[], args: string[], cwd = ROOT): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

export interface RunningCli {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** OIDC_RP_BASE_URL when it printed one. */
  baseUrl: string | undefined;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` (default SIGTERM) and resolves with how the process ended. */
  stop(signal?: NodeJS.Signals): Promise<Finished>;
}

/** Start the command and wait for the environment lines it prints once the provider listens. */
export async function startCli(nodeArgs: string[], args: string[], cwd = ROOT): Promise<RunningCli> {
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise<Finished>((resolve) => child.once('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
  // No orphan outlives a crashed test run.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void closed.then(() => process.off('exit', killOnExit));

  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`dev-provider ${why}\n--- stderr ---\n${stderr.trim()}\n--- stdout ---\n${stdout.trim()}`));
    };
    const timer = setTimeout(() => fail(`printed no environment within ${START_TIMEOUT_MS / 1000}s`), START_TIMEOUT_MS);
    child.once('error', (err) => fail(`could not be spawned: ${err.message}`));
    void closed.then(({ status, signal }) => fail(`exited before listening (status ${status}, signal ${signal})`));
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      // The last line of the block: everything above it is printed.
      if (!/Ctrl\+C stops it\.\n/.test(stdout)) return;
      clearTimeout(timer);
      resolve(Object.fromEntries([...stdout.matchAll(/^(OIDC_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string])));
    });
  });

  const { OIDC_OP_ISSUER: issuer, OIDC_RP_CLIENT_ID: clientId, OIDC_RP_CLIENT_SECRET: clientSecret } = env;
  if (!issuer || !clientId || !clientSecret) throw new Error(`dev-provider printed no issuer, client id or secret:\n${stdout}`);
  return {
    issuer,
    clientId,
    clientSecret,
    baseUrl: env.OIDC_RP_BASE_URL,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const done = await closed;
      clearTimeout(timer);
      return done;
    },
  };
}

/** Bounded poll: the provider's back-channel POST may land after its end-session response. */
async function waitUntil(cond: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The dev-provider command line for an app at `reserved` (what appLogsInAgainst drives): any free port, its callback and back-channel logout URIs. */
export function devProviderArgsFor(reserved: ReservedPort): string[] {
  return [
    'dev-provider',
    '--port',
    '0',
    '--redirect-uri',
    `${reserved.url}/oidc/callback`,
    '--backchannel-logout-uri',
    `${reserved.url}/oidc/backchannel-logout`,
  ];
}

/**
 * An app configured only from what the command printed (issuer, client id, secret; the library's
 * default scopes) logs in as a name the provider has never seen, refreshes, calls a bearerAuth()
 * API with its access token (opaque: checked by introspection), is logged out by the provider
 * over the back channel, and logs out itself to the default post-logout URI. `reserved` is the
 * app's port, named in the command's --redirect-uri and --backchannel-logout-uri.
 */
export async function appLogsInAgainst(cli: RunningCli, reserved: ReservedPort): Promise<void> {
  const rp = await startRpApp({ reserved, oidc: { issuer: cli.issuer, clientId: cli.clientId, clientSecret: cli.clientSecret } });
  const api = express();
  api.get('/api/whoami', rp.oidc.bearerAuth(), (req, res) => {
    res.json({ sub: req.oidc.claims?.sub });
  });
  const apiServer = createServer(api);
  await new Promise<void>((resolve) => apiServer.listen(0, '127.0.0.1', resolve));
  const apiUrl = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}/api/whoami`;
  const logs = () => JSON.stringify(rp.logs.slice(-5));

  try {
    // Any name, any password; the default scopes (openid email) want an email claim, which a new name gets.
    const agent = request.agent(rp.url);
    const jar = new CookieJar();
    const done = await loginThrough(agent, (url) => completeProviderLogin(url, { login: 'carol', password: 'whatever', jar }));
    expect(done.status, logs()).toBe(302);
    const me = await agent.get('/me').set('accept', 'application/json');
    expect(me.status, me.text).toBe(200);
    expect(me.body.claims).toMatchObject({ sub: 'carol', email: 'carol@example.com' });
    expect(typeof me.body.refreshToken, 'a refresh token without asking for offline_access').toBe('string');

    const refreshed = await agent.post('/refresh-now').set('accept', 'application/json');
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(refreshed.body.accessToken).not.toBe(me.body.accessToken);
    const after = await agent.get('/me').set('accept', 'application/json');
    expect(after.body.refreshToken, 'rotated').not.toBe(me.body.refreshToken);

    const ok = await fetch(apiUrl, { headers: { authorization: `Bearer ${refreshed.body.accessToken}` } });
    expect(ok.status, logs()).toBe(200);
    expect(await ok.json()).toEqual({ sub: 'carol' });
    const forged = await fetch(apiUrl, { headers: { authorization: 'Bearer not-a-token-the-provider-issued' } });
    expect(forged.status).toBe(401);

    // The user signs out at the provider itself: the app's session ends over the back channel.
    const endSession = new URL(`${cli.issuer}/session/end`);
    endSession.searchParams.set('client_id', cli.clientId);
    await completeProviderLogout(endSession.href, { jar });
    await waitUntil(async () => (await agent.get('/me').set('accept', 'application/json')).status === 401, `back-channel logout; app logs ${logs()}`);

    // Log in again, then out through the app: the provider sends the browser to the app's origin + /.
    const again = await loginThrough(agent, (url) => completeProviderLogin(url, { login: 'carol', jar }));
    expect(again.status, logs()).toBe(302);
    const logout = await agent.post('/oidc/logout');
    expect(logout.status, logout.text).toBe(303);
    const landed = await completeProviderLogout(logout.headers.location as string, { jar });
    expect(landed.startsWith(`${rp.url}/`), landed).toBe(true);
  } finally {
    apiServer.closeAllConnections();
    await new Promise<void>((resolve) => apiServer.close(() => resolve()));
    await rp.close();
  }
}
