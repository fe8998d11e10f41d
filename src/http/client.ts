/**
 * The one HTTP client for every call to the provider (discovery, JWKS, token, userinfo,
 * revocation). undici does the work: a per-request timeout, an optional proxy, TLS verification
 * (with extra trusted CAs), the client certificate of mutual TLS and a cap on the response size;
 * this module turns its failures into typed OidcErrors.
 */
import * as tls from 'node:tls';
import { Agent, ProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { OidcError } from '../errors.js';
import { isFollowedRedirect, redirectTarget } from './redirects.js';

export interface HttpClientOptions {
  timeoutMs: number;
  proxy?: string | undefined;
  verifySsl: boolean;
  maxResponseBytes: number;
  /**
   * PEM client certificate (chain) and its private key, presented in every TLS handshake with the
   * provider: mutual TLS client authentication and certificate-bound tokens (RFC 8705 2, 3).
   */
  clientCertificate?: string | undefined;
  clientKey?: string | undefined;
  /** PEM CA certificates trusted for the provider's certificate on top of the default roots. */
  caCertificates?: string | undefined;
}

export interface HttpResponse {
  /** The URL that answered: the one requested, or where its redirects led. */
  url: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface HttpRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** application/x-www-form-urlencoded body (all OAuth 2.0 endpoints take this). */
  form?: Record<string, string>;
  /**
   * Follow up to `max` redirects of a GET, each on the origin of the URL requested
   * (http/redirects.ts). Off by default: only requests whose target may move should opt in
   * (discovery does).
   */
  redirects?: { max: number };
}

export interface HttpClient {
  send(url: string, req?: HttpRequest): Promise<HttpResponse>;
  /** send() + JSON object body; non-2xx answers become OIDC_OP_ERROR or OIDC_HTTP_STATUS. */
  json(url: string, req?: HttpRequest): Promise<Record<string, unknown>>;
  /** A fetch for jose's createRemoteJWKSet, going through the same dispatcher. */
  fetch: (url: string, init: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal }) => Promise<Response>;
  /**
   * A call to a resource server (req.oidc.fetch): the WHATWG fetch, through the same dispatcher
   * (proxy, TLS, client certificate), redirects not followed (a token must not travel to wherever
   * a redirect points). Network failures become OIDC_HTTP_* errors.
   */
  fetchResource(url: string, init: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

const USER_AGENT = 'express-oidc-rp';

/**
 * The CAs Node trusts by default. Node 22.15+ can say (with NODE_EXTRA_CA_CERTS and
 * --use-system-ca applied); before that, the bundled roots. Giving `ca` replaces these, so the
 * extra CAs are added to them rather than trusted alone.
 */
function defaultCaCertificates(): readonly string[] {
  const getCACertificates = (tls as { getCACertificates?: (type: 'default') => string[] }).getCACertificates;
  return getCACertificates ? getCACertificates('default') : tls.rootCertificates;
}

/** TLS options of every connection to the provider (not to a proxy: RFC 8705 is between client and provider). */
function tlsOptions(opts: HttpClientOptions): tls.ConnectionOptions {
  return {
    rejectUnauthorized: opts.verifySsl,
    ...(opts.caCertificates !== undefined && { ca: [...defaultCaCertificates(), opts.caCertificates] }),
    ...(opts.clientCertificate !== undefined && opts.clientKey !== undefined && { cert: opts.clientCertificate, key: opts.clientKey }),
  };
}

export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const providerTls = tlsOptions(opts);
  const common = {
    maxResponseSize: opts.maxResponseBytes,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connectTimeout: opts.timeoutMs,
  };
  const dispatcher: Dispatcher = opts.proxy
    ? new ProxyAgent({ uri: opts.proxy, requestTls: providerTls, ...common })
    : new Agent({ connect: { ...providerTls, timeout: opts.timeoutMs }, ...common });

  /**
   * One exchange through the dispatcher's own interface, the body collected into one string:
   * provider answers are small JSON documents (capped by maxResponseBytes), so undici's request()
   * (a body stream, its mixins, an AbortSignal and its listeners per call) would do more work than
   * the answer needs; this takes about half the client CPU of that path (bench/RESULTS.md). The same
   * dispatcher, so the same TLS, proxy, connection pool, size cap and per-phase timeouts. Settles
   * by `deadline` (epoch ms) at the latest, with a TimeoutError, aborting the exchange.
   */
  function exchange(url: URL, method: string, headers: Record<string, string>, body: string | undefined, deadline: number): Promise<Omit<HttpResponse, 'url'>> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let controller: Dispatcher.DispatchController | undefined;
      let status = 0;
      let responseHeaders: Record<string, string | string[] | undefined> = {};
      let chunks: Buffer[] = [];
      const settle = (err: unknown, value?: Omit<HttpResponse, 'url'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve(value as Omit<HttpResponse, 'url'>);
        else reject(err);
      };
      const timer = setTimeout(
        () => {
          const err = new DOMException(`${url.href} did not answer in time`, 'TimeoutError');
          controller?.abort(err);
          settle(err);
        },
        Math.max(0, deadline - Date.now()),
      );
      try {
        dispatcher.dispatch(
          { origin: url.origin, path: `${url.pathname}${url.search}`, method: method as Dispatcher.HttpMethod, headers, body: body ?? null },
          {
            onRequestStart(c) {
              controller = c;
              // Started again (a retry on a fresh connection): only this attempt's answer counts.
              chunks = [];
              if (settled) c.abort(new DOMException('the request timed out before it started', 'TimeoutError'));
            },
            onResponseStart(_c, statusCode, h) {
              // 1xx informational answers come before the real one.
              if (statusCode < 200) return;
              status = statusCode;
              responseHeaders = h;
            },
            onResponseData(_c, chunk) {
              chunks.push(chunk);
            },
            onResponseEnd() {
              settle(undefined, { status, headers: responseHeaders, text: Buffer.concat(chunks).toString('utf8') });
            },
            onResponseError(_c, err) {
              settle(err);
            },
          },
        );
      } catch (err) {
        settle(err);
      }
    });
  }

  async function send(url: string, req: HttpRequest = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'application/json', ...req.headers };
    let body: string | undefined;
    if (req.form) {
      body = new URLSearchParams(req.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    // One overall deadline for connect + headers + body, redirects included, so neither a
    // slow-drip body nor a chain of redirects can hold a request longer than OIDC_TIMEOUT.
    const deadline = Date.now() + opts.timeoutMs;
    const method = req.method ?? (body ? 'POST' : 'GET');
    // Only a GET is followed: a redirected POST may be repeated or turned into a GET
    // (RFC 9110 15.4.2, 15.4.3), and neither suits a token or revocation request.
    const redirects = method === 'GET' ? req.redirects : undefined;
    let current = url;
    for (let followed = 0; ; followed++) {
      let res: Omit<HttpResponse, 'url'>;
      try {
        res = await exchange(new URL(current), method, headers, body, deadline);
      } catch (err) {
        throw toHttpError(err, current, opts.timeoutMs);
      }
      if (!redirects || !isFollowedRedirect(res.status)) return { url: current, ...res };
      const location = res.headers.location;
      current = redirectTarget({
        first: url,
        from: current,
        status: res.status,
        location: Array.isArray(location) ? location[0] : location,
        followed,
        max: redirects.max,
      });
    }
  }

  async function json(url: string, req: HttpRequest = {}): Promise<Record<string, unknown>> {
    return jsonBody(await send(url, req));
  }

  const fetchForJose: HttpClient['fetch'] = async (url, init) => {
    try {
      const res = await undiciFetch(url, { ...init, headers: Object.fromEntries(init.headers.entries()), dispatcher });
      return res as unknown as Response;
    } catch (err) {
      throw toHttpError(err, url, opts.timeoutMs);
    }
  };

  const fetchResource: HttpClient['fetchResource'] = async (url, init) => {
    try {
      const res = await undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), redirect: 'manual', dispatcher });
      return res as unknown as Response;
    } catch (err) {
      throw toHttpError(err, url, opts.timeoutMs);
    }
  };

  return { send, json, fetch: fetchForJose, fetchResource, close: () => dispatcher.close() };
}

