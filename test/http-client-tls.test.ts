/**
 * The HTTP client's TLS settings (src/http/client.ts) against real servers on 127.0.0.1 with
 * certificates from a throwaway CA (test/support/tls.ts): extra trusted CAs (`caCertificates`)
 * with verification on, and the client certificate of mutual TLS (RFC 8705), directly and through
 * a CONNECT proxy (undici's ProxyAgent `requestTls`).
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClientOptions } from '../src/http/client.js';
import { codeOfAsync, errorOfAsync } from './support/error-code.js';
import { testPki, type TestPki } from './support/tls.js';

async function listen(server: Server | HttpsServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const close = (server: Server | HttpsServer) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe('http client TLS settings', () => {
  let pki: TestPki;
  let https: HttpsServer;
  let httpsUrl: string;
  let proxy: Server;
  let proxyUrl: string;
  const tunnels: string[] = [];

  beforeAll(async () => {
    pki = await testPki();
    // Asks for a client certificate, requires none, and answers what it got.
    https = createHttpsServer({ key: pki.server.key, cert: pki.server.cert, ca: pki.ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ subject: peer.subject?.CN ?? null, authorized: socket.authorized }));
    });
    httpsUrl = `https://${await listen(https)}`;

    proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, clientSocket, head) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host as string, () => {
        clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(clientSocket);
        clientSocket.pipe(upstream);
      });
      upstream.on('error', () => clientSocket.destroy());
      clientSocket.on('error', () => upstream.destroy());
    });
    proxyUrl = `http://${await listen(proxy)}`;
  });

  afterAll(async () => {
    await Promise.all([https && close(https), proxy && close(proxy)]);
  });

  const base: HttpClientOptions = { timeoutMs: 2000, verifySsl: true, maxResponseBytes: 64 * 1024 };

  async function withClient<T>(opts: Partial<HttpClientOptions>, fn: (client: ReturnType<typeof createHttpClient>) => Promise<T>): Promise<T> {
    const client = createHttpClient({ ...base, ...opts });
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  }

  it('refuses a certificate from a CA it was not given (OIDC_HTTP_NETWORK)', async () => {
    const err = await withClient({}, (c) => errorOfAsync(c.json(httpsUrl)));
    expect(err?.code).toBe('OIDC_HTTP_NETWORK');
    // The server sends its CA along (it has `ca`), a self-signed root Node does not know.
    expect(err?.message).toContain('SELF_SIGNED_CERT_IN_CHAIN');
  });

  it('trusts the CA given as caCertificates, verification still on', async () => {
    expect(await withClient({ caCertificates: pki.ca }, (c) => c.json(httpsUrl))).toEqual({ subject: null, authorized: false });
  });

  it('another CA in caCertificates does not make the server trusted', async () => {
    // The self-signed client certificate plays a CA that signed nothing of the server's.
    expect(await withClient({ caCertificates: pki.selfSigned.cert }, (c) => codeOfAsync(c.json(httpsUrl)))).toBe('OIDC_HTTP_NETWORK');
  });

  it('presents clientCertificate with clientKey in the handshake', async () => {
    const seen = await withClient({ caCertificates: pki.ca, clientCertificate: pki.client.cert, clientKey: pki.client.key }, (c) => c.json(httpsUrl));
    expect(seen).toEqual({ subject: 'rp-client', authorized: true });
    const selfSigned = await withClient({ caCertificates: pki.ca, clientCertificate: pki.selfSigned.cert, clientKey: pki.selfSigned.key }, (c) =>
      c.json(httpsUrl),
    );
    expect(selfSigned).toEqual({ subject: 'rp-self-signed', authorized: false });
  });

  it('through a proxy: the tunnelled connection to the provider trusts the CA and presents the certificate', async () => {
    tunnels.length = 0;
    const opts = { proxy: proxyUrl, caCertificates: pki.ca, clientCertificate: pki.client.cert, clientKey: pki.client.key };
    expect(await withClient(opts, (c) => c.json(httpsUrl))).toEqual({ subject: 'rp-client', authorized: true });
    expect(tunnels).toEqual([new URL(httpsUrl).host]);
    expect(await withClient({ proxy: proxyUrl }, (c) => codeOfAsync(c.json(httpsUrl)))).toBe('OIDC_HTTP_NETWORK');
  });

  it("jose's fetch (JWKS) goes through the same TLS settings", async () => {
    const res = await withClient({ caCertificates: pki.ca, clientCertificate: pki.client.cert, clientKey: pki.client.key }, async (c) => {
      const r = await c.fetch(httpsUrl, { headers: new Headers(), method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(2000) });
      return r.json();
    });
    expect(res).toEqual({ subject: 'rp-client', authorized: true });
  });
});
