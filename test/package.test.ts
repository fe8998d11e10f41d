/**
 * The published shape: `npm run build` output imported by package name through package.json
 * "exports", as an app would (npm test builds before running vitest).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('package', () => {
  it('is importable by name with its public API', async () => {
    const mod = (await import('express-oidc-rp')) as Record<string, unknown>;
    expect(typeof mod.createOidcAuth).toBe('function');
    expect(typeof mod.isOidcError).toBe('function');
    expect(typeof mod.OidcError).toBe('function');
  });

  it('keeps the option table internal: README "Options" documents it', async () => {
    const mod = (await import('express-oidc-rp')) as Record<string, unknown>;
    expect(Object.keys(mod).filter((name) => /OPTION|SPEC/i.test(name))).toEqual([]);
  });

  it('ships type declarations that do not need @types/express-session', () => {
    const dts = new URL('../dist/index.d.ts', import.meta.url);
    expect(existsSync(dts)).toBe(true);
    const all = ['index', 'types', 'session/session-data', 'errors'].map((f) =>
      readFileSync(new URL(`../dist/${f}.d.ts`, import.meta.url), 'utf8'),
    );
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
});
