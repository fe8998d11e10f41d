// Drives the dev provider's (oidc-provider devInteractions) login, consent and logout pages over
// plain HTTP, without a browser: follows redirects by hand while they stay on the provider and
// fills in the HTML forms it serves. `drive` and `submit` are exported for other providers' pages
// (django-oauth-toolkit.ts).

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_STEPS = 25;

interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  expiresAt: number; // ms epoch; Infinity for session cookies
  secure: boolean;
}

/**
 * A minimal cookie jar: host-only cookies (the Domain attribute is ignored), path matching,
 * Max-Age/Expires, Secure. Like a browser it keys cookies by host, not port, so two servers on
 * 127.0.0.1 share cookie names; the dev provider uses port-specific cookie names for that reason.
 */
export class CookieJar {
  private cookies: StoredCookie[] = [];

  /** Store the Set-Cookie headers of a response received from `url`. */
  store(url: string | URL, setCookie: readonly string[]): void {
    const u = new URL(url);
    for (const header of setCookie) {
      const cookie = parseSetCookie(header, u);
      if (!cookie) continue;
      this.cookies = this.cookies.filter((c) => !(c.name === cookie.name && c.host === cookie.host && c.path === cookie.path));
      if (cookie.expiresAt > Date.now()) this.cookies.push(cookie);
    }
  }

  /** The Cookie header value to send to `url`, or undefined when no cookie applies. */
  header(url: string | URL): string | undefined {
    const u = new URL(url);
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expiresAt > now);
    const matching = this.cookies
      .filter((c) => c.host === u.hostname && pathMatches(u.pathname, c.path) && (!c.secure || u.protocol === 'https:'))
      // RFC 6265 5.4: longer paths first.
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** The value of cookie `name` that would be sent to `url`. */
  get(url: string | URL, name: string): string | undefined {
    const u = new URL(url);
    return this.cookies.find((c) => c.name === name && c.host === u.hostname && pathMatches(u.pathname, c.path))?.value;
  }

  clear(): void {
    this.cookies = [];
  }
}

/** What `sendWithJar` answers: the status, the Location (absolute) and the body as text. */
export interface JarAnswer {
  status: number;
  location: string | undefined;
  body: string;
}

/** One request with the jar's cookies, redirects not followed; the answer's Set-Cookie go into the jar. */
export async function sendWithJar(jar: CookieJar, url: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {}): Promise<JarAnswer> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const res = await fetch(url, { method: init.method ?? 'GET', headers, redirect: 'manual' });
  jar.store(url, res.headers.getSetCookie());
  const location = res.headers.get('location') ?? undefined;
  return { status: res.status, location: location && new URL(location, url).href, body: await res.text() };
}

function parseSetCookie(header: string, url: URL): StoredCookie | undefined {
  const [pair, ...attrs] = header.split(';');
  if (!pair) return undefined;
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const cookie: StoredCookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    host: url.hostname,
    path: defaultPath(url.pathname),
    expiresAt: Number.POSITIVE_INFINITY,
    secure: false,
  };
  let maxAgeSeen = false;
  for (const attr of attrs) {
    const i = attr.indexOf('=');
    const key = (i === -1 ? attr : attr.slice(0, i)).trim().toLowerCase();
    const value = i === -1 ? '' : attr.slice(i + 1).trim();
    if (key === 'path' && value.startsWith('/')) cookie.path = value;
    else if (key === 'secure') cookie.secure = true;
    else if (key === 'max-age' && /^-?\d+$/.test(value)) {
      maxAgeSeen = true; // Max-Age wins over Expires
      cookie.expiresAt = Date.now() + Number(value) * 1000;
    } else if (key === 'expires' && !maxAgeSeen) {
      const t = Date.parse(value);
      if (!Number.isNaN(t)) cookie.expiresAt = t;
    }
  }
  return cookie;
}

function defaultPath(pathname: string): string {
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}

// ---------------------------------------------------------------------------------------------

export interface HtmlForm {
  action: string | undefined;
  method: string;
  id: string | undefined;
  inputs: Map<string, string>;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (_m, ent: string) => {
    const e = ent.toLowerCase();
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e] ?? '';
  });
}

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1];
    if (!name) continue;
    out.set(name.toLowerCase(), decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return out;
}

/** The forms of an HTML page with the named input/button values they would submit (hidden and pre-filled). */
function parseForms(html: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1] ?? '');
    const inputs = new Map<string, string>();
    for (const input of (m[2] ?? '').matchAll(/<input\b([^>]*?)\/?>/gi)) {
      const a = attributes(input[1] ?? '');
      const name = a.get('name');
      if (name) inputs.set(name, a.get('value') ?? '');
    }
    forms.push({ action: attrs.get('action'), method: (attrs.get('method') ?? 'get').toLowerCase(), id: attrs.get('id'), inputs });
  }
  return forms;
}

export function errorDetails(html: string): string {
  const rows = [...html.matchAll(/<pre[^>]*>([\s\S]*?)<\/pre>/gi)].map((m) => decodeEntities((m[1] ?? '').replace(/<[^>]+>/g, '')));
  if (rows.length) return rows.join('; ');
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 500);
}

