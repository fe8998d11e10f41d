/**
 * Back-Channel Logout 1.0 against a real OpenID Provider (oidc-provider, examples/dev-provider.ts):
 * the user ends the provider session at the provider itself; oidc-provider POSTs a logout_token to
 * the RP's registered backchannel_logout_uri and the RP session ends without the browser ever
 * visiting the RP. No mocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { DevProvider } from '../../examples/dev-provider.js';
import { CookieJar, completeProviderLogin, completeProviderLogout } from '../support/provider-login.js';
import type { RpApp } from '../support/rp-app.js';
import { startDevProviderWithRp } from '../support/oidc-provider.js';
import { jwtPayload } from '../support/jwt.js';
import { loginThrough, type Agent } from '../support/login.js';

const CLIENT = { client_id: 'rp-bcl', client_secret: 'rp-bcl-secret-0123456789abcdef0123456789abcdef' };
const JSON_ACCEPT = 'application/json';

interface BackchannelEvent {
  ok: boolean;
  clientId: string;
  accountId: string;
  sid: string;
  error?: string;
}

let op: DevProvider;
let rp: RpApp;
const events: BackchannelEvent[] = [];

beforeAll(async () => {
  ({ op, rp } = await startDevProviderWithRp({
    client: CLIENT,
    clientMetadata: (rpUrl) => ({
      post_logout_redirect_uris: [`${rpUrl}/bye`],
      backchannel_logout_uri: `${rpUrl}/oidc/backchannel-logout`,
      backchannel_logout_session_required: true,
    }),
    // req.oidc.idToken, so the test can read the sid and use it as id_token_hint.
    oidc: { storeIdToken: true },
  }));
  op.provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
    events.push({ ok: true, clientId: client.clientId, accountId, sid });
  });
  op.provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => {
    events.push({ ok: false, clientId: client.clientId, accountId, sid, error: err.message });
  });
});

afterAll(async () => {
  await rp?.close();
  await op?.close();
});

interface Browser {
  agent: Agent;
  jar: CookieJar;
  sid: string;
  idToken: string;
}

/** A browser: its own RP cookies (agent) and its own provider cookies (jar). */
async function loginBrowser(loginName: string): Promise<Browser> {
  const agent = request.agent(rp.url);
  const jar = new CookieJar();
  const done = await loginThrough(agent, (url) => completeProviderLogin(url, { login: loginName, jar }));
  expect(done.status, JSON.stringify(rp.logs.slice(-3))).toBe(302);
  const me = await agent.get('/me').set('accept', JSON_ACCEPT);
  expect(me.status, me.text).toBe(200);
  expect(me.body.claims.sub).toBe(loginName);
  const idToken = me.body.idToken as string;
  const sid = jwtPayload(idToken).sid;
  // backchannel_logout_session_required: the ID token carries the provider session id.
  expect(typeof sid).toBe('string');
  expect(me.body.claims.sid).toBe(sid);
  return { agent, jar, sid: sid as string, idToken };
}

async function meStatus(b: Browser): Promise<number> {
  return (await b.agent.get('/me').set('accept', JSON_ACCEPT)).status;
}

/** Bounded poll: the provider's back-channel POST may complete after its end-session response. */
async function waitUntil(cond: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; RP logs: ${JSON.stringify(rp.logs.slice(-5))}; OP events: ${JSON.stringify(events)}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('back-channel logout from oidc-provider', () => {
  it('the user signs out at the provider (end_session, no id_token_hint): the RP session ends without the browser visiting the RP', async () => {
    const b = await loginBrowser('alice');
    events.length = 0;

    // The user goes to the provider directly; the RP is not involved in this navigation.
    const endSession = new URL(`${op.issuer}/session/end`);
    endSession.searchParams.set('client_id', CLIENT.client_id);
    const landed = await completeProviderLogout(endSession.toString(), { jar: b.jar });
    expect(new URL(landed).origin).toBe(op.issuer); // the provider's own "signed out" page

    await waitUntil(async () => (await meStatus(b)) === 401, 'the RP session to end');
    expect(events).toEqual([{ ok: true, clientId: CLIENT.client_id, accountId: 'alice', sid: b.sid }]);
    const handled = rp.logs.filter((l) => l.message === 'back-channel logout');
    expect(handled.at(-1)?.meta).toMatchObject({ iss: op.issuer, sid: b.sid, sub: 'alice', ended: 1 });
    const who = await b.agent.get('/whoami');
    expect(who.body).toEqual({ authenticated: false, user: null });
  });

  it('two browsers of the same user: ending one provider session (end_session with id_token_hint) ends only that browser at the RP', async () => {
    const first = await loginBrowser('bob');
    const second = await loginBrowser('bob');
    expect(first.sid).not.toBe(second.sid);
    events.length = 0;

    const endSession = new URL(`${op.issuer}/session/end`);
    endSession.searchParams.set('id_token_hint', first.idToken);
    endSession.searchParams.set('post_logout_redirect_uri', `${rp.url}/bye`);
    const landed = await completeProviderLogout(endSession.toString(), { jar: first.jar });
    // Where the provider sends the browser afterwards; it is never followed here.
    expect(landed.startsWith(`${rp.url}/bye`)).toBe(true);

    await waitUntil(async () => (await meStatus(first)) === 401, "the first browser's RP session to end");
    expect(events).toEqual([{ ok: true, clientId: CLIENT.client_id, accountId: 'bob', sid: first.sid }]);
    expect(await meStatus(second)).toBe(200);
    expect(rp.logs.filter((l) => l.message === 'back-channel logout refused')).toEqual([]);
  });
});
