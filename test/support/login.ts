/**
 * Driving a login the way a browser does: the RP's login route, the provider, the RP's callback.
 * The provider step is a function from the authorization URL to the URL the provider sends the
 * browser back to: `atFakeOp` for the fake OP (one redirect), or completeProviderLogin
 * (provider-login.ts) for oidc-provider's login pages.
 */
import { expect } from 'vitest';
import request from 'supertest';
import { sessionCookie } from './cookies.js';

export type Agent = ReturnType<typeof request.agent>;
export type ProviderStep = (authorizeUrl: string) => Promise<string>;

const LOGIN_PATH = '/oidc/authenticate';

/** The browser at the fake OP: it answers the authorization request with one redirect back to the RP. */
export async function atFakeOp(authorizeUrl: string): Promise<string> {
  const res = await fetch(authorizeUrl, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
  return location;
}

/** Path and query of an absolute URL: what a supertest agent bound to the RP's origin requests. */
export function pathOf(url: string | URL): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** GET the login route; it must redirect (to the provider). */
export async function startLogin(agent: Agent, path = LOGIN_PATH): Promise<request.Response> {
  const start = await agent.get(path);
  expect(start.status, start.text).toBe(302);
  return start;
}

/** A whole login with `agent`: login route, provider step, callback. Returns the callback's response. */
export async function loginThrough(agent: Agent, provider: ProviderStep = atFakeOp, path = LOGIN_PATH): Promise<request.Response> {
  const start = await startLogin(agent, path);
  return agent.get(pathOf(await provider(start.headers.location as string)));
}

/**
 * A login at `rpUrl` without an agent, the session cookie carried by hand: for tests that send the
 * same cookie to several processes. Returns the session cookie the login set (the session is
 * regenerated at login, so there must be a new one).
 */
export async function loginWithCookies(rpUrl: string, provider: ProviderStep = atFakeOp): Promise<string> {
  const start = await request(rpUrl).get(LOGIN_PATH);
  expect(start.status, start.text).toBe(302);
  const before = sessionCookie(start);
  expect(before).toBeDefined();
  const callback = new URL(await provider(start.headers.location as string));
  expect(callback.origin).toBe(rpUrl);
  const done = await request(rpUrl)
    .get(pathOf(callback))
    .set('cookie', before as string);
  expect(done.status, done.text).toBe(302);
  const after = sessionCookie(done);
  expect(after, 'the callback sets the regenerated session cookie').toBeDefined();
  return after as string;
}

/** GET /whoami (rp-app.ts and the other test apps): nobody is signed in. */
export async function expectAnonymous(agent: Agent): Promise<void> {
  const who = await agent.get('/whoami');
  expect(who.status).toBe(200);
  expect(who.body).toEqual({ authenticated: false, user: null });
}

/** The protected /me refuses the browser (401 for JSON) and /whoami says nobody is signed in. */
export async function expectLoggedOut(agent: Agent): Promise<void> {
  const me = await agent.get('/me').set('accept', 'application/json');
  expect(me.status).toBe(401);
  await expectAnonymous(agent);
}

/** GET /me as JSON at `app` with a session cookie carried by hand (see loginWithCookies). */
export function meWithCookie(app: { url: string }, cookie: string): Promise<request.Response> {
  return request(app.url)
    .get('/me')
    .set('cookie', cookie)
    .set('accept', 'application/json')
    .then((res) => res);
}
