/**
 * src/http/redirects.ts: which redirects a provider request may follow (RFC 9110 15.4): the
 * followed statuses, relative Locations, the hop limit, and never another origin or a downgrade.
 */
import { describe, expect, it } from 'vitest';
import { isFollowedRedirect, redirectTarget, type RedirectHop } from '../../src/http/redirects.js';
import type { OidcError } from '../../src/errors.js';

const WELL_KNOWN = 'https://op.example.com/o/.well-known/openid-configuration';

function hop(overrides: Partial<RedirectHop> = {}): RedirectHop {
  return { first: WELL_KNOWN, from: WELL_KNOWN, status: 301, location: `${WELL_KNOWN}/`, followed: 0, max: 3, ...overrides };
}

function refusal(h: RedirectHop): OidcError {
  try {
    redirectTarget(h);
  } catch (err) {
    return err as OidcError;
  }
  throw new Error(`expected ${JSON.stringify(h)} to be refused`);
}

describe('isFollowedRedirect (RFC 9110 15.4)', () => {
  it.each([301, 302, 303, 307, 308])('%i is followed', (status) => {
    expect(isFollowedRedirect(status)).toBe(true);
  });

  it.each([200, 300, 304, 305, 306, 400, 404])('%i is not', (status) => {
    expect(isFollowedRedirect(status)).toBe(false);
  });
});

describe('redirectTarget', () => {
  it('an absolute Location on the same origin (Django APPEND_SLASH)', () => {
    expect(redirectTarget(hop())).toBe(`${WELL_KNOWN}/`);
  });

  it('a relative Location is resolved against the URL that answered (RFC 9110 10.2.2)', () => {
    expect(redirectTarget(hop({ location: '/o/.well-known/openid-configuration/' }))).toBe(`${WELL_KNOWN}/`);
    expect(redirectTarget(hop({ location: 'openid-configuration/' }))).toBe(`${WELL_KNOWN}/`);
    expect(redirectTarget(hop({ location: '?v=2' }))).toBe(`${WELL_KNOWN}?v=2`);
  });

  it('the origin is the one first requested, not the one of the previous hop', () => {
    const from = 'https://op.example.com/second';
    expect(redirectTarget(hop({ from, location: '/third', followed: 1 }))).toBe('https://op.example.com/third');
  });

  it('an http origin may redirect within itself (loopback providers in development)', () => {
    const first = 'http://127.0.0.1:4000/.well-known/openid-configuration';
    expect(redirectTarget(hop({ first, from: first, location: `${first}/` }))).toBe(`${first}/`);
  });

  it.each([0, 1, 2])('after %i followed redirects another one is followed (max 3)', (followed) => {
    expect(redirectTarget(hop({ followed }))).toBe(`${WELL_KNOWN}/`);
  });

  it('the 4th redirect is refused, naming the URL and the limit', () => {
    const err = refusal(hop({ followed: 3 }));
    expect(err.code).toBe('OIDC_HTTP_STATUS');
    expect(err.status).toBe(301);
    expect(err.message).toContain(WELL_KNOWN);
    expect(err.message).toContain('at most 3 redirects');
  });

  it.each([undefined, '', '  '])('a redirect without Location (%j) is refused', (location) => {
    const err = refusal(hop({ location, status: 302 }));
    expect(err.code).toBe('OIDC_HTTP_STATUS');
    expect(err.message).toContain(`${WELL_KNOWN} answered HTTP 302`);
    expect(err.message).toContain('without a Location header');
  });

  it('an unparseable Location is refused', () => {
    expect(refusal(hop({ location: 'https://[::1' })).message).toContain('invalid Location');
  });

  it.each([
    ['another host', 'https://evil.example.com/.well-known/openid-configuration'],
    ['a sub-domain', 'https://login.op.example.com/o/.well-known/openid-configuration'],
    ['another port', 'https://op.example.com:8443/o/.well-known/openid-configuration'],
    ['a protocol-relative URL', '//evil.example.com/x'],
    ['a data: URL', 'data:application/json,{}'],
  ])('a redirect to %s is refused, naming the target and the same-origin rule', (_name, location) => {
    const err = refusal(hop({ location }));
    expect(err.code).toBe('OIDC_HTTP_STATUS');
    expect(err.message).toContain(WELL_KNOWN);
    expect(err.message).toContain('only redirects on the origin https://op.example.com are followed');
  });

  it('a downgrade from https to http on the same host is refused as such', () => {
    const err = refusal(hop({ location: 'http://op.example.com/o/.well-known/openid-configuration/' }));
    expect(err.message).toContain('http://op.example.com/o/.well-known/openid-configuration/');
    expect(err.message).toContain('from https to http is never followed');
  });

  it('an upgrade from http to https is another origin too', () => {
    const first = 'http://127.0.0.1:4000/.well-known/openid-configuration';
    const err = refusal(hop({ first, from: first, location: 'https://127.0.0.1:4000/.well-known/openid-configuration' }));
    expect(err.message).toContain('only redirects on the origin http://127.0.0.1:4000 are followed');
  });
});
