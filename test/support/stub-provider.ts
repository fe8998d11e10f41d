/**
 * A Provider (src/protocol/provider.ts) whose token endpoint is a function, for tests of the
 * refresher without HTTP: discovery is known, the client authenticates with nothing, and each
 * token request's form goes to `answer`. An OidcError thrown by `answer` is what the HTTP client
 * would have thrown.
 */
import type { Provider } from '../../src/protocol/provider.js';
import { endpointFor, type MtlsAliasedEndpoint, type ProviderMetadata } from '../../src/protocol/discovery.js';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/http/client.js';
import type { ClientAuthenticator } from '../../src/protocol/client-auth.js';
import { DpopNonces } from '../../src/protocol/dpop.js';

export const STUB_META = { issuer: 'https://op.example', tokenEndpoint: 'https://op.example/token' } as ProviderMetadata;

export type StubTokenEndpoint = (form: Record<string, string>) => Promise<Record<string, unknown>>;

export function stubProvider(answer: StubTokenEndpoint, meta: ProviderMetadata = STUB_META): Provider & { grants: Array<Record<string, string>> } {
  const grants: Array<Record<string, string>> = [];
  const http = {
    send: async (url: string, req?: HttpRequest): Promise<HttpResponse> => {
      const form = req?.form ?? {};
      grants.push(form);
      return { url, status: 200, headers: {}, text: JSON.stringify(await answer(form)) };
    },
  } as unknown as HttpClient;
  const client: ClientAuthenticator = { method: 'client_secret_post', authenticate: async (_endpoint, form) => ({ form, headers: {} }) };
  const nonces = new DpopNonces();
  return {
    grants,
    http,
    discovery: { get: async () => meta, peek: () => meta },
    clientFor: () => client,
    endpoint: ((m: ProviderMetadata, name: MtlsAliasedEndpoint) => endpointFor(m, name, false)) as Provider['endpoint'],
    tokenCall: (m, key) => ({ http, endpoint: m.tokenEndpoint, client, dpop: key ? { key, nonces } : undefined }),
    dpop: (key) => ({ key, nonces }),
    keysFor: () => {
      throw new Error('no ID token is validated with the stub provider');
    },
    validateIdToken: async () => {
      throw new Error('no ID token is validated with the stub provider');
    },
    close: async () => undefined,
  };
}
