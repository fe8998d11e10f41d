/**
 * The demo's HTML pages (examples/demo-app.ts serves them): plain server-rendered strings, every
 * value escaped, and two small inline scripts on the profile page (a countdown, and the `fetch`
 * of the protected JSON route). Stable element ids are what test/browser/ reads.
 */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const escapeHtml = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

/** What every page says about where it runs: useful once two demo processes share one Redis. */
export interface DemoInfo {
  /** This process: its URL and pid. */
  servedBy: string;
  sessionStore: 'memory' | 'redis';
  /** The provider's issuer (or its authorization endpoint when configured without one). */
  issuer: string | undefined;
  /**
   * Set when the provider is the development provider (this process's embedded one, or another
   * demo process's): a login name it knows and a sample password, shown on the home page.
   */
  devLogin: { login: string; password: string; otherLogins: string[] } | undefined;
}

/** An access token as the profile page shows it: never the token itself. */
export interface TokenView {
  /** Epoch seconds. */
  expiresAt: number | undefined;
  /** The first characters of the token's SHA-256: shows that a refresh brought a new token. */
  fingerprint: string | undefined;
}

/** The one-shot message the profile page shows after "Refresh now". */
export type RefreshNotice = { kind: 'refreshed'; before: TokenView; after: TokenView } | { kind: 'failed'; code: string; message: string };

export interface ProfileView {
  sub: string;
  user: unknown;
  claims: unknown;
  token: TokenView;
  hasRefreshToken: boolean;
  scopes: string[];
  notice: RefreshNotice | undefined;
}

const isoTime = (epochSeconds: number | undefined): string =>
  epochSeconds === undefined ? 'unknown' : new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');

export const secondsLeft = (epochSeconds: number | undefined): number | undefined =>
  epochSeconds === undefined ? undefined : Math.max(0, epochSeconds - Math.floor(Date.now() / 1000));

const json = (value: unknown): string => escapeHtml(JSON.stringify(value, null, 2));

