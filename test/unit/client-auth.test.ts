/**
 * src/protocol/client-auth.ts: client_secret_basic and client_secret_post (OIDC Core 9,
 * RFC 6749 2.3.1).
 */
import { describe, it, expect } from 'vitest';
import { authenticateClient } from '../../src/protocol/client-auth.js';

function decodeBasic(header: string | undefined): [string, string] {
  expect(header).toMatch(/^Basic [A-Za-z0-9+/]+=*$/);
  const decoded = Buffer.from((header as string).slice('Basic '.length), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return [decoded.slice(0, i), decoded.slice(i + 1)];
}

describe('authenticateClient: client_secret_basic (RFC 6749 2.3.1)', () => {
  it('puts id:secret base64 in the Authorization header and leaves the form alone', () => {
    const form = { grant_type: 'authorization_code', code: 'c' };
    const r = authenticateClient({ clientId: 'client-1', clientSecret: 'secret-1', useBasicAuth: true }, form);
    expect(decodeBasic(r.headers.authorization)).toEqual(['client-1', 'secret-1']);
    expect(r.form).toEqual({ grant_type: 'authorization_code', code: 'c' });
    expect(r.form).not.toHaveProperty('client_secret');
    expect(r.form).not.toHaveProperty('client_id');
  });

  it('2.3.1: the secret "a:b%c d" is form-urlencoded before base64 -> "a%3Ab%25c+d"', () => {
    const r = authenticateClient({ clientId: 'client-1', clientSecret: 'a:b%c d', useBasicAuth: true }, {});
    const [id, secret] = decodeBasic(r.headers.authorization);
    expect(id).toBe('client-1');
    expect(secret).toBe('a%3Ab%25c+d');
  });

  it('2.3.1: the client id is form-urlencoded too (a ":" in it cannot split the pair)', () => {
    const r = authenticateClient({ clientId: 'urn:client 1', clientSecret: 's', useBasicAuth: true }, {});
    expect(decodeBasic(r.headers.authorization)).toEqual(['urn%3Aclient+1', 's']);
  });

  it('2.3.1: the encoded pair decodes back to the original values with form decoding', () => {
    const id = 'id:ü+&=/';
    const secret = 'sé cret:%+&=?#/';
    const r = authenticateClient({ clientId: id, clientSecret: secret, useBasicAuth: true }, {});
    const [encId, encSecret] = decodeBasic(r.headers.authorization);
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    expect(formDecode(encId)).toBe(id);
    expect(formDecode(encSecret)).toBe(secret);
  });
});

describe('authenticateClient: client_secret_post (OIDC Core 9)', () => {
  it('puts client_id and client_secret in the form, sends no Authorization header', () => {
    const form = { grant_type: 'refresh_token', refresh_token: 'rt' };
    const r = authenticateClient({ clientId: 'client-1', clientSecret: 'a:b%c d', useBasicAuth: false }, form);
    expect(r.form).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt', client_id: 'client-1', client_secret: 'a:b%c d' });
    expect(r.headers).toEqual({});
  });

  it("does not mutate the caller's form object", () => {
    const form = { grant_type: 'refresh_token' };
    authenticateClient({ clientId: 'c', clientSecret: 's', useBasicAuth: false }, form);
    expect(form).toEqual({ grant_type: 'refresh_token' });
  });
});
