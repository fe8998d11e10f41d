/**
 * The published shape: `npm run build` output imported by package name through package.json
 * "exports", as an app would (npm test builds before running vitest), the file list `npm pack`
 * publishes, and the `express-oidc-rp` command run from the unpacked tarball, the way npm installs
 * it into an app: without oidc-provider (an optional peer dependency) and with it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { appLogsInAgainst, devProviderArgsFor, runCli, startCli } from './support/dev-provider-cli.js';
import { reservePort } from './support/rp-app.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'express-oidc-rp-package-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let packed: { files: string[]; tarball: string } | undefined;

/** `npm pack` (lifecycle scripts not run) into a scratch directory, once: the tarball and its file list. */
function pack(): { files: string[]; tarball: string } {
  if (packed) return packed;
  const r = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' });
  expect(r.status, `npm pack failed: ${r.stderr}`).toBe(0);
  const [result] = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = { files: result!.files.map((f) => f.path).sort(), tarball: join(scratch, result!.filename) };
  return packed;
}

function packedFiles(): string[] {
  return pack().files;
}

/**
 * An app directory (outside this repository, so nothing resolves from its node_modules) with the
 * tarball unpacked as node_modules/express-oidc-rp, as npm installs it. Returns the command's path
 * (package.json "bin").
 */
function appWithPackage(name: string): { dir: string; bin: string } {
  const dir = join(scratch, name);
  const pkg = join(dir, 'node_modules', 'express-oidc-rp');
  mkdirSync(pkg, { recursive: true });
  const tar = spawnSync('tar', ['-xzf', pack().tarball, '-C', pkg, '--strip-components=1'], { encoding: 'utf8' });
  expect(tar.status, tar.stderr).toBe(0);
  const { bin } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  return { dir, bin: join(pkg, bin['express-oidc-rp'] as string) };
}

