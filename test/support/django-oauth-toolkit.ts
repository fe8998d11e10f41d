/**
 * A real django-oauth-toolkit (Debian's python3-django-oauth-toolkit, installed by
 * scripts/ensure-system-deps.mjs) as an OpenID Provider on 127.0.0.1: a minimal Django project
 * written into a temp dir the way its OIDC documentation sets one up (OIDC_ENABLED, an RSA key,
 * a validator that adds claims, oauth2_provider.urls under /o/, the admin's login page as
 * LOGIN_URL), a user and an Application registered with manage.py commands, served by
 * `manage.py runserver`.
 *
 * Debian's interpreter (/usr/bin/python3) is used on purpose, not whatever `python3` is first on
 * PATH: a pyenv or venv python does not see Debian's dist-packages.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CookieJar, drive, errorDetails, submit } from './provider-login.js';
import { superviseChild } from './child-process.js';

/** Debian's interpreter, where apt puts django and oauth2_provider. */
export const DJANGO_PYTHON = process.env.OIDC_RP_DJANGO_PYTHON ?? '/usr/bin/python3';

const SETTINGS_PACKAGE = 'rpproject';

export interface DjangoUser {
  username: string;
  password: string;
  email: string;
  firstName: string;
  lastName: string;
}

export interface DjangoOauthToolkitOptions {
  /** The Application's redirect URIs (the RP's `baseUrl + /oidc/callback`). */
  redirectUris: string[];
  clientId?: string;
  clientSecret?: string;
  /** OAUTH2_PROVIDER ACCESS_TOKEN_EXPIRE_SECONDS (DOT's default: 36000). */
  accessTokenExpireSeconds?: number;
  user?: Partial<DjangoUser>;
}

export interface DjangoRequestLine {
  method: string;
  path: string;
  status: number;
}