function layout(title: string, info: DemoInfo, body: string): string {
  const store =
    info.sessionStore === 'redis' ? 'sessions and token sets in Redis (shared with other demo processes)' : 'sessions in memory (this process only)';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
nav{display:flex;gap:1rem;flex-wrap:wrap;font-size:.9rem;color:#555;border-bottom:1px solid #ddd;padding-bottom:.5rem}
pre{background:#f4f4f4;padding:.8rem 1rem;overflow:auto;font-size:.85rem}
code{background:#f4f4f4;padding:0 .25rem}
button,a.button{font:inherit;padding:.4rem .9rem;cursor:pointer}
form{display:inline-block;margin:0 .5rem .5rem 0}
.box{border:1px solid #cfd8e3;background:#f5f9ff;padding:.6rem 1rem;border-radius:.4rem}
.ok{border-color:#9c9;background:#f2fbf2}.err{border-color:#d99;background:#fdf2f2}
</style></head>
<body><nav><a href="/">Home</a><a href="/profile">Profile</a><span id="served-by">served by ${escapeHtml(info.servedBy)}</span><span id="session-store">${escapeHtml(store)}</span></nav>
<h1>${escapeHtml(title)}</h1>
${body}
</body></html>`;
}

function providerBox(info: DemoInfo): string {
  const issuer = info.issuer ? `<p>OpenID Provider: <code id="issuer">${escapeHtml(info.issuer)}</code></p>` : '';
  if (!info.devLogin) return issuer ? `<div class="box">${issuer}</div>` : '';
  const { login, password, otherLogins } = info.devLogin;
  const others = otherLogins.map((l) => `<code>${escapeHtml(l)}</code>`).join(', ');
  return `<div class="box" id="dev-provider">
<p>This demo runs a development OpenID Provider, so there is no account to create.</p>
<p>Log in as <code id="dev-login">${escapeHtml(login)}</code> with any password: it is not checked (for example <code id="dev-password">${escapeHtml(password)}</code>).</p>
<p>${others ? `${others} ${otherLogins.length === 1 ? 'works' : 'work'} too; ` : ''}any other login name becomes a new account.</p>
${issuer}
</div>`;
}

export function homePage(info: DemoInfo, signedIn: { name: string; email: string | undefined } | undefined): string {
  const state = signedIn
    ? `<p id="greeting">Signed in as <strong>${escapeHtml(signedIn.name)}</strong> (${escapeHtml(signedIn.email ?? 'no email')}).</p>
<p><a class="button" id="profile-link" href="/profile">Your profile</a></p>
<form method="post" action="/oidc/logout"><button id="logout" type="submit">Log out</button></form>`
    : `<p id="greeting">You are not signed in.</p>
<p><a id="login" class="button" href="/oidc/authenticate?next=/profile">Log in</a></p>`;
  return layout('express-oidc-rp demo', info, `${state}\n${providerBox(info)}`);
}

function noticeBox(notice: RefreshNotice | undefined): string {
  if (!notice) return '';
  if (notice.kind === 'failed') {
    return `<p class="box err" id="refresh-message">Refresh failed: <code>${escapeHtml(notice.code)}</code> ${escapeHtml(notice.message)}</p>`;
  }
  const { before, after } = notice;
  return `<p class="box ok" id="refresh-message">Refreshed: the access token now expires at <strong>${escapeHtml(isoTime(after.expiresAt))}</strong> (was ${escapeHtml(isoTime(before.expiresAt))}); fingerprint ${escapeHtml(before.fingerprint ?? '-')} &rarr; ${escapeHtml(after.fingerprint ?? '-')}.</p>`;
}

// Reads its inputs from the page (data attributes), so no server value is ever spliced into code.
const PROFILE_SCRIPT = `<script>
const expiresAt = Number(document.getElementById('expires-at').dataset.epoch);
const left = document.getElementById('expires-in');
if (expiresAt) setInterval(() => { left.textContent = String(Math.max(0, Math.round(expiresAt - Date.now() / 1000))); }, 1000);

async function callApi() {
  const status = document.getElementById('api-status');
  const out = document.getElementById('api-result');
  status.textContent = 'calling...';
  delete status.dataset.status;
  try {
    // Accept: application/json: when the session is gone, requireAuth() answers 401 JSON, not a redirect to login.
    const res = await fetch('/api/me', { headers: { accept: 'application/json' } });
    out.textContent = JSON.stringify(await res.json(), null, 2);
    status.textContent = res.status + ' ' + res.statusText;
    status.dataset.status = String(res.status);
  } catch (err) {
    status.textContent = 'failed: ' + err;
    status.dataset.status = 'error';
  }
}
document.getElementById('api-call').addEventListener('click', callApi);
callApi();
</script>`;

export function profilePage(info: DemoInfo, view: ProfileView): string {
  const { token } = view;
  const left = secondsLeft(token.expiresAt);
  const body = `${noticeBox(view.notice)}
<h2>User</h2>
<p id="profile-sub">sub: ${escapeHtml(view.sub)}</p>
<pre id="user">${json(view.user)}</pre>

<h2>Access token</h2>
<p>Expires at <time id="expires-at" datetime="${escapeHtml(isoTime(token.expiresAt))}" data-epoch="${escapeHtml(token.expiresAt ?? '')}">${escapeHtml(isoTime(token.expiresAt))}</time>,
in <span id="expires-in">${escapeHtml(left ?? '?')}</span> seconds.
Fingerprint (SHA-256, not the token): <code id="token-fingerprint">${escapeHtml(token.fingerprint ?? '-')}</code>.
Refresh token: <span id="has-refresh-token">${view.hasRefreshToken ? 'yes' : 'no'}</span>. Scopes: <code>${escapeHtml(view.scopes.join(' '))}</code>.</p>
<p>The library renews the access token by itself shortly before it expires (sessionRefresh).
"Refresh now" makes a refresh grant at once (<code>await req.oidc.refresh()</code>).</p>
<form id="refresh-form" method="post" action="/profile/refresh"><button id="refresh-now" type="submit">Refresh now</button></form>

<h2>Protected API</h2>
<p>This page called <code>GET /api/me</code>, a JSON route behind <code>requireAuth()</code>, with <code>fetch</code>:
<span id="api-status">calling...</span> <button id="api-call" type="button">Call again</button></p>
<pre id="api-result"></pre>

<h2>ID token claims</h2>
<p><code>req.oidc.claims</code>: the ID token's claims, with userinfo's.</p>
<pre id="claims">${json(view.claims)}</pre>

<form method="post" action="/oidc/logout"><button id="logout" type="submit">Log out</button></form>
${PROFILE_SCRIPT}`;
  return layout('Profile', info, body);
}
