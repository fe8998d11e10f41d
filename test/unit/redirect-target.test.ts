/**
 * src/redirect-target.ts: the `next` parameter after login must never leave the app's origin
 * (or the allowed hosts). Payloads from open-redirect write-ups: protocol-relative URLs,
 * backslashes, percent-encoding, control characters, dot segments, other schemes, userinfo.
 */
import { describe, it, expect } from 'vitest';
import { safeRedirectTarget, type RedirectPolicy } from '../../src/protocol/redirect-target.js';

const BASE = 'https://app.example.com';
const policy: RedirectPolicy = { baseUrl: BASE, allowedHosts: [] };
const BASE_ORIGIN = new URL(BASE).origin;

/** Where a browser at BASE would go when redirected to `target` (Location resolved against the page). */
function landingOrigin(target: string): string {
  return new URL(target, BASE).origin;
}

describe('safeRedirectTarget: local paths are kept', () => {
  it.each([
    ['/', '/'],
    ['/dashboard', '/dashboard'],
    ['/a/b?x=1&y=2', '/a/b?x=1&y=2'],
    ['/a/b?x=1#section', '/a/b?x=1#section'],
    ['/a#frag', '/a#frag'],
    ['/search?q=%2F%2Fevil.com', '/search?q=%2F%2Fevil.com'],
  ])('%s -> %s', (raw, expected) => {
    expect(safeRedirectTarget(raw, policy)).toBe(expected);
  });

  it('an absolute URL on the app origin comes back as a local path', () => {
    expect(safeRedirectTarget('https://app.example.com/x?y=1#z', policy)).toBe('/x?y=1#z');
  });

  it('origin comparison is case-insensitive for scheme and host', () => {
    expect(safeRedirectTarget('HTTPS://APP.EXAMPLE.COM/x', policy)).toBe('/x');
  });
});

describe('safeRedirectTarget: known open-redirect payloads are rejected', () => {
  it.each([
    '//evil.com', // protocol-relative (express-openid-connect GHSA-7p99-3798-f85c)
    '///evil.com',
    '/\\evil.com', // browsers treat "\" as "/"
    '\\\\evil.com',
    '%2F%2Fevil.com',
    '/%2F%2Fevil.com',
    '/%2Fevil.com',
    '/%5Cevil.com',
    '/%5C%5Cevil.com',
    '/%252F%252Fevil.com', // double-encoded
    '/\u0009/evil.com', // browsers strip tab/newline inside URLs
    '/\n/evil.com',
    '/\r/evil.com',
    '/%09/evil.com',
    '/%0a/evil.com',
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'data:text/html,x',
    'https://evil.com',
    'https://evil.com@app.example.com',
    'https://app.example.com@evil.com',
    'http://app.example.com', // downgrade when the base is https
    'http://app.example.com/x',
  ])('%j -> undefined', (raw) => {
    expect(safeRedirectTarget(raw, policy)).toBeUndefined();
  });
});

describe('safeRedirectTarget: never produces a target on another origin', () => {
  const long = `/${'a'.repeat(5000)}`;
  const payloads: unknown[] = [
    '//evil.com',
    '///evil.com',
    '////evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '\\/evil.com',
    '/\\/evil.com',
    '%2F%2Fevil.com',
    '/%2F%2Fevil.com',
    '/%2Fevil.com',
    '/%5Cevil.com',
    '/%5c%5cevil.com',
    '%5C%5Cevil.com',
    '/%252F%252Fevil.com',
    '/%25252F%25252Fevil.com',
    '/%2525252F%2525252Fevil.com',
    '/\u0009/evil.com',
    '/\n/evil.com',
    '/\r\n/evil.com',
    '/\u0000/evil.com',
    '/\u007f/evil.com',
    '\t//evil.com',
    ' //evil.com',
    '/%09/evil.com',
    '/%0d%0a/evil.com',
    '/%00/evil.com',
    // Dot segments: they pass the "//" prefix checks, then new URL(raw, origin) removes the
    // "."/".." segment and leaves the pathname "//evil.com", a protocol-relative target.
    '/.//evil.com',
    '/..//evil.com',
    '/%2e//evil.com',
    '/%2E%2E//evil.com',
    '/a/..//evil.com',
    '/x/../..//evil.com',
    '/./\\evil.com',
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    ' javascript:alert(1)',
    'java\tscript:alert(1)',
    'data:text/html,x',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
    'ftp://evil.com',
    'https://evil.com',
    'http://evil.com',
    'HTTPS://EVIL.COM',
    'https:evil.com',
    'https:/evil.com',
    'https:///evil.com',
    'https://evil.com@app.example.com',
    'https://app.example.com@evil.com',
    'https://app.example.com:@evil.com',
    'https://app.example.com%40evil.com',
    'https://app.example.com.evil.com',
    'https://evil.com/app.example.com',
    'https://evil.com\\@app.example.com',
    'https://evil.com#@app.example.com',
    'https://evil.com?@app.example.com',
    'http://app.example.com',
    'http://app.example.com/x',
    'https://app.example.com:444/x',
    'evil.com',
    '.evil.com',
    '@evil.com',
    '/@evil.com',
    '/\u2028/evil.com',
    '/\u3002evil.com',
    '/%E3%80%82evil.com',
    long,
    `https://evil.com/${'a'.repeat(3000)}`,
    '',
    undefined,
    null,
    0,
    42,
    true,
    {},
    { toString: () => '//evil.com' },
    ['//evil.com'],
    ['/ok'],
    ['/a', '/b'],
  ];

  it.each(payloads.map((p) => [JSON.stringify(p)?.slice(0, 60) ?? String(p), p]))('%s stays on the app origin', (_label, raw) => {
    const target = safeRedirectTarget(raw, policy);
    if (target === undefined) return;
    expect(typeof target).toBe('string');
    expect(landingOrigin(target)).toBe(BASE_ORIGIN);
    // And never a protocol-relative or backslash target a browser could reinterpret.
    expect(target.startsWith('//')).toBe(false);
    expect(target).not.toMatch(/\\/);
  });

  it('very long strings (> 2048) are rejected, even when local', () => {
    expect(safeRedirectTarget(`/${'a'.repeat(5000)}`, policy)).toBeUndefined();
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['number', 42],
    ['array', ['/ok']],
    ['object', { toString: () => '/ok' }],
    ['empty string', ''],
  ])('non-string / empty input (%s) -> undefined', (_l, raw) => {
    expect(safeRedirectTarget(raw, policy)).toBeUndefined();
  });
});