export interface DjangoOauthToolkit {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The plain issuer URL a user configures: where oauth2_provider.urls is mounted. */
  issuer: string;
  tokenEndpoint: string;
  userinfoEndpoint: string;
  /** RFC 7009 endpoint; DOT serves it but its discovery document does not list it. */
  revocationEndpoint: string;
  clientId: string;
  clientSecret: string;
  user: DjangoUser;
  /** The user's primary key: DOT's `sub`. */
  userId: string;
  /** Requests runserver has logged so far, in order. */
  requests(): DjangoRequestLine[];
  /** What the Django processes printed (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

const SETTINGS_PY = (opts: {
  secretKey: string;
  accessTokenExpireSeconds: number;
}) => `# A minimal Django project serving django-oauth-toolkit as an OpenID Provider (test support).
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = ${JSON.stringify(opts.secretKey)}
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # CommonMiddleware is what answers /o/.well-known/openid-configuration with a 301 to the URL
    # with a trailing slash (APPEND_SLASH); kept, as every startproject has it.
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "${SETTINGS_PACKAGE}.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"

# Test speed only, as Django's testing docs advise: each login checks a password, and the default
# PBKDF2 takes about a quarter of a second per check.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# With DEBUG off Django mails a 500's traceback to ADMINS; print it instead, for output().
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}

# DOT's authorize view sends anonymous users here; its tutorial uses the admin's login page.
LOGIN_URL = "/admin/login/"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": (BASE_DIR / "oidc.key").read_text(),
    "SCOPES": {
        "openid": "OpenID Connect scope",
        "profile": "Your name",
        "email": "Your email address",
    },
    "OAUTH2_VALIDATOR_CLASS": "${SETTINGS_PACKAGE}.oauth_validators.CustomOAuth2Validator",
    "PKCE_REQUIRED": True,
    "ROTATE_REFRESH_TOKEN": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": ${opts.accessTokenExpireSeconds},
}
`;

const VALIDATORS_PY = `# DOT's userinfo and ID token carry only "sub" unless the validator adds claims.
from oauth2_provider.oauth2_validators import OAuth2Validator


class CustomOAuth2Validator(OAuth2Validator):
    def get_additional_claims(self, request):
        return {
            "email": request.user.email,
            "name": request.user.get_full_name(),
            "given_name": request.user.first_name,
            "family_name": request.user.last_name,
            "preferred_username": request.user.username,
        }
`;

const URLS_PY = `from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
`;

const MANAGE_PY = `#!/usr/bin/env python3
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "${SETTINGS_PACKAGE}.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
`;

// The registration a user does once, with the manage.py commands the docs show (one process, not
// four, for start-up time). createapplication in DOT 1.7 has no --algorithm option, and reports a
// validation error on stdout with exit status 0: hence the update and the check afterwards.
const REGISTER_PY = `import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "${SETTINGS_PACKAGE}.settings")
django.setup()

from django.contrib.auth import get_user_model
from django.core.management import call_command
from oauth2_provider.models import get_application_model

config = json.load(open(sys.argv[1]))
user = config["user"]
os.environ["DJANGO_SUPERUSER_PASSWORD"] = user["password"]
call_command("createsuperuser", interactive=False, username=user["username"], email=user["email"], verbosity=0)
get_user_model().objects.filter(username=user["username"]).update(first_name=user["firstName"], last_name=user["lastName"])

call_command(
    "createapplication",
    "confidential",
    "authorization-code",
    client_id=config["clientId"],
    client_secret=config["clientSecret"],
    redirect_uris=" ".join(config["redirectUris"]),
    name="express-oidc-rp",
    user=str(get_user_model().objects.get(username=user["username"]).pk),
)
Application = get_application_model()
if Application.objects.filter(client_id=config["clientId"]).update(algorithm=Application.RS256_ALGORITHM) != 1:
    sys.exit("createapplication did not create the application (see its output above)")
print(json.dumps({"userId": str(get_user_model().objects.get(username=user["username"]).pk)}))
`;

// runserver under a watchdog: the test process holds this process's stdin open, so when that
// process goes away in any way (even SIGKILL, where no exit hook runs) stdin reaches EOF and the
// server exits instead of outliving the test run.
//
// --nothreading: one request at a time, as a single-worker deployment on SQLite would run. SQLite
// does not queue two write transactions that both began by reading: the second fails at once with
// "database is locked", and DOT answers 500. The library revokes the refresh and the access token
// concurrently at logout, and DOT writes for both (docs/providers/django-oauth-toolkit.md, "SQLite").
// Without threads Django closes every connection after its response, so a client's keep-alive
// connection cannot hold the server.
const SERVE_PY = `import os
import sys
import threading


def exit_when_parent_goes():
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_when_parent_goes, daemon=True).start()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "${SETTINGS_PACKAGE}.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(["manage.py", "runserver", sys.argv[1], "--noreload", "--nothreading"])
`;

function writeProject(dir: string, accessTokenExpireSeconds: number): void {
  const pkg = join(dir, SETTINGS_PACKAGE);
  mkdirSync(pkg, { recursive: true });
  // DOT signs RS256 ID tokens with OIDC_RSA_PRIVATE_KEY; a new key per provider.
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  writeFileSync(join(dir, 'oidc.key'), privateKey, { mode: 0o600 });
  writeFileSync(join(pkg, '__init__.py'), '');
  writeFileSync(join(pkg, 'settings.py'), SETTINGS_PY({ secretKey: randomBytes(32).toString('hex'), accessTokenExpireSeconds }));
  writeFileSync(join(pkg, 'oauth_validators.py'), VALIDATORS_PY);
  writeFileSync(join(pkg, 'urls.py'), URLS_PY);
  writeFileSync(join(dir, 'manage.py'), MANAGE_PY);
  writeFileSync(join(dir, 'register.py'), REGISTER_PY);
  writeFileSync(join(dir, 'serve.py'), SERVE_PY);
}

function pythonEnv(): NodeJS.ProcessEnv {
  // A PYTHONHOME/PYTHONPATH meant for another interpreter (pyenv, a venv) would hide Debian's packages.
  const { PYTHONHOME: _home, PYTHONPATH: _path, ...env } = process.env;
  return { ...env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
}

function runPython(dir: string, args: string[]): string {
  const r = spawnSync(DJANGO_PYTHON, args, { cwd: dir, env: pythonEnv(), encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    throw new Error(
      `could not run ${DJANGO_PYTHON} (${r.error.message}). Run \`node scripts/ensure-system-deps.mjs\` ` +
        '(installs the Debian package "python3-django-oauth-toolkit").',
    );
  }
  if (r.status !== 0) throw new Error(`${DJANGO_PYTHON} ${args.join(' ')} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Temp dirs to remove when the test process exits, whatever happened. */
const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** The migrated template database while a provider of this process runs (see migratedDatabase). */
let template: { dir: string; db: string } | undefined;
let running = 0;

/**
 * The database after `manage.py migrate`, made once per test process (migrating is most of the
 * start-up time) and copied into each new project: the schema does not depend on the settings
 * that differ between providers. Removed when the last provider stops: vitest ends its workers
 * without always running exit hooks.
 */
function migratedDatabase(): string {
  if (template) return template.db;
  const dir = tempDir('oidc-dot-template-');
  writeProject(dir, 60);
  runPython(dir, ['manage.py', 'migrate', '--noinput', '-v', '0']);
  template = { dir, db: join(dir, 'db.sqlite3') };
  return template.db;
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const REQUEST_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3})/;

