/**
 * Pushed authorization requests (src/protocol/pushed-authorization-request.ts, RFC 9126) and the
 * parameters they carry (src/protocol/authorization-request.ts).
 */
import { describe, expect, it } from 'vitest';
import { parsePushedAuthorizationResponse, pushAuthorizationRequest, pushedAuthorizationUrl } from '../../src/protocol/pushed-authorization-request.js';
import { authorizationParams } from '../../src/protocol/authorization-request.js';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/http/client.js';
import type { ClientAuthenticator } from '../../src/protocol/client-auth.js';
import { isTransientProviderError, type OidcError } from '../../src/errors.js';

const client: ClientAuthenticator = {
  method: 'private_key_jwt',
  authenticate: async (_e, form) => ({ form: { ...form, client_assertion: 'a' }, headers: {} }),
};

function httpAnswering(status: number, body: unknown, seen: HttpRequest[] = []): HttpClient {
  return {
    send: async (url: string, req: HttpRequest): Promise<HttpResponse> => {
      seen.push(req);
      return { url, status, headers: {}, text: typeof body === 'string' ? body : JSON.stringify(body) };
    },
  } as unknown as HttpClient;
}

describe('RFC 9126', () => {
  it('2.1: POSTs the authorization parameters with the client authentication; 2.2: returns request_uri and expires_in', async () => {
    const seen: HttpRequest[] = [];
    const http = httpAnswering(201, { request_uri: 'urn:ietf:params:oauth:request_uri:abc', expires_in: 60 }, seen);
    const params = authorizationParams({
      authorizationEndpoint: 'https://op.example/auth',
      clientId: 'c',
      redirectUri: 'https://app/cb',
      scopes: ['openid'],
      state: 's',
      nonce: 'n',
      codeVerifier: 'v'.repeat(43),
      dpopJkt: 'jkt-1',
    });
    const pushed = await pushAuthorizationRequest(http, 'https://op.example/par', client, params);
    expect(pushed).toEqual({ requestUri: 'urn:ietf:params:oauth:request_uri:abc', expiresIn: 60 });
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.form).toMatchObject({
      response_type: 'code',
      client_id: 'c',
      state: 's',
      code_challenge_method: 'S256',
      dpop_jkt: 'jkt-1',
      client_assertion: 'a',
    });
  });

  it('4: the browser gets client_id and request_uri only, on the authorization endpoint (its own query kept)', () => {
    const url = new URL(pushedAuthorizationUrl('https://op.example/auth?tenant=x', 'c', 'urn:x'));
    expect(Object.fromEntries(url.searchParams)).toEqual({ tenant: 'x', client_id: 'c', request_uri: 'urn:x' });
  });

  it.each([
    [{ expires_in: 60 }, 'no request_uri'],
    [{ request_uri: 'urn:x' }, 'no positive expires_in'],
    [{ request_uri: 'urn:x', expires_in: 0 }, 'no positive expires_in'],
  ])('2.2: a malformed response %j is OIDC_PAR_FAILED', (body, why) => {
    expect(() => parsePushedAuthorizationResponse(body)).toThrow(why);
  });

  it('2.3: an error response is OIDC_PAR_FAILED with the OAuth error; a 5xx is transient (503), a 400 is not', async () => {
    const refused = await pushAuthorizationRequest(
      httpAnswering(400, { error: 'invalid_request', error_description: 'bad scope' }),
      'https://op.example/par',
      client,
      {},
    ).catch((e: OidcError) => e);
    expect(refused).toMatchObject({ code: 'OIDC_PAR_FAILED', oauthError: 'invalid_request', status: 400, statusCode: 500 });
    expect((refused as Error).message).toContain('bad scope');
    expect(isTransientProviderError(refused)).toBe(false);
    const down = await pushAuthorizationRequest(httpAnswering(503, 'oops'), 'https://op.example/par', client, {}).catch((e: OidcError) => e);
    expect(down).toMatchObject({ code: 'OIDC_PAR_FAILED', statusCode: 503 });
    expect(isTransientProviderError(down)).toBe(true);
  });
});