export interface Step {
  url: string;
  method: 'GET' | 'POST';
  body?: URLSearchParams;
}

export type PageHandler = (page: { url: string; status: number; html: string; forms: HtmlForm[] }) => Step | { done: string };

/**
 * Request `start`, follow redirects while they stay on `origin`, and hand each HTML page to
 * `onPage`, which answers with the next request or with the URL to return.
 */
export async function drive(start: Step, origin: string, jar: CookieJar, onPage: PageHandler): Promise<string> {
  let step: Step = start;
  for (let i = 0; i < MAX_STEPS; i++) {
    const headers = new Headers({ accept: 'text/html' });
    const cookie = jar.header(step.url);
    if (cookie) headers.set('cookie', cookie);
    if (step.body) headers.set('content-type', 'application/x-www-form-urlencoded');
    const res = await fetch(step.url, { method: step.method, headers, body: step.body, redirect: 'manual' });
    jar.store(step.url, res.headers.getSetCookie());

    if (REDIRECT_STATUSES.has(res.status)) {
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location) throw new Error(`${res.status} from ${step.url} without a Location header`);
      const next = new URL(location, step.url);
      if (next.origin !== origin) return next.href;
      // 307/308 repeat the request as is; 301/302/303 turn it into a GET.
      step = res.status === 307 || res.status === 308 ? { ...step, url: next.href } : { url: next.href, method: 'GET' };
      continue;
    }

    const html = await res.text();
    const result = onPage({ url: step.url, status: res.status, html, forms: parseForms(html) });
    if ('done' in result) return result.done;
    step = result;
  }
  throw new Error(`gave up after ${MAX_STEPS} requests at the provider (redirect loop?)`);
}

export function submit(form: HtmlForm, pageUrl: string, extra: Record<string, string> = {}): Step {
  // A Map so `extra` replaces the form's own (empty) fields instead of duplicating them.
  const body = new URLSearchParams([...new Map([...form.inputs, ...Object.entries(extra)])]);
  const url = new URL(form.action ?? pageUrl, pageUrl).href;
  return form.method === 'post' ? { url, method: 'POST', body } : { url: `${url.split('?')[0]}?${body}`, method: 'GET' };
}

/**
 * Given the authorization URL the RP redirected to, log in at the dev provider as `login`
 * (default 'alice'; any password is accepted) and return the URL the provider finally redirects
 * to: the RP's redirect_uri with code/state/iss, or with error/error_description.
 *
 * Pass the same `jar` again to reuse the provider session (SSO), e.g. for prompt=none; with a
 * live session the login form is skipped. Throws when the provider answers with an error page
 * (e.g. an unregistered redirect_uri) or with a page it cannot fill in.
 */
export async function completeProviderLogin(authorizeUrl: string, opts: { login?: string; password?: string; jar?: CookieJar } = {}): Promise<string> {
  const login = opts.login ?? 'alice';
  const password = opts.password ?? 'any-password';
  const jar = opts.jar ?? new CookieJar();
  const origin = new URL(authorizeUrl).origin;

  return drive({ url: authorizeUrl, method: 'GET' }, origin, jar, ({ url, status, html, forms }) => {
    if (status !== 200) throw new Error(`provider answered ${status} at ${url}: ${errorDetails(html)}`);
    const loginForm = forms.find((f) => f.inputs.get('prompt') === 'login');
    if (loginForm) return submit(loginForm, url, { login, password });
    const consentForm = forms.find((f) => f.inputs.get('prompt') === 'consent');
    if (consentForm) return submit(consentForm, url);
    // response_mode=form_post: the provider answers with a self-submitting form aimed at the RP.
    const post = forms.find((f) => f.action && new URL(f.action, url).origin !== origin);
    if (post?.action) {
      throw new Error(`provider answered with a form_post to ${post.action}; completeProviderLogin only supports query responses`);
    }
    throw new Error(`unexpected provider page at ${url}: ${errorDetails(html)}`);
  });
}

/**
 * Follow an RP-initiated logout (the end_session URL the RP redirected to) at the dev provider,
 * confirming "sign me out", and return where the provider sends the user: the
 * post_logout_redirect_uri (with state), or the provider's own "signed out" page URL.
 */
export async function completeProviderLogout(endSessionUrl: string, opts: { jar?: CookieJar } = {}): Promise<string> {
  const jar = opts.jar ?? new CookieJar();
  const origin = new URL(endSessionUrl).origin;
  let confirmed = false;

  return drive({ url: endSessionUrl, method: 'GET' }, origin, jar, ({ url, status, html, forms }) => {
    if (status !== 200) throw new Error(`provider answered ${status} at ${url}: ${errorDetails(html)}`);
    const form = forms.find((f) => f.inputs.has('xsrf'));
    if (form && !confirmed) {
      confirmed = true;
      return submit(form, url, { logout: 'yes' });
    }
    // No form left: the provider's own post-logout page.
    return { done: url };
  });
}
