/**
 * examples/typescript-strict: `tsc -p examples/typescript-strict` passes against the package's
 * published declarations (dist/*.d.ts, checked too: skipLibCheck is off there), which also proves
 * every `@ts-expect-error` of type-errors.ts still meets its error; and the app runs as
 * `npm run example -- typescript-strict` runs it, with `req.user` built by its typed hooks.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeProviderLogin } from '../support/provider-login.js';
import { loginWithCookies } from '../support/login.js';
import { freePort, startExample, typeCheck, type RunningExample } from './support.js';

let example: RunningExample | undefined;
/** Started first, awaited last: tsc's seconds overlap the app's start and login. */
let typeChecked: ReturnType<typeof typeCheck>;

beforeAll(async () => {
  typeChecked = typeCheck('examples/typescript-strict');
  const port = await freePort();
  example = await startExample(process.execPath, ['--import', 'tsx', 'examples/run-example.ts', 'typescript-strict'], {
    env: { PORT: String(port), DEV_PROVIDER_PORT: '0' },
  });
});

afterAll(async () => {
  await example?.stop();
});

describe('examples/typescript-strict', () => {
  it('logs in, and /me answers the Express.User its hooks made', async () => {
    const url = example!.urls[0]!;
    const cookie = await loginWithCookies(url, (authorizeUrl) => completeProviderLogin(authorizeUrl, { login: 'alice' }));
    const me = await request(url).get('/me').set('accept', 'application/json').set('cookie', cookie);
    expect(me.status).toBe(200);
    expect(me.body.user).toEqual({ sub: 'alice', email: 'alice@example.com', displayName: 'Alice Example' });
  });

  it('type-checks under its strict tsconfig.json, and refuses each line of type-errors.ts', async () => {
    const { code, output } = await typeChecked;
    expect(output).toBe('');
    expect(code).toBe(0);
  });
});