describe('safeRedirectTarget: allowed hosts (OIDC_REDIRECT_ALLOWED_HOSTS)', () => {
  const withHosts: RedirectPolicy = {
    baseUrl: BASE,
    allowedHosts: ['partner.example.com', 'api.example.com:8443'],
  };

  it('an absolute https URL on an allowed host is kept as is', () => {
    expect(safeRedirectTarget('https://partner.example.com/welcome?x=1#y', withHosts)).toBe('https://partner.example.com/welcome?x=1#y');
  });

  it('host matching is case-insensitive', () => {
    expect(safeRedirectTarget('https://PARTNER.example.com/', withHosts)).toBe('https://partner.example.com/');
  });

  it('an entry with a port allows that port', () => {
    expect(safeRedirectTarget('https://api.example.com:8443/x', withHosts)).toBe('https://api.example.com:8443/x');
  });

  it('an entry with a port does not allow the same host on another (or the default) port', () => {
    expect(safeRedirectTarget('https://api.example.com/x', withHosts)).toBeUndefined();
    expect(safeRedirectTarget('https://api.example.com:9443/x', withHosts)).toBeUndefined();
  });

  it('an entry without a port matches the default port, also when written explicitly', () => {
    expect(safeRedirectTarget('https://partner.example.com:443/x', withHosts)).toBe('https://partner.example.com/x');
  });

  it('http to an allowed host is refused when the base is https (no downgrade)', () => {
    expect(safeRedirectTarget('http://partner.example.com/x', withHosts)).toBeUndefined();
  });

  it('http to an allowed host is accepted when the app itself runs on http (development)', () => {
    const dev: RedirectPolicy = { baseUrl: 'http://localhost:3000', allowedHosts: ['localhost:4000'] };
    expect(safeRedirectTarget('http://localhost:4000/x', dev)).toBe('http://localhost:4000/x');
  });

  it('userinfo tricks do not pass via an allowed host', () => {
    expect(safeRedirectTarget('https://partner.example.com@evil.com/', withHosts)).toBeUndefined();
    expect(safeRedirectTarget('https://evil.com@partner.example.com/', withHosts)).toBeUndefined();
  });

  it('a suffix of an allowed host is not allowed', () => {
    expect(safeRedirectTarget('https://evilpartner.example.com/', withHosts)).toBeUndefined();
    expect(safeRedirectTarget('https://partner.example.com.evil.com/', withHosts)).toBeUndefined();
  });

  it('non-http(s) schemes are refused even on an allowed host', () => {
    expect(safeRedirectTarget('ftp://partner.example.com/', withHosts)).toBeUndefined();
  });
});

describe('safeRedirectTarget: base URL with a path prefix', () => {
  it('local paths are returned relative to the origin (the path prefix is not re-added)', () => {
    const sub: RedirectPolicy = { baseUrl: 'https://app.example.com/sub', allowedHosts: [] };
    expect(safeRedirectTarget('/sub/page', sub)).toBe('/sub/page');
    expect(safeRedirectTarget('//evil.com', sub)).toBeUndefined();
  });
});
