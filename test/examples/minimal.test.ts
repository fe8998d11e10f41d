/**
 * examples/minimal: the quick start as a file. Run as its header says: `npx tsx
 * examples/minimal/app.ts` with nothing configured (it starts the embedded development provider),
 * and `node --env-file=.env --import tsx examples/minimal/app.ts` with a .env naming a provider.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevProvider } from '../../examples/dev-provider.js';
import { completeProviderLogin } from '../support/provider-login.js';
import { loginWithCookies } from '../support/login.js';
import { freePort, providerFor, startExample, type RunningExample } from './support.js';

let alone: RunningExample | undefined;
let fromEnvFile: RunningExample | undefined;
let op: DevProvider | undefined;
let scratch: string | undefined;

beforeAll(async () => {
  const [alonePort, envFilePort] = await Promise.all([freePort(), freePort()]);
  const provider = await providerFor(envFilePort);
  op = provider.op;
  scratch = mkdtempSync(join(tmpdir(), 'minimal-example-'));
  const envFile = join(scratch, '.env');
  writeFileSync(
    envFile,
    Object.entries(provider.env)
      .map(([name, value]) => `${name}=${value}\n`)
      .join(''),
  );
  [alone, fromEnvFile] = await Promise.all([
    startExample('npx', ['tsx', 'examples/minimal/app.ts'], { env: { PORT: String(alonePort), DEV_PROVIDER_PORT: '0' } }),
    startExample(process.execPath, [`--env-file=${envFile}`, '--import', 'tsx', 'examples/minimal/app.ts']),
  ]);
});

afterAll(async () => {
  await Promise.all([alone?.stop(), fromEnvFile?.stop()]);
  await op?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const me = (url: string, cookie?: string) => {
  const req = request(url).get('/me').set('accept', 'application/json');
  return cookie ? req.set('cookie', cookie) : req;
};

describe('examples/minimal', () => {
  it('runs with one command against the embedded development provider: login, /me, logout', async () => {
    const app = alone!;
    const [url] = app.urls as [string];
    const issuer = /development provider at (http:\/\/127\.0\.0\.1:\d+)/.exec(app.output())?.[1];
    expect(issuer, app.output()).toBeDefined();

    expect((await me(url)).status).toBe(401);
    const cookie = await loginWithCookies(url, (authorizeUrl) => completeProviderLogin(authorizeUrl, { login: 'alice' }));
    const signedIn = await me(url, cookie);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toMatchObject({ user: { sub: 'alice', email: 'alice@example.com' }, claims: { sub: 'alice', name: 'Alice Example' } });

    // The home page's form posts here; the provider's end-session endpoint comes next.
    const logout = await request(url).post('/oidc/logout').set('cookie', cookie);
    expect(logout.status).toBe(303);
    expect(logout.headers.location).toMatch(new RegExp(`^${issuer}/`));
    expect((await me(url, cookie)).status).toBe(401);
  });

  it('takes its provider from a .env file (node --env-file)', async () => {
    const app = fromEnvFile!;
    const [url] = app.urls as [string];
    expect(app.output()).not.toContain('development provider');
    const cookie = await loginWithCookies(url, (authorizeUrl) => completeProviderLogin(authorizeUrl, { login: 'bob' }));
    const signedIn = await me(url, cookie);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.claims).toMatchObject({ sub: 'bob', iss: op!.issuer });
  });
});
