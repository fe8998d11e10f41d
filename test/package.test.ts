/**
 * The published shape: `npm run build` output imported by package name through package.json
 * "exports", as an app would (npm test builds before running vitest), and the file list
 * `npm pack` would publish.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

let packed: string[] | undefined;

/** The files `npm pack` would put in the tarball (lifecycle scripts not run); asked once. */
function packedFiles(): string[] {
  if (packed) return packed;
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  expect(r.status, `npm pack failed: ${r.stderr}`).toBe(0);
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  packed = pack!.files.map((f) => f.path).sort();
  return packed;
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
