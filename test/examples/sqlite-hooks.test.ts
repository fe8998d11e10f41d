/**
 * examples/sqlite-hooks: the user hooks on a real SQLite table. The example runs as its header
 * says (tsx, configured by OIDC_* variables) against a development provider this file holds, so
 * that it can change what the provider says about a user between logins; the table is read (and,
 * to set up a case, written) here through better-sqlite3, as another process of the app would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevProvider } from '../../examples/dev-provider.js';
import { completeProviderLogin } from '../support/provider-login.js';
import { loginWithCookies, pathOf } from '../support/login.js';
import { freePort, outputContaining, providerFor, startTsExample, typeCheck, type RunningExample } from './support.js';

/**
 * The columns of examples/sqlite-hooks/users.ts's table, restated: importing that file, even for
 * a type, would bring its Express.User augmentation into the repository's own type-check.
 */
interface UserRow {
  id: number;
  iss: string | null;
  sub: string | null;
  email: string | null;
  name: string;
  is_active: number;
  login_count: number;
  created_at: string;
  last_login_at: string | null;
}

let app: RunningExample | undefined;
let op: DevProvider | undefined;
let db: Database.Database | undefined;
let url: string;
let scratch: string | undefined;
/** Started with the app, finished by the last test: tsc takes seconds, which the logins can use. */
let typeChecked: ReturnType<typeof typeCheck>;

beforeAll(async () => {
  typeChecked = typeCheck('examples/sqlite-hooks');
  const port = await freePort();
  const provider = await providerFor(port);
  op = provider.op;
  scratch = mkdtempSync(join(tmpdir(), 'sqlite-hooks-example-'));
  const databasePath = join(scratch, 'users.sqlite');
  app = await startTsExample('examples/sqlite-hooks/app.ts', {
    env: { ...provider.env, DATABASE_PATH: databasePath, INVITE_EMAILS: 'bob@example.com' },
  });
  url = app.urls[0] as string;
  db = new Database(databasePath);
});

afterAll(async () => {
  db?.close();
  await app?.stop();
  await op?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const rowsFor = (sub: string) => db!.prepare<[string], UserRow>('SELECT * FROM users WHERE sub = ?').all(sub);
const login = (name: string) => loginWithCookies(url, (authorizeUrl) => completeProviderLogin(authorizeUrl, { login: name }));
const me = (cookie: string) => request(url).get('/me').set('accept', 'application/json').set('cookie', cookie);

/** A login the example refuses: the callback sends the browser to /login-failed, and no session results. */
async function refusedLogin(name: string): Promise<void> {
  const start = await request(url).get('/oidc/authenticate');
  const cookie = (start.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
  const callback = await completeProviderLogin(start.headers.location as string, { login: name });
  const done = await request(url).get(pathOf(callback)).set('cookie', cookie);
  expect(done.status).toBe(302);
  expect(done.headers.location).toBe('/login-failed');
  expect((await me(cookie)).status).toBe(401);
}

describe('examples/sqlite-hooks', () => {
  it('creates a row at the first login, and updates the same row at the next', async () => {
    const first = await me(await login('alice'));
    expect(first.status).toBe(200);
    const [created] = rowsFor('alice');
    expect(created).toMatchObject({ iss: op!.issuer, email: 'alice@example.com', name: 'Alice Example', login_count: 1 });
    // req.user is the row, read again by deserializeUser from the id the session kept.
    expect(first.body.user).toEqual(created);

    // The provider's account changes; the next login brings the new name and address.
    Object.assign(op!.accounts.alice!, { name: 'Alice Renamed', email: 'alice@new.example.com' });
    const second = await me(await login('alice'));
    expect(rowsFor('alice')).toEqual([expect.objectContaining({ id: created!.id, name: 'Alice Renamed', email: 'alice@new.example.com', login_count: 2 })]);
    expect(second.body.user).toMatchObject({ id: created!.id, name: 'Alice Renamed' });
  });

  it('keeps only the row id in the session: a renamed or disabled row is seen at the next request', async () => {
    const cookie = await login('alice');
    const { id } = rowsFor('alice')[0]!;
    db!.prepare('UPDATE users SET name = ? WHERE id = ?').run('Renamed by an admin', id);
    expect((await me(cookie)).body.user).toMatchObject({ id, name: 'Renamed by an admin' });

    db!.prepare('UPDATE users SET is_active = 0 WHERE id = ?').run(id);
    expect((await me(cookie)).status).toBe(401);
    db!.prepare('UPDATE users SET is_active = 1 WHERE id = ?').run(id);
  });

  it('gives an invited row (known by email only) to the first login with that verified address', async () => {
    const invited = db!.prepare<[], UserRow>("SELECT * FROM users WHERE email = 'bob@example.com'").get()!;
    expect(invited.sub).toBeNull();
    const signedIn = await me(await login('bob'));
    expect(signedIn.status).toBe(200);
    expect(rowsFor('bob')).toEqual([expect.objectContaining({ id: invited.id, iss: op!.issuer, login_count: 1 })]);
  });

  it('refuses a login whose email the provider did not verify (verifyClaims), and creates nothing', async () => {
    op!.accounts.mallory = { sub: 'mallory', email: 'mallory@example.com', email_verified: false, name: 'Mallory' };
    await refusedLogin('mallory');
    expect(rowsFor('mallory')).toEqual([]);
    expect(await outputContaining(app!, 'OIDC_CLAIMS_REJECTED')).toContain('OIDC_CLAIMS_REJECTED');
  });

  it('refuses a login whose email matches two invited rows, and changes neither', async () => {
    op!.accounts.carol = { sub: 'carol', email: 'carol@example.com', email_verified: true, name: 'Carol' };
    const insert = db!.prepare("INSERT INTO users (email, name) VALUES ('carol@example.com', ?)");
    insert.run('Carol at work');
    insert.run('Carol at home');
    await refusedLogin('carol');
    expect(db!.prepare("SELECT sub, login_count FROM users WHERE email = 'carol@example.com'").all()).toEqual([
      { sub: null, login_count: 0 },
      { sub: null, login_count: 0 },
    ]);
    expect(await outputContaining(app!, 'OIDC_USER_AMBIGUOUS')).toContain('OIDC_USER_AMBIGUOUS');
  });

  it('type-checks on its own (tsconfig.json there: the Express.User augmentation is the row)', async () => {
    const { code, output } = await typeChecked;
    expect(output).toBe('');
    expect(code).toBe(0);
  });
});
