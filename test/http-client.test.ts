/**
 * The one HTTP client (src/http/client.ts) against real servers on 127.0.0.1: TLS verification on
 * by default, OIDC_VERIFY_SSL=false, the proxy (a real CONNECT proxy), the timeout, the size cap,
 * and opt-in redirect following on the requested origin only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type Server, type ServerResponse } from 'node:http';
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
  /** Every request the plain server saw, by method and path. */
  const hits: string[] = [];

  beforeAll(async () => {
    // A self-signed certificate (test/fixtures), as a misconfigured or intercepted provider would have.
    https = createHttpsServer({ key: fixture('localhost-key.pem'), cert: fixture('localhost-cert.pem') }, (req, res) => {
      if (req.url === '/downgrade') {
        res.writeHead(301, { location: `${plainUrl}/r/landed` }).end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true }));
    });
    httpsUrl = `https://127.0.0.1:${await listen(https)}`;

    plain = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      if (req.url?.startsWith('/r/') && redirect(req.url, res)) return;
      if (req.url === '/slow') {
        setTimeout(() => res.end('{}'), 2000).unref();
        return;
      }
      if (req.url === '/drip') {
        // Headers at once, then a byte every 100 ms: each gap is well inside any per-read timeout.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"pad":"');
        const drip = setInterval(() => res.write('x'), 100);
        drip.unref();
        res.on('close', () => clearInterval(drip));
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

  /** Redirecting routes of the plain server; false when the path is not one of them. */
  function redirect(path: string, res: ServerResponse): boolean {
    const chain = /^\/r\/chain\/(\d+)$/.exec(path);
    const slow = /^\/r\/slow\/(\d+)$/.exec(path);
    if (path === '/r/slash') {
      // Django's APPEND_SLASH: a relative Location to the same path plus "/".
      res.writeHead(301, { location: '/r/slash/' }).end('<p>moved</p>');
    } else if (chain?.[1] && chain[1] !== '0') {
      res.writeHead(302, { location: `/r/chain/${Number(chain[1]) - 1}` }).end();
    } else if (slow?.[1]) {
      setTimeout(() => res.writeHead(307, { location: `/r/slow/${Number(slow[1]) + 1}` }).end(), 150).unref();
    } else if (path === '/r/other-origin') {
      // The same server under another host name: another origin all the same.
      res.writeHead(302, { location: `http://localhost:${new URL(plainUrl).port}/r/landed` }).end();
    } else if (path === '/r/no-location') {
      res.writeHead(301).end();
    } else if (path === '/r/gone') {
      res.writeHead(308, { location: '/r/missing' }).end();
    } else if (path === '/r/missing') {
      res.writeHead(404).end('not here');
    } else {
      return false;
    }
    return true;
  }

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

  it('OIDC_TIMEOUT bounds the whole exchange: a body dripping a byte at a time times out too', async () => {
    const client = createHttpClient({ ...base, timeoutMs: 400 });
    const started = Date.now();
    const err = (await client.json(`${plainUrl}/drip`).catch((e: unknown) => e)) as OidcError;
    expect(err.code).toBe('OIDC_HTTP_TIMEOUT');
    expect(err.message).toBe(`${plainUrl}/drip did not answer within 400 ms`);
    expect(Date.now() - started).toBeLessThan(1500);
    await client.close();
  });

  it('answers on a kept-alive connection, many at a time, each with its own body and headers', async () => {
    const client = createHttpClient(base);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => client.send(`${plainUrl}/n/${i}`)));
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe('application/json');
      expect(JSON.parse(a.text)).toEqual({ path: `/n/${i}`, via: 'express-oidc-rp' });
    });
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

  describe('redirects (opt-in, same origin only)', () => {
    const follow = { redirects: { max: 3 } };

    it('a 301 to a relative Location on the same origin is followed when a GET asks (Django APPEND_SLASH)', async () => {
      const client = createHttpClient(base);
      const res = await client.send(`${plainUrl}/r/slash`, follow);
      expect(res).toMatchObject({ status: 200, url: `${plainUrl}/r/slash/` });
      await expect(client.json(`${plainUrl}/r/slash`, follow)).resolves.toMatchObject({ path: '/r/slash/' });

      // Not by default (token, userinfo, revocation requests), and never for a POST.
      const before = hits.length;
      await expect(client.json(`${plainUrl}/r/slash`)).rejects.toMatchObject({ code: 'OIDC_HTTP_STATUS', status: 301 });
      expect((await client.send(`${plainUrl}/r/slash`, { form: { a: '1' }, ...follow })).status).toBe(301);
      expect(hits.slice(before)).toEqual(['GET /r/slash', 'POST /r/slash']);
      await client.close();
    });

    it('up to max redirects are followed; one more fails naming the URL and the limit', async () => {
      const client = createHttpClient(base);
      await expect(client.json(`${plainUrl}/r/chain/3`, follow)).resolves.toMatchObject({ path: '/r/chain/0' });
      const before = hits.length;
      const err = (await client.json(`${plainUrl}/r/chain/4`, follow).catch((e: unknown) => e)) as OidcError;
      expect(err.code).toBe('OIDC_HTTP_STATUS');
      expect(err.message).toContain(`${plainUrl}/r/chain/1 answered HTTP 302`);
      expect(err.message).toContain('at most 3 redirects');
      expect(hits.slice(before)).toEqual(['GET /r/chain/4', 'GET /r/chain/3', 'GET /r/chain/2', 'GET /r/chain/1']);
      await client.close();
    });

    it('a redirect to another origin is not followed', async () => {
      const client = createHttpClient(base);
      const err = (await client.json(`${plainUrl}/r/other-origin`, follow).catch((e: unknown) => e)) as OidcError;
      expect(err.code).toBe('OIDC_HTTP_STATUS');
      expect(err.message).toContain(`only redirects on the origin ${plainUrl} are followed`);
      expect(hits).not.toContain('GET /r/landed');
      await client.close();
    });

    it('a redirect from https down to http is not followed', async () => {
      const client = createHttpClient({ ...base, verifySsl: false });
      const err = (await client.json(`${httpsUrl}/downgrade`, follow).catch((e: unknown) => e)) as OidcError;
      expect(err.code).toBe('OIDC_HTTP_STATUS');
      expect(err.message).toContain('from https to http is never followed');
      expect(hits).not.toContain('GET /r/landed');
      await client.close();
    });

    it('a redirect without Location fails saying so', async () => {
      const client = createHttpClient(base);
      const err = (await client.json(`${plainUrl}/r/no-location`, follow).catch((e: unknown) => e)) as OidcError;
      expect(err.code).toBe('OIDC_HTTP_STATUS');
      expect(err.message).toContain(`${plainUrl}/r/no-location answered HTTP 301, a redirect without a Location header`);
      await client.close();
    });

    it('an error after a redirect names the URL that answered', async () => {
      const client = createHttpClient(base);
      const err = (await client.json(`${plainUrl}/r/gone`, follow).catch((e: unknown) => e)) as OidcError;
      expect(err).toMatchObject({ code: 'OIDC_HTTP_STATUS', status: 404 });
      expect(err.message).toBe(`${plainUrl}/r/missing answered HTTP 404`);
      await client.close();
    });

    it('one OIDC_TIMEOUT bounds the whole chain, not each hop', async () => {
      const client = createHttpClient({ ...base, timeoutMs: 400 });
      const err = (await client.json(`${plainUrl}/r/slow/1`, follow).catch((e: unknown) => e)) as OidcError;
      expect(err.code).toBe('OIDC_HTTP_TIMEOUT');
      await client.close();
    });
  });
});