/**
 * A provider response as a JSON object: non-2xx answers become OIDC_OP_ERROR (an RFC 6749 5.2
 * error body) or OIDC_HTTP_STATUS; a 2xx that is not a JSON object is OIDC_HTTP_INVALID_BODY.
 */
export function jsonBody(res: HttpResponse): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = res.text === '' ? undefined : JSON.parse(res.text);
  } catch {
    parsed = undefined;
  }
  const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  if (res.status < 200 || res.status >= 300) {
    // RFC 6749 5.2: an error response carries `error` (and maybe `error_description`).
    const body = isObject ? (parsed as Record<string, unknown>) : undefined;
    if (body && typeof body.error === 'string') {
      const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
      throw new OidcError('OIDC_OP_ERROR', `${new URL(res.url).pathname} answered ${res.status} ${body.error}${description}`, {
        oauthError: body.error,
        status: res.status,
      });
    }
    throw new OidcError('OIDC_HTTP_STATUS', `${res.url} answered HTTP ${res.status}`, { status: res.status });
  }
  if (!isObject) {
    throw new OidcError('OIDC_HTTP_INVALID_BODY', `${res.url} did not answer with a JSON object`, { status: res.status });
  }
  return parsed as Record<string, unknown>;
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause ? errCode(cause) : undefined;
}

function toHttpError(err: unknown, url: string, timeoutMs: number): OidcError {
  const name = (err as { name?: unknown } | null)?.name;
  const code = errCode(err);
  if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new OidcError('OIDC_HTTP_TIMEOUT', `${url} did not answer within ${timeoutMs} ms`, { cause: err });
  }
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
    return new OidcError('OIDC_HTTP_RESPONSE_TOO_LARGE', `${url} sent a response larger than the configured maximum`, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new OidcError('OIDC_HTTP_NETWORK', `request to ${url} failed: ${code ?? detail}`, { cause: err });
}
