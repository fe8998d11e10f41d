/**
 * examples/commonjs-express4/app.cjs, run with plain `node app.cjs` in a project laid out as
 * `npm install express@4 express-session express-oidc-rp` lays it out: node_modules/express is
 * Express 4 (this repository's `express4` package) and node_modules/express-oidc-rp is the package
 * as published (package.json and dist, as `npm run build` left them), so that `require('express')`
 * in the app and `import 'express'` in the package both find Express 4, and the package's own
 * dependencies (jose, undici) are found beside it. Against a development provider this file holds.
 */
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevProvider } from '../../examples/dev-provider.js';
import { completeProviderLogin } from '../support/provider-login.js';
import { loginWithCookies } from '../support/login.js';
import { freePort, providerFor, ROOT, startExample, type RunningExample } from './support.js';

let app: RunningExample | undefined;
let op: DevProvider | undefined;
let project: string | undefined;

/** A project directory with app.cjs and the node_modules an install of Express 4 and the package gives. */
function userProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'commonjs-express4-example-'));
  cpSync(join(ROOT, 'examples/commonjs-express4/app.cjs'), join(dir, 'app.cjs'));
  const modules = join(dir, 'node_modules');
  const installed = join(modules, 'express-oidc-rp');
  mkdirSync(installed, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(installed, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(installed, 'dist'), { recursive: true });
  const linked: Record<string, string> = { express: 'express4', 'express-session': 'express-session', jose: 'jose', undici: 'undici' };
  for (const [name, from] of Object.entries(linked)) symlinkSync(realpathSync(join(ROOT, 'node_modules', from)), join(modules, name), 'dir');
  return dir;
}

beforeAll(async () => {
  const port = await freePort();
  const provider = await providerFor(port);
  op = provider.op;
  project = userProject();
  app = await startExample(process.execPath, ['app.cjs'], { cwd: project, env: provider.env });
});

afterAll(async () => {
  await app?.stop();
  await op?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('examples/commonjs-express4', () => {
  it('starts on Express 4 with require() of the package (require(esm), Node >= 20.19)', () => {
    expect(app!.output()).toMatch(/commonjs-express4 example on Express 4\.\d+\.\d+, listening on/);
  });

  it('logs in and serves the protected route', async () => {
    const url = app!.urls[0]!;
    expect((await request(url).get('/me').set('accept', 'application/json')).status).toBe(401);
    const cookie = await loginWithCookies(url, (authorizeUrl) => completeProviderLogin(authorizeUrl, { login: 'alice' }));
    const me = await request(url).get('/me').set('accept', 'application/json').set('cookie', cookie);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ user: { sub: 'alice', email: 'alice@example.com' }, express: expect.stringMatching(/^4\./) });
  });
});