describe('package', () => {
  it('is importable by name with its public API', async () => {
    const mod = (await import('express-oidc-rp')) as Record<string, unknown>;
    expect(typeof mod.createOidcAuth).toBe('function');
    expect(typeof mod.isOidcError).toBe('function');
    expect(typeof mod.OidcError).toBe('function');
  });

  it("prints the public JWKS of a client key as README's FAPI 2.0 section shows (publicJwkFor)", async () => {
    const { publicJwkFor } = (await import('express-oidc-rp')) as { publicJwkFor: (pem: string, alg: string) => Promise<Record<string, unknown>> };
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const jwk = await publicJwkFor(pem, 'PS256');
    expect(jwk).toMatchObject({ kty: 'RSA', alg: 'PS256', use: 'sig', kid: expect.any(String) });
    expect(jwk).not.toHaveProperty('d');
  });

  it('keeps the option table internal: README "Options" documents it', async () => {
    const mod = (await import('express-oidc-rp')) as Record<string, unknown>;
    expect(Object.keys(mod).filter((name) => /OPTION|SPEC/i.test(name))).toEqual([]);
  });

  it('ships type declarations that do not need @types/express-session', () => {
    const dts = new URL('../dist/index.d.ts', import.meta.url);
    expect(existsSync(dts)).toBe(true);
    const all = ['index', 'types', 'session/session-data', 'errors'].map((f) => readFileSync(new URL(`../dist/${f}.d.ts`, import.meta.url), 'utf8'));
    for (const text of all) expect(text).not.toMatch(/from ['"]express-session['"]/);
    expect(all[0]).toContain('createOidcAuth');
  });

  it('returns routers and middleware from createOidcAuth synchronously', async () => {
    const { createOidcAuth } = (await import('express-oidc-rp')) as unknown as typeof import('../src/index.js');
    const oidc = createOidcAuth({
      env: {},
      issuer: 'https://idp.example.com',
      clientId: 'app',
      clientSecret: 'secret',
      baseUrl: 'https://app.example.com',
    });
    for (const key of ['login', 'callback', 'logout', 'sessionRefresh', 'router'] as const) {
      expect(typeof oidc[key]).toBe('function');
    }
    expect(typeof oidc.requireAuth()).toBe('function');
    await oidc.close();
  });

  it('names the option and the env var when configuration is wrong', async () => {
    const { createOidcAuth } = (await import('express-oidc-rp')) as unknown as typeof import('../src/index.js');
    expect(() => createOidcAuth({ env: {} })).toThrow(/clientId.*OIDC_RP_CLIENT_ID/);
    expect(() => createOidcAuth({ env: { OIDC_RP_CLIENT_ID: 'a', OIDC_RP_CLIENT_SECRET: 'b' } })).toThrow(/baseUrl.*OIDC_RP_BASE_URL/);
  });

  it('packs dist, README, LICENSE and CHANGELOG, and no sources or tests', () => {
    const files = packedFiles();
    for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts']) expect(files).toContain(f);
    expect(files.filter((f) => !/^(dist\/|package\.json$|README\.md$|LICENSE$|CHANGELOG\.md$)/.test(f))).toEqual([]);
  });

  it('ships source maps that carry their sources (src/ is not published)', () => {
    const files = packedFiles();
    const maps = files.filter((f) => f.endsWith('.map'));
    // Declaration maps would point at ../src and cannot carry sources: none are shipped.
    expect(maps.filter((f) => f.endsWith('.d.ts.map'))).toEqual([]);
    for (const js of files.filter((f) => f.endsWith('.js'))) expect(maps).toContain(`${js}.map`);
    for (const file of maps) {
      const mapUrl = new URL(`../${file}`, import.meta.url);
      const map = JSON.parse(readFileSync(mapUrl, 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      expect(map.sourcesContent, `${file} has no sourcesContent`).toHaveLength(map.sources.length);
      map.sources.forEach((source, i) => {
        // The embedded text is the source the file was built from.
        expect(map.sourcesContent![i], `${file}: ${source}`).toBe(readFileSync(new URL(source, mapUrl), 'utf8'));
      });
    }
  });
});

describe('the express-oidc-rp command (package.json "bin") from the packed package', () => {
  it('is a packed file run by node, and oidc-provider is an optional peer dependency', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.bin)).toEqual(['express-oidc-rp']);
    expect(packedFiles()).toContain(pkg.bin['express-oidc-rp']);
    expect(readFileSync(join(root, pkg.bin['express-oidc-rp'] as string), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    expect(pkg.peerDependencies['oidc-provider']).toBeDefined();
    expect(pkg.peerDependenciesMeta['oidc-provider']).toEqual({ optional: true });
    expect(pkg.dependencies).not.toHaveProperty('oidc-provider');
  });

  it('the library never loads the command or oidc-provider', () => {
    const libraryFiles = packedFiles().filter((f) => f.endsWith('.js') && !/^dist\/(cli|examples)\//.test(f));
    expect(libraryFiles).toContain('dist/index.js');
    // Static and dynamic imports alike.
    const loads = /(?:\bfrom|\bimport\s*\(?)\s*['"](?:oidc-provider|[./]+\/(?:cli|examples)\/)/;
    for (const f of libraryFiles) expect(readFileSync(join(root, f), 'utf8'), f).not.toMatch(loads);
    // The check itself sees both kinds.
    expect("import('oidc-provider')").toMatch(loads);
    expect("import { x } from '../examples/dev-provider.js'").toMatch(loads);
  });

  it('without oidc-provider installed: says what to install, exit status 1', async () => {
    const { dir, bin } = appWithPackage('without-oidc-provider');
    const r = await runCli([bin], ['dev-provider', '--redirect-uri', 'http://localhost:3000/oidc/callback'], dir);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('needs oidc-provider');
    expect(r.stderr).toContain('npm install --save-dev oidc-provider');
    expect(r.stdout).toBe('');
    // Help needs nothing installed.
    const help = await runCli([bin], ['dev-provider', '--help'], dir);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--redirect-uri');
  });

  it('with oidc-provider installed: an app logs in against it, refreshes, calls a bearerAuth API, is logged out', async () => {
    const { dir, bin } = appWithPackage('with-oidc-provider');
    // This repository's oidc-provider, as the app's own (its dependencies resolve from its real path).
    symlinkSync(realpathSync(join(root, 'node_modules', 'oidc-provider')), join(dir, 'node_modules', 'oidc-provider'), 'dir');
    const reserved = await reservePort();
    const cli = await startCli([bin], devProviderArgsFor(reserved), dir);
    try {
      expect(cli.stdout()).toContain('FOR DEVELOPMENT ONLY');
      await appLogsInAgainst(cli, reserved);
    } finally {
      const end = await cli.stop();
      expect(end.status, end.stderr).toBe(0);
    }
  });
});
