/**
 * `express-oidc-rp dev-provider` (cli/) run from the source as a child process: a real app logs in
 * against what it prints; every mistake on the command line ends it at once with a message naming
 * the flag. The packed command (package.json "bin"), with and without oidc-provider installed, is
 * test/package.test.ts's. README's section on it is checked against the command's own text.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DEV_PROVIDER_USAGE, describeDevProvider, parseDevProviderArgs, UsageError } from '../cli/dev-provider.js';
import type { DevProvider } from '../examples/dev-provider.js';
import { appLogsInAgainst, devProviderArgsFor, runCli, SOURCE_COMMAND, startCli } from './support/dev-provider-cli.js';
import { reservePort } from './support/rp-app.js';

const REDIRECT = 'http://localhost:4000/oidc/callback';

describe('express-oidc-rp dev-provider (from the source)', () => {
  it('prints the issuer, the client and the env lines; an app using them logs in, refreshes, calls a bearerAuth API, is logged out', async () => {
    const reserved = await reservePort();
    const cli = await startCli(SOURCE_COMMAND, devProviderArgsFor(reserved));
    try {
      expect(cli.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(cli.clientId).toBe('dev-client');
      expect(cli.clientSecret).toMatch(/^[\w-]{32}$/);
      expect(cli.baseUrl).toBe(reserved.url);
      const out = cli.stdout();
      expect(out).toContain('FOR DEVELOPMENT ONLY');
      expect(out).toMatch(/any user name and any password/);
      expect(out).toContain(`Back-channel logout  ${reserved.url}/oidc/backchannel-logout`);
      expect(out).toContain(`${cli.issuer}/token/introspection`);

      await appLogsInAgainst(cli, reserved);
      expect(cli.stderr()).toBe('');
    } finally {
      const end = await cli.stop('SIGINT');
      expect(end.status, end.stderr).toBe(0);
      expect(end.stdout).toMatch(/SIGINT: stopping the dev provider\ndev provider stopped\n$/);
    }
    // Stopped means closed: nothing answers on the issuer's port.
    await expect(fetch(`${cli.issuer}/.well-known/openid-configuration`)).rejects.toThrow();
  });

  it('takes the client id, secret, post-logout URIs, token lifetime and a loopback host from flags; stops on SIGTERM', async () => {
    const cli = await startCli(SOURCE_COMMAND, [
      'dev-provider',
      '--port=0',
      '--host',
      'localhost',
      '--redirect-uri',
      REDIRECT,
      '--redirect-uri',
      'http://localhost:4001/auth/cb',
      '--post-logout-redirect-uri',
      'http://localhost:4000/bye',
      '--client-id',
      'my-app',
      '--client-secret',
      'my secret',
      '--access-token-ttl',
      '42',
    ]);
    try {
      expect(cli.issuer).toMatch(/^http:\/\/localhost:\d+$/);
      expect(cli.clientId).toBe('my-app');
      // Quoted where a shell or a .env file would split it.
      expect(cli.clientSecret).toBe("'my secret'");
      expect(cli.stdout()).toContain('Post-logout URIs     http://localhost:4000/bye\n');
      expect(cli.stdout()).toContain('expire after 42 s');
      const discovery = (await (await fetch(`${cli.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(discovery).toMatchObject({ issuer: cli.issuer, introspection_endpoint: `${cli.issuer}/token/introspection`, backchannel_logout_supported: true });
    } finally {
      const end = await cli.stop('SIGTERM');
      expect(end.status, end.stderr).toBe(0);
    }
  });

  it('ends at once on a mistake on the command line, naming the flag, exit status 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['dev-provider', '--redirect-uri', REDIRECT, '--nope'], /Unknown option '--nope'/],
      [
        ['dev-provider', '--redirect-uri', REDIRECT, '--host', '0.0.0.0'],
        /--host 0\.0\.0\.0 refused: .*any password.*loopback \(127\.0\.0\.1, localhost, ::1\)/,
      ],
      [['dev-provider', '--redirect-uri', REDIRECT, '--port', '70000'], /--port 70000: expected a whole number from 0 to 65535/],
      [['dev-provider'], /--redirect-uri is required: the callback URL of your app/],
      [['provider'], /unknown command "provider"/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(SOURCE_COMMAND, args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stdout, 'nothing started').not.toContain('Issuer');
    });
  });

  it('answers --help with the usage, status 0', async () => {
    const [top, sub, short] = await Promise.all([
      runCli(SOURCE_COMMAND, ['--help']),
      runCli(SOURCE_COMMAND, ['dev-provider', '--help']),
      runCli(SOURCE_COMMAND, ['dev-provider', '-h']),
    ]);
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/^Usage: express-oidc-rp <command>/);
    expect(top.stdout).toContain('dev-provider');
    for (const r of [sub, short]) {
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Usage: express-oidc-rp dev-provider --redirect-uri <url> \[options\]/);
      expect(r.stdout).toContain('FOR DEVELOPMENT ONLY');
      expect(r.stdout).toContain('npm install --save-dev oidc-provider');
      for (const flag of [
        '--redirect-uri',
        '--port',
        '--host',
        '--client-id',
        '--client-secret',
        '--post-logout-redirect-uri',
        '--backchannel-logout-uri',
        '--access-token-ttl',
      ]) {
        expect(r.stdout).toContain(flag);
      }
    }
  });

  it('says so when the port is taken, status 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const r = await runCli(SOURCE_COMMAND, ['dev-provider', '--redirect-uri', REDIRECT, '--port', String(port)]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is in use: pass --port with another one (0 picks a free one)`);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});

// The rest of the checks, in process: each of the command's refusals above, without a process each.
describe('parseDevProviderArgs', () => {
  it.each<[string[], RegExp]>([
    [['--nope'], /Unknown option '--nope'/],
    [['--host', '192.168.1.10'], /--host 192\.168\.1\.10 refused/],
    [['--host', '::'], /--host :: refused/],
    [['--port', 'abc'], /--port abc: expected a whole number from 0 to 65535/],
    [['--port=-1'], /--port -1: expected a whole number/],
    [['--port', '1', '--port', '2'], /--port given more than once/],
    [['--port'], /--port <value>' argument missing/],
    [['--access-token-ttl', '0'], /--access-token-ttl 0: expected a whole number from 1/],
    [['--access-token-ttl', '1.5'], /--access-token-ttl 1\.5: expected a whole number/],
    [['--client-secret', ''], /--client-secret must not be empty/],
    [['--client-id', ''], /--client-id must not be empty/],
    [['--backchannel-logout-uri', 'http://a/1', '--backchannel-logout-uri', 'http://a/2'], /--backchannel-logout-uri given more than once/],
    [['--post-logout-redirect-uri', 'bye'], /--post-logout-redirect-uri bye: not an absolute URL/],
    [['extra'], /Unexpected argument 'extra'/],
  ])('%j is refused: %s', (args, message) => {
    expect(() => parseDevProviderArgs(['--redirect-uri', REDIRECT, ...args])).toThrow(UsageError);
    expect(() => parseDevProviderArgs(['--redirect-uri', REDIRECT, ...args])).toThrow(message);
  });

  it.each<[string, RegExp]>([
    ['/oidc/callback', /--redirect-uri \/oidc\/callback: not an absolute URL/],
    ['myapp://callback', /must be an http or https URL/],
    [`${REDIRECT}#x`, /must not have a fragment/],
  ])('--redirect-uri %s is refused', (uri, message) => {
    expect(() => parseDevProviderArgs(['--redirect-uri', uri])).toThrow(message);
  });

  it('defaults: port 3001 on 127.0.0.1, dev-client, a random secret, post-logout URIs from the redirect URIs, 300 s tokens', () => {
    const cmd = parseDevProviderArgs([
      '--redirect-uri',
      REDIRECT,
      '--redirect-uri',
      'http://localhost:4000/other',
      '--redirect-uri',
      'https://127.0.0.1:8443/cb',
    ]);
    expect(cmd).toEqual({
      port: 3001,
      host: '127.0.0.1',
      clientId: 'dev-client',
      clientSecret: expect.stringMatching(/^[\w-]{32}$/),
      secretGenerated: true,
      redirectUris: [REDIRECT, 'http://localhost:4000/other', 'https://127.0.0.1:8443/cb'],
      postLogoutRedirectUris: ['http://localhost:4000/', 'https://127.0.0.1:8443/'],
      backchannelLogoutUri: undefined,
      accessTokenTtl: 300,
    });
    const other = parseDevProviderArgs(['--redirect-uri', REDIRECT]);
    expect(other !== 'help' && cmd !== 'help' && other.clientSecret !== cmd.clientSecret).toBe(true);
  });

  it('[::1] is ::1', () => {
    expect(parseDevProviderArgs(['--redirect-uri', REDIRECT, '--host', '[::1]'])).toMatchObject({ host: '::1' });
  });
});

describe('README "Develop locally without an account"', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('\n## Develop locally without an account\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));

  it('is in the contents', () => {
    expect(start).toBeGreaterThan(0);
    expect(readme).toContain('- [Develop locally without an account](#develop-locally-without-an-account)');
  });

  it('runs commands the command accepts, and names every flag of --help', () => {
    const commands = [...section.matchAll(/^npx express-oidc-rp dev-provider (.*)$/gm)].map((m) => (m[1] as string).split(' '));
    expect(commands.length).toBeGreaterThan(0);
    for (const args of commands) expect(() => parseDevProviderArgs(args), args.join(' ')).not.toThrow();
    for (const flag of DEV_PROVIDER_USAGE.match(/--[a-z-]+/g) ?? []) expect(section, flag).toContain(flag);
  });

  it('shows the environment lines the command prints for its command', () => {
    const [args] = [...section.matchAll(/^npx express-oidc-rp dev-provider (.*)$/gm)].map((m) => (m[1] as string).split(' '));
    const cmd = parseDevProviderArgs(args!);
    if (cmd === 'help') throw new Error('not a start');
    const issuer = `http://127.0.0.1:${cmd.port}`;
    // Only what describeDevProvider reads of a running provider.
    const dev = { issuer, provider: { urlFor: (name: string) => `${issuer}/${name}` } } as unknown as Pick<DevProvider, 'issuer' | 'provider'>;
    const printed = [...describeDevProvider(cmd, dev).matchAll(/^(OIDC_[A-Z_]+)=(.*)$/gm)].map(
      (m) => `${m[1]}=${m[1] === 'OIDC_RP_CLIENT_SECRET' ? '<random, printed>' : m[2]}`,
    );
    const documented = [...section.matchAll(/^(OIDC_[A-Z_]+)=(.*)$/gm)].map((m) => m[0]);
    expect(documented).toEqual(printed);
  });
});