async function serve(
  dir: string,
): Promise<{ url: string; child: ChildProcess; output: () => string; requests: () => DjangoRequestLine[]; stop: () => Promise<void> } | 'port-taken'> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // detached: its own process group, so stop() can signal the group.
  const child = spawn(DJANGO_PYTHON, ['serve.py', `127.0.0.1:${port}`], { cwd: dir, env: pythonEnv(), detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const requests: DjangoRequestLine[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = REQUEST_LINE.exec(line);
      if (m) requests.push({ method: m[1] as string, path: m[2] as string, status: Number(m[3]) });
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const supervised = superviseChild(child, (signal) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  });
  const { stop } = supervised;

  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const spawnError = supervised.spawnError();
    if (spawnError) throw new Error(`could not start ${DJANGO_PYTHON}: ${spawnError.message}`);
    if (supervised.exited() !== undefined) {
      if (/port is already in use/i.test(output)) return 'port-taken';
      throw new Error(`django runserver exited with ${supervised.exited()}:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/o/.well-known/openid-configuration/`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) return { url, child, output: () => output, requests: () => [...requests], stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`django runserver on ${url} did not serve discovery within 20 s:\n${output}`);
}

/** Start a provider; stop() it in afterAll (a process exit hook and a stdin watchdog back that up). */
export async function startDjangoOauthToolkit(opts: DjangoOauthToolkitOptions): Promise<DjangoOauthToolkit> {
  const user: DjangoUser = {
    username: 'alice',
    password: 'alice-password-0123456789',
    email: 'alice@example.com',
    firstName: 'Alice',
    lastName: 'Example',
    ...opts.user,
  };
  const clientId = opts.clientId ?? 'express-oidc-rp';
  const clientSecret = opts.clientSecret ?? randomBytes(24).toString('hex');

  running++;
  const dir = tempDir('oidc-dot-');
  let started = false;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    removeDir(dir);
    if (--running === 0 && template) {
      removeDir(template.dir);
      template = undefined;
    }
  };
  try {
    const db = migratedDatabase();
    writeProject(dir, opts.accessTokenExpireSeconds ?? 36_000);
    copyFileSync(db, join(dir, 'db.sqlite3'));
    writeFileSync(join(dir, 'register.json'), JSON.stringify({ user, clientId, clientSecret, redirectUris: opts.redirectUris }));
    const registered = runPython(dir, ['register.py', 'register.json']);
    const { userId } = JSON.parse(registered.trim().split('\n').pop() ?? '{}') as { userId: string };

    for (let attempt = 0; attempt < 5; attempt++) {
      const server = await serve(dir);
      if (server === 'port-taken') continue;
      started = true;
      const issuer = `${server.url}/o`;
      return {
        url: server.url,
        issuer,
        tokenEndpoint: `${issuer}/token/`,
        userinfoEndpoint: `${issuer}/userinfo/`,
        revocationEndpoint: `${issuer}/revoke_token/`,
        clientId,
        clientSecret,
        user,
        userId,
        requests: server.requests,
        output: server.output,
        async stop() {
          await server.stop();
          release();
        },
      };
    }
    throw new Error('django runserver: could not bind a free port after 5 attempts');
  } finally {
    if (!started) release();
  }
}

export type DjangoPage = 'login' | 'consent';

/**
 * The browser at DOT: Django's admin login form (when there is no Django session in `jar`), then
 * DOT's "Authorize?" consent form, answered with Authorize. Both are Django forms with a
 * csrfmiddlewaretoken field checked against the csrftoken cookie, which the jar carries. Returns
 * the URL DOT redirects to (the RP's callback). `pages` records the forms filled in.
 */
export async function completeDjangoLogin(
  authorizeUrl: string,
  opts: { user: Pick<DjangoUser, 'username' | 'password'>; jar?: CookieJar; pages?: DjangoPage[] },
): Promise<string> {
  const jar = opts.jar ?? new CookieJar();
  const origin = new URL(authorizeUrl).origin;
  let loginTries = 0;
  return drive({ url: authorizeUrl, method: 'GET' }, origin, jar, ({ url, status, html, forms }) => {
    if (status !== 200) throw new Error(`django-oauth-toolkit answered ${status} at ${url}: ${errorDetails(html)}`);
    const login = forms.find((f) => f.inputs.has('username') && f.inputs.has('password'));
    if (login) {
      // The same form again means the login was refused (wrong password, not staff).
      if (++loginTries > 1) throw new Error(`Django refused the login at ${url}: ${errorDetails(html)}`);
      opts.pages?.push('login');
      return submit(login, url, { username: opts.user.username, password: opts.user.password });
    }
    const consent = forms.find((f) => f.inputs.has('allow'));
    if (consent) {
      opts.pages?.push('consent');
      return submit(consent, url, { allow: 'Authorize' });
    }
    throw new Error(`unexpected django-oauth-toolkit page at ${url}: ${errorDetails(html)}`);
  });
}
