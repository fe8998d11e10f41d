/**
 * The one HTTP client (src/http/client.ts) against real servers on 127.0.0.1: TLS verification on
 * by default, OIDC_VERIFY_SSL=false, the proxy (a real CONNECT proxy), the timeout and the size cap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createHttpClient } from '../src/http/client.js';
import type { OidcError } from '../src/errors.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

async function listen<T extends Server | HttpsServer>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const close = (server: Server | HttpsServer) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe('http client', () => {
  let https: HttpsServer;
  let httpsUrl: string;
  let plain: Server;
  let plainUrl: string;
  let proxy: Server;
  let proxyUrl: string;
  const tunnels: string[] = [];

  beforeAll(async () => {
    // A self-signed certificate (test/fixtures), as a misconfigured or intercepted provider would have.
    https = createHttpsServer({ key: fixture('localhost-key.pem'), cert: fixture('localhost-cert.pem') }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true }));
    });
    httpsUrl = `https://127.0.0.1:${await listen(https)}`;

    plain = createServer((req, res) => {
      if (req.url === '/slow') {
        setTimeout(() => res.end('{}'), 2000).unref();
        return;
      }
      if (req.url === '/big') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ pad: 'x'.repeat(200_000) }));
        return;
      }
      if (req.url === '/error') {
        res.statusCode = 400;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ error: 'invalid_request', error_description: 'nope' }));
        return;
      }
      if (req.url === '/html') {
        res.statusCode = 502;
        res.end('<html>bad gateway</html>');
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, via: req.headers['user-agent'] }));
    });
    plainUrl = `http://127.0.0.1:${await listen(plain)}`;

    // A minimal CONNECT proxy: records each tunnel and pipes bytes both ways.
    proxy = createServer((_req, res) => {
      res.statusCode = 405;
      res.end();
    });
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
    proxyUrl = `http://127.0.0.1:${await listen(proxy)}`;
  });

  afterAll(async () => {
    await Promise.all([close(https), close(plain), close(proxy)]);
  });

  const base = { timeoutMs: 1000, verifySsl: true, maxResponseBytes: 64 * 1024 };

  it('verifies TLS certificates by default (OIDC_VERIFY_SSL=true)', async () => {
    const client = createHttpClient(base);
    const err = (await client.json(httpsUrl).catch((e: unknown) => e)) as OidcError;
    expect(err.code).toBe('OIDC_HTTP_NETWORK');
    await client.close();
  });

  it('accepts the certificate with OIDC_VERIFY_SSL=false', async () => {
    const client = createHttpClient({ ...base, verifySsl: false });
    await expect(client.json(httpsUrl)).resolves.toEqual({ ok: true });
    await client.close();
  });

  it('goes through OIDC_PROXY', async () => {
    const client = createHttpClient({ ...base, proxy: proxyUrl });
    const before = tunnels.length;
    await expect(client.json(`${plainUrl}/via-proxy`)).resolves.toMatchObject({ path: '/via-proxy' });
    expect(tunnels.length).toBe(before + 1);
    expect(tunnels.at(-1)).toBe(new URL(plainUrl).host);
    await client.close();
  });

  it('times out after OIDC_TIMEOUT with OIDC_HTTP_TIMEOUT', async () => {
    const client = createHttpClient({ ...base, timeoutMs: 300 });
    const started = Date.now();
    const err = (await client.json(`${plainUrl}/slow`).catch((e: unknown) => e)) as OidcError;
    expect(err.code).toBe('OIDC_HTTP_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1500);
    await client.close();
  });

  it('caps the response size with OIDC_HTTP_RESPONSE_TOO_LARGE', async () => {
    const client = createHttpClient(base);
    const err = (await client.json(`${plainUrl}/big`).catch((e: unknown) => e)) as OidcError;
    expect(err.code).toBe('OIDC_HTTP_RESPONSE_TOO_LARGE');
    await client.close();
  });

  it('turns OAuth error bodies into OIDC_OP_ERROR and other failures into OIDC_HTTP_STATUS', async () => {
    const client = createHttpClient(base);
    const oauth = (await client.json(`${plainUrl}/error`).catch((e: unknown) => e)) as OidcError;
    expect(oauth.code).toBe('OIDC_OP_ERROR');
    expect(oauth.oauthError).toBe('invalid_request');
    expect(oauth.status).toBe(400);
    const html = (await client.json(`${plainUrl}/html`).catch((e: unknown) => e)) as OidcError;
    expect(html.code).toBe('OIDC_HTTP_STATUS');
    expect(html.status).toBe(502);
    await client.close();
  });

  it('reports a refused connection as OIDC_HTTP_NETWORK', async () => {
    const client = createHttpClient(base);
    const err = (await client.json('http://127.0.0.1:1/').catch((e: unknown) => e)) as OidcError;
    expect(err.code).toBe('OIDC_HTTP_NETWORK');
    await client.close();
  });
});
