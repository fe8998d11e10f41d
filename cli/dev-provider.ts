// `express-oidc-rp dev-provider`: the embedded development provider (examples/dev-provider.ts) as a
// command, so an app that uses this library can log in locally without an account anywhere. One
// confidential client, any login name with any password, refresh tokens, back-channel logout and
// introspection; loopback only, state in memory, gone when it stops. FOR DEVELOPMENT ONLY.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEV_PROVIDER_HOSTS, type DevProvider, type DevProviderHost, startDevProvider } from '../examples/dev-provider.js';

export const DEV_PROVIDER_USAGE = `Usage: express-oidc-rp dev-provider --redirect-uri <url> [options]

A local OpenID Provider for developing your app without an account anywhere.
FOR DEVELOPMENT ONLY: anyone can log in as anyone, with any password.
Needs oidc-provider in your app: npm install --save-dev oidc-provider

Options:
  --redirect-uri <url>              Your app's callback URL, e.g. http://localhost:3000/oidc/callback
                                    (required; repeat for several)
  --port <n>                        Port to listen on (default 3001; 0 picks a free one)
  --host <host>                     127.0.0.1 (default), localhost or ::1; loopback only
  --client-id <id>                  Client id (default dev-client)
  --client-secret <secret>          Client secret (default: random at every start, printed)
  --post-logout-redirect-uri <url>  Where logout may return to (repeatable; default: each
                                    redirect URI's origin + /)
  --backchannel-logout-uri <url>    Your app's back-channel logout URL, e.g.
                                    http://localhost:3000/oidc/backchannel-logout (default: none)
  --access-token-ttl <seconds>      Access token lifetime (default 300)
  -h, --help                        Show this help

It prints the issuer, the client id and secret, and the environment variables for your app.
Stop it with Ctrl+C.`;

/** A mistake on the command line: the message says which flag and why; exit status 2. */
export class UsageError extends Error {}

export interface DevProviderCommand {
  port: number;
  host: DevProviderHost;
  clientId: string;
  clientSecret: string;
  /** The secret is random: printed with a hint to pass --client-secret to keep it. */
  secretGenerated: boolean;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string | undefined;
  accessTokenTtl: number;
}

const OPTIONS = {
  'redirect-uri': { type: 'string', multiple: true },
  port: { type: 'string' },
  host: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'backchannel-logout-uri': { type: 'string' },
  'access-token-ttl': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_PORT = 3001;
const DEFAULT_CLIENT_ID = 'dev-client';
const DEFAULT_ACCESS_TOKEN_TTL = 300;
/** The library's default callback route (README "Options", OIDC_ROUTE_CALLBACK): a redirect URI ending in it names the app's base URL. */
const LIBRARY_CALLBACK_PATH = '/oidc/callback';

/** The command line after `dev-provider`, checked; 'help' for --help. Throws UsageError. */
export function parseDevProviderArgs(argv: string[]): DevProviderCommand | 'help' {
  const { values, tokens } = parseFlags(argv);
  if (values.help) return 'help';

  // parseArgs keeps the last of a repeated single-valued flag silently; a second --port is a mistake.
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const multiple = 'multiple' in OPTIONS[t.name as keyof typeof OPTIONS];
    if (seen.has(t.name) && !multiple) throw new UsageError(`--${t.name} given more than once`);
    seen.add(t.name);
  }

  const redirectUris = (values['redirect-uri'] ?? []).map((u) => httpUrl('--redirect-uri', u));
  if (redirectUris.length === 0) {
    throw new UsageError('--redirect-uri is required: the callback URL of your app, e.g. --redirect-uri http://localhost:3000/oidc/callback');
  }
  const postLogout = (values['post-logout-redirect-uri'] ?? []).map((u) => httpUrl('--post-logout-redirect-uri', u));
  const clientSecret = values['client-secret'];
  const backchannel = values['backchannel-logout-uri'];

  return {
    port: integer('--port', values.port, DEFAULT_PORT, 0, 65535),
    host: loopbackHost(values.host),
    clientId: nonEmpty('--client-id', values['client-id']) ?? DEFAULT_CLIENT_ID,
    clientSecret: nonEmpty('--client-secret', clientSecret) ?? randomBytes(24).toString('base64url'),
    secretGenerated: clientSecret === undefined,
    redirectUris,
    // Where the library's logout returns by default (LOGOUT_REDIRECT_URL '/', made absolute).
    postLogoutRedirectUris: postLogout.length > 0 ? postLogout : [...new Set(redirectUris.map((u) => `${new URL(u).origin}/`))],
    backchannelLogoutUri: backchannel === undefined ? undefined : httpUrl('--backchannel-logout-uri', backchannel),
    accessTokenTtl: integer('--access-token-ttl', values['access-token-ttl'], DEFAULT_ACCESS_TOKEN_TTL, 1, Number.MAX_SAFE_INTEGER),
  };
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    // node:util's messages name the flag: "Unknown option '--nope'", "Option '--port <value>' argument missing".
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function integer(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${flag} ${value}: expected a whole number from ${min} to ${max}`);
  return n;
}

function nonEmpty(flag: string, value: string | undefined): string | undefined {
  if (value === '') throw new UsageError(`${flag} must not be empty`);
  return value;
}

/** An absolute http(s) URL without a fragment, as OAuth 2.0 (RFC 6749 3.1.2) wants redirect URIs. */
function httpUrl(flag: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} ${value}: not an absolute URL (e.g. http://localhost:3000/oidc/callback)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag} ${value}: must be an http or https URL`);
  if (url.hash !== '' || value.includes('#')) throw new UsageError(`${flag} ${value}: must not have a fragment (#...)`);
  // As given, not normalized: the provider compares redirect URIs character by character.
  return value;
}

function loopbackHost(value: string | undefined): DevProviderHost {
  if (value === undefined) return '127.0.0.1';
  const host = value === '[::1]' ? '::1' : value;
  const loopback = DEV_PROVIDER_HOSTS.find((h) => h === host);
  if (loopback === undefined) {
    throw new UsageError(
      `--host ${value} refused: this provider logs in anyone with any password, so it only listens on loopback (${DEV_PROVIDER_HOSTS.join(', ')})`,
    );
  }
  return loopback;
}

// ---------------------------------------------------------------------------------------------

/** Whether oidc-provider resolves from here: this package's own location, as examples/dev-provider.ts imports it. */
function oidcProviderInstalled(): boolean {
  try {
    import.meta.resolve('oidc-provider');
    return true;
  } catch (err) {
    if (errorCode(err) === 'ERR_MODULE_NOT_FOUND') return false;
    throw err;
  }
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

export const MISSING_OIDC_PROVIDER = `express-oidc-rp dev-provider needs oidc-provider, an optional peer dependency of express-oidc-rp,
and it is not installed. Install it in your app (as a development dependency), then run this again
from your app's directory:

  npm install --save-dev oidc-provider
`;

const BANNER = `
  ########################################################################
  #                                                                      #
  #   express-oidc-rp dev-provider             FOR DEVELOPMENT ONLY      #
  #                                                                      #
  #   Anyone can log in as anyone, with any password. Keep it on your    #
  #   machine; never point a deployed app or real users at it.           #
  #                                                                      #
  ########################################################################
`;

/** Claims for a login name typed into the login form: with an email, which the library's default verifyClaims wants (scope email). */
function newAccount(login: string): Record<string, unknown> {
  const email = login.includes('@') ? login : `${login}@example.com`;
  return { sub: login, preferred_username: login, name: login, email, email_verified: true };
}

/** What the command prints once the provider listens. */
export function describeDevProvider(cmd: DevProviderCommand, dev: Pick<DevProvider, 'issuer' | 'provider'>): string {
  const baseUrl = cmd.redirectUris.find((u) => new URL(u).pathname.endsWith(LIBRARY_CALLBACK_PATH));
  const appBase = baseUrl?.slice(0, -LIBRARY_CALLBACK_PATH.length);
  const env = [
    `OIDC_OP_ISSUER=${shellValue(dev.issuer)}`,
    `OIDC_RP_CLIENT_ID=${shellValue(cmd.clientId)}`,
    `OIDC_RP_CLIENT_SECRET=${shellValue(cmd.clientSecret)}`,
    // Only when it can be told from a redirect URI: the library's redirect_uri is baseUrl + /oidc/callback.
    ...(appBase !== undefined ? [`OIDC_RP_BASE_URL=${shellValue(appBase)}`] : []),
  ];
  const backchannelHint = appBase !== undefined ? `${appBase}/oidc/backchannel-logout` : '<your app>/oidc/backchannel-logout';
  const rows: Array<[string, string]> = [
    ['Issuer', dev.issuer],
    ['Client id', cmd.clientId],
    ['Client secret', cmd.secretGenerated ? `${cmd.clientSecret}  (new at every start; --client-secret keeps one)` : cmd.clientSecret],
    ['Redirect URIs', cmd.redirectUris.join(' ')],
    ['Post-logout URIs', cmd.postLogoutRedirectUris.join(' ')],
    ['Back-channel logout', cmd.backchannelLogoutUri ?? `off (--backchannel-logout-uri ${backchannelHint} turns it on)`],
    ['Refresh tokens', 'issued at every login (offline_access granted), rotated at every use'],
    ['Introspection', `${dev.provider.urlFor('introspection')} (bearerAuth() checks these opaque access tokens there)`],
    ['Access tokens', `expire after ${cmd.accessTokenTtl} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return [
    BANNER,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`),
    '',
    '  Log in with any user name and any password. "alice" and "bob" have names and',
    '  addresses; any other name logs in as a new user <name>@example.com.',
    '',
    `  Environment for your app (.env lines, or export them)${appBase === undefined ? "; set OIDC_RP_BASE_URL to your app's URL too" : ''}:`,
    '',
    ...env,
    '',
    '  All state (sessions, tokens, users) is in memory and gone when this stops. Ctrl+C stops it.',
    '',
  ].join('\n');
}

/** A value as is when the shell and .env files read it unchanged, else single-quoted. */
function shellValue(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs `dev-provider` with the arguments after it. Resolves with an exit status when it is done at
 * once (help, a usage error, oidc-provider missing, a port in use), or with undefined once the
 * provider listens: it then runs until SIGINT or SIGTERM.
 */
export async function runDevProvider(argv: string[]): Promise<number | undefined> {
  let cmd: DevProviderCommand | 'help';
  try {
    cmd = parseDevProviderArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`express-oidc-rp dev-provider: ${err.message}\nRun "express-oidc-rp dev-provider --help" for the options.\n`);
    return 2;
  }
  if (cmd === 'help') {
    process.stdout.write(`${DEV_PROVIDER_USAGE}\n`);
    return 0;
  }
  if (!oidcProviderInstalled()) {
    process.stderr.write(MISSING_OIDC_PROVIDER);
    return 1;
  }

  let dev: DevProvider;
  try {
    dev = await startDevProvider({
      port: cmd.port,
      host: cmd.host,
      accessTokenTtl: cmd.accessTokenTtl,
      newAccount,
      clients: [
        {
          client_id: cmd.clientId,
          client_secret: cmd.clientSecret,
          redirect_uris: cmd.redirectUris,
          post_logout_redirect_uris: cmd.postLogoutRedirectUris,
          ...(cmd.backchannelLogoutUri !== undefined && {
            backchannel_logout_uri: cmd.backchannelLogoutUri,
            // The ID token carries the provider session id, so a logout ends exactly that login.
            backchannel_logout_session_required: true,
          }),
        },
      ],
    });
  } catch (err) {
    const code = errorCode(err);
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      const why = code === 'EADDRINUSE' ? 'is in use' : 'needs privileges';
      process.stderr.write(`express-oidc-rp dev-provider: port ${cmd.port} on ${cmd.host} ${why}: pass --port with another one (0 picks a free one)\n`);
      return 1;
    }
    if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') {
      process.stderr.write(`express-oidc-rp dev-provider: cannot listen on ${cmd.host} here (${code}): try --host 127.0.0.1\n`);
      return 1;
    }
    throw err;
  }

  process.stdout.write(describeDevProvider(cmd, dev));
  dev.provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`dev provider error: ${err.stack ?? err.message}\n`);
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    // A second Ctrl+C while closing means "now".
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the dev provider\n`);
    dev.close().then(
      () => {
        process.stdout.write('dev provider stopped\n');
        // Nothing is left to finish once the servers are closed: exit rather than wait on whatever
        // else may hold the event loop (outgoing keep-alive connections, a library's timer).
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`dev provider did not close cleanly: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return undefined;
}
