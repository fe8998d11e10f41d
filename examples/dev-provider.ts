// An embedded development OpenID Provider built on oidc-provider, for the demo app (`npm start`
// without OIDC_* settings), for integration tests and for `express-oidc-rp dev-provider`
// (cli/dev-provider.ts). It listens on loopback only (127.0.0.1 unless `host` says otherwise),
// keeps all state in memory per instance, and logs in any login name with any password.
//
// Optionally it serves HTTPS, with mutual TLS (RFC 8705: client certificates for client
// authentication and certificate-bound access tokens, and mtls_endpoint_aliases on a second
// port), and oidc-provider's FAPI 2.0 Security Profile (PAR, DPoP with server nonces,
// private_key_jwt or mTLS client authentication, PS256 ID tokens).
import { X509Certificate, generateKeyPair, randomBytes, type JsonWebKey as NodeJwk } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';

// ---------------------------------------------------------------------------------------------
// Minimal typings for the parts of oidc-provider this file and its users touch.

export interface OidcClient {
  readonly clientId: string;
  readonly clientAuthMethod: string;
  grantTypeAllowed(grantType: string): boolean;
}

export interface OidcGrant {
  readonly jti?: string;
  readonly accountId: string;
  readonly clientId: string;
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  getOIDCScope(): string;
  save(): Promise<string>;
  destroy(): Promise<void>;
}

interface OidcToken {
  readonly clientId?: string;
  readonly accountId?: string;
  readonly grantId?: string;
  readonly scope?: string;
  destroy(): Promise<void>;
}

interface TokenModel<T> {
  find(id: string): Promise<T | undefined>;
}

interface OidcSession {
  readonly accountId?: string;
  grantIdFor(clientId: string): string | undefined;
}

/** The oidc-provider instance (a Koa application). Only commonly useful members are typed. */
export interface Provider {
  readonly issuer: string;
  proxy: boolean;
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  on(event: 'server_error', listener: (ctx: unknown, err: Error) => void): this;
  on(event: 'backchannel.success', listener: (ctx: unknown, client: OidcClient, accountId: string, sid: string) => void): this;
  on(event: 'backchannel.error', listener: (ctx: unknown, err: Error, client: OidcClient, accountId: string, sid: string) => void): this;
  on(event: 'end_session.success', listener: (ctx: unknown) => void): this;
  // Other events (oidc-provider's docs/events.md): annotate the listener's parameters yourself.
  on(event: string, listener: (...args: never[]) => void): this;
  off(event: string, listener: (...args: never[]) => void): this;
  urlFor(name: string, opts?: Record<string, string>): string;
  readonly Client: TokenModel<OidcClient>;
  readonly Grant: TokenModel<OidcGrant> & (new (init: { accountId: string; clientId: string }) => OidcGrant);
  readonly Session: TokenModel<OidcSession>;
  readonly AccessToken: TokenModel<OidcToken>;
  readonly RefreshToken: TokenModel<OidcToken>;
  readonly AuthorizationCode: TokenModel<OidcToken>;
  /** Koa's: add middleware (takes effect only before callback(): see DevProviderOptions.middleware). */
  use(middleware: DevProviderMiddleware): this;
}

/** The slice of a request's Koa context that DevProviderOptions.middleware can read. */
export interface DevProviderRequestContext {
  req: IncomingMessage;
  /** The origin the request came to: the issuer's, or the mTLS alias port's. */
  origin: string;
  status: number;
  /** A request header ('' when absent). */
  get(header: string): string;
  /** oidc-provider's request state, once its own middleware ran (after `await next()`). */
  oidc?: {
    route?: string;
    client?: OidcClient;
    params?: Record<string, unknown>;
    body?: Record<string, unknown>;
  };
}

export type DevProviderMiddleware = (ctx: DevProviderRequestContext, next: () => Promise<void>) => Promise<void>;

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => Provider;

let providerConstructor: Promise<ProviderConstructor> | undefined;

// Imported lazily so its import-time warning can be filtered: oidc-provider 9 warns
// "Unsupported runtime" on Node 20 (it wants 22+), yet works there for this dev/test use.
function loadOidcProvider(): Promise<ProviderConstructor> {
  providerConstructor ??= withoutWarnings(
    // @ts-expect-error -- oidc-provider ships no type declarations (TS7016); the shapes used are declared above. If its types are ever installed, remove this line and the local declarations.
    () => import('oidc-provider') as Promise<{ default: unknown }>,
  ).then((m) => m.default as ProviderConstructor);
  return providerConstructor;
}

// The slice of oidc-provider's Koa context read by the configuration callbacks below.
interface OidcCtx {
  req: IncomingMessage;
  host: string;
  type: string;
  body: unknown;
  query: Record<string, string | string[] | undefined>;
  oidc: {
    provider: Provider;
    route: string;
    params: Record<string, string | undefined>;
    body?: Record<string, unknown>;
    entities: { PushedAuthorizationRequest?: { request?: string } };
    client?: OidcClient;
    account?: { accountId: string };
    session: OidcSession;
    result?: { consent?: { grantId?: string } };
    requestParamOIDCScopes: Set<string>;
    requestParamClaims: Set<string>;
  };
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Every client authentication method oidc-provider has (OIDC Core 9; RFC 8705 2.1, 2.2). */
export type DevProviderAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'client_secret_jwt'
  | 'private_key_jwt'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth'
  | 'none';

/** Client metadata (OpenID Connect Dynamic Client Registration 1.0 2; RFC 8705 2.1.2, 2.2.2, 3.4; RFC 9449 5.2; RFC 9126 6). */
export interface DevProviderClient {
  client_id: string;
  /** For client_secret_basic, client_secret_post and client_secret_jwt (and HS256 ID tokens); optional otherwise. */
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  /** Default client_secret_basic; private_key_jwt with `profile: 'fapi2'`. The mTLS methods need `tls.requestClientCert` or `tls.mtlsAliases`. */
  token_endpoint_auth_method?: DevProviderAuthMethod;
  /** The `alg` private_key_jwt / client_secret_jwt assertions must use. */
  token_endpoint_auth_signing_alg?: string;
  /** Public keys: private_key_jwt's, or the certificate (`x5c`) of self_signed_tls_client_auth. */
  jwks?: { keys: Array<Record<string, unknown>> };
  /** tls_client_auth: the certificate's subject DN, RFC 4514 form (`CN=rp,O=Example,C=DE`); or one of the SAN entries below. */
  tls_client_auth_subject_dn?: string;
  tls_client_auth_san_dns?: string;
  tls_client_auth_san_ip?: string;
  tls_client_auth_san_uri?: string;
  tls_client_auth_san_email?: string;
  /** RFC 8705 3: access tokens bound to the client certificate (needs mTLS on). */
  tls_client_certificate_bound_access_tokens?: boolean;
  /** RFC 9449 5.2: every token request must carry a DPoP proof. Default true with `profile: 'fapi2'` unless tokens are certificate-bound. */
  dpop_bound_access_tokens?: boolean;
  /** RFC 9126 6. (Always true with `profile: 'fapi2'` or `requirePushedAuthorizationRequests`.) */
  require_pushed_authorization_requests?: boolean;
  /** Default RS256; PS256 with `profile: 'fapi2'`. */
  id_token_signed_response_alg?: string;
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  /** Default ['authorization_code', 'refresh_token']. */
  grant_types?: string[];
}

/** HTTPS for the provider; with it, optionally, mutual TLS (RFC 8705). */
export interface DevProviderTls {
  /** PEM private key and certificate of the server; the certificate must name 127.0.0.1 (subjectAltName IP:127.0.0.1). */
  key: string | Buffer;
  cert: string | Buffer;
  /** PEM CA bundle: a client certificate issued by one of these is "authorized" (tls_client_auth, RFC 8705 2.1). */
  ca?: string | Buffer;
  /**
   * Ask for (never require, at the TLS layer) a client certificate on the issuer's own port, and
   * turn on oidc-provider's features.mTLS: tls_client_auth, self_signed_tls_client_auth and
   * certificate-bound access tokens. Whether a certificate is needed is oidc-provider's decision
   * per client, so browsers and clients without certificates still get through.
   */
  requestClientCert?: boolean;
  /**
   * A second HTTPS port that asks for client certificates, advertised as `mtls_endpoint_aliases`
   * (RFC 8705 5) for the token, revocation, introspection, userinfo and PAR endpoints; turns on
   * features.mTLS too. Default: `requestClientCert`. With `requestClientCert: false` only the
   * aliases see certificates, which proves a client uses them.
   */
  mtlsAliases?: boolean;
}

/** Loopback addresses only: the provider logs in anyone with any password, so it is never reachable from another machine. */
export const DEV_PROVIDER_HOSTS = ['127.0.0.1', 'localhost', '::1'] as const;
export type DevProviderHost = (typeof DEV_PROVIDER_HOSTS)[number];

export interface DevProviderOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** Where to listen, and the host the issuer names: one of DEV_PROVIDER_HOSTS, default 127.0.0.1. */
  host?: DevProviderHost;
  /** The claims of a login name not in `accounts`, made at its first login. Default `{ sub: login, preferred_username: login }`. */
  newAccount?: (login: string) => Record<string, unknown>;
  clients: DevProviderClient[];
  /** Seconds, default 300. */
  accessTokenTtl?: number;
  /** Seconds, default 300. */
  idTokenTtl?: number;
  /** Seconds, default 14 days. */
  refreshTokenTtl?: number;
  /** Default true: every refresh_token grant consumes the old refresh token and issues a new one. */
  rotateRefreshToken?: boolean;
  /** Default true: authorization requests without PKCE (S256) are rejected. (Always true with `profile: 'fapi2'`.) */
  pkceRequired?: boolean;
  /**
   * Default false: ID Tokens carry the scope claims (email, profile) even when an access token is
   * issued. true is the spec-strict behaviour where those claims are only served by userinfo.
   */
  conformIdTokenClaims?: boolean;
  /** Serve https://127.0.0.1:PORT instead of http (and mutual TLS, see DevProviderTls). */
  tls?: DevProviderTls;
  /** RFC 9126 5: refuse authorization requests that were not pushed first. Implied by `profile: 'fapi2'`. */
  requirePushedAuthorizationRequests?: boolean;
  /** RFC 9449 8: every DPoP proof must carry a server-provided nonce. Implied by `profile: 'fapi2'`. */
  dpopRequireNonce?: boolean;
  /**
   * 'fapi2': oidc-provider's FAPI 2.0 Security Profile, and what this file adds to it: PAR
   * required, DPoP with server nonces, PKCE S256, client authentication by private_key_jwt (or,
   * with mTLS on, tls_client_auth / self_signed_tls_client_auth) only, PS256/ES256/EdDSA only,
   * PS256 ID tokens and DPoP-bound access tokens by default. Refresh tokens still rotate unless
   * `rotateRefreshToken: false` (FAPI 2.0 discourages rotation; many providers do it anyway).
   * (RFC 9207 `iss` in authorization responses needs nothing: oidc-provider always sends it.)
   */
  profile?: 'fapi2';
  /**
   * Koa middleware around oidc-provider's own (its documented pre/post-processing hook), for tests
   * that observe each request: route, status, client, certificate of the connection.
   */
  middleware?: DevProviderMiddleware[];
}

export interface DevProvider {
  /** http://127.0.0.1:PORT, https with `tls`. */
  issuer: string;
  /** With mTLS aliases: https://127.0.0.1:PORT of the port that asks for client certificates (RFC 8705 5). */
  mtlsOrigin: string | undefined;
  provider: Provider;
  close(): Promise<void>;
  /**
   * Account claims by sub, live: tests may edit or add entries. A login name that is not here
   * logs in as a new account `{ sub: login, preferred_username: login }` (or `newAccount`'s),
   * added on first use.
   */
  accounts: Record<string, Record<string, unknown>>;
}

export function defaultAccounts(): Record<string, Record<string, unknown>> {
  return {
    alice: {
      sub: 'alice',
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Example',
      given_name: 'Alice',
      family_name: 'Example',
      preferred_username: 'alice',
    },
    bob: {
      sub: 'bob',
      email: 'bob@example.com',
      email_verified: true,
      name: 'Bob Example',
      given_name: 'Bob',
      family_name: 'Example',
      preferred_username: 'bob',
    },
  };
}

export async function startDevProvider(opts: DevProviderOptions): Promise<DevProvider> {
  const host = opts.host ?? '127.0.0.1';
  // Checked at run time too: JavaScript callers and casts get past the type.
  if (!(DEV_PROVIDER_HOSTS as readonly string[]).includes(host)) {
    throw new Error(`dev provider: refusing host ${host}: it logs in anyone, so it listens on loopback only (${DEV_PROVIDER_HOSTS.join(', ')})`);
  }
  const urlHost = host === '::1' ? '[::1]' : host;
  const tls = opts.tls;
  const mtlsAliases = tls?.mtlsAliases ?? tls?.requestClientCert ?? false;
  // Listen first: the issuer has to contain the real port, which is only known once bound.
  const server = tls ? httpsServer(tls, tls.requestClientCert ?? false) : createServer();
  // RFC 8705 5: the aliases live where client certificates are asked for, here another port.
  const aliasServer = tls && mtlsAliases ? httpsServer(tls, true) : undefined;
  const servers = aliasServer ? [server, aliasServer] : [server];
  try {
    const [port, aliasPort] = await Promise.all([listen(server, opts.port ?? 0, host), aliasServer && listen(aliasServer, 0, host)]);
    const issuer = `${tls ? 'https' : 'http'}://${urlHost}:${port}`;
    const mtlsOrigin = aliasPort === undefined ? undefined : `https://${urlHost}:${aliasPort}`;

    const accounts = defaultAccounts();
    const [OidcProvider, jwks] = await Promise.all([loadOidcProvider(), generateJwks()]);
    const provider = createProvider(OidcProvider, issuer, port, opts, accounts, jwks, mtlsOrigin);

    // Static clients are validated lazily by oidc-provider; look each up now so a bad client
    // configuration fails startDevProvider instead of the first authorization request.
    for (const c of opts.clients) {
      await provider.Client.find(c.client_id);
    }

    // Koa composes its middleware in callback(): added later, it would never run.
    for (const mw of opts.middleware ?? []) provider.use(mw);
    const handler: RequestListener = provider.callback();
    for (const s of servers) s.on('request', handler);

    return {
      issuer,
      mtlsOrigin,
      provider,
      accounts,
      close: () => Promise.all(servers.map(closeServer)).then(() => undefined),
    };
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
}

/**
 * An HTTPS server for `tls`. `askForCertificate`: request a client certificate in the handshake
 * without requiring one or rejecting an unverified one (a self-signed certificate is how
 * self_signed_tls_client_auth works, RFC 8705 2.2); features.mTLS decides what it is worth.
 */
function httpsServer(tls: DevProviderTls, askForCertificate: boolean): Server {
  return createHttpsServer({
    key: tls.key,
    cert: tls.cert,
    ...(tls.ca !== undefined && { ca: tls.ca }),
    requestCert: askForCertificate,
    rejectUnauthorized: false,
  });
}

function listen(server: Server, port: number, host: DevProviderHost): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // Keep-alive connections from RPs (undici pools) would otherwise hold close() open.
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------

/** The routes of the endpoints that have mTLS aliases (oidc-provider's defaults, set explicitly so the aliases can name them). */
const ALIASED_ROUTES = {
  token: '/token',
  revocation: '/token/revocation',
  introspection: '/token/introspection',
  userinfo: '/me',
  pushed_authorization_request: '/request',
} as const;

/** Algorithms FAPI 2.0 allows (Security Profile 5.4: PS256, ES256, EdDSA with Ed25519). */
const FAPI2_ALGS = ['PS256', 'ES256', 'Ed25519', 'EdDSA'];

function createProvider(
  OidcProvider: ProviderConstructor,
  issuer: string,
  port: number,
  opts: DevProviderOptions,
  accounts: Record<string, Record<string, unknown>>,
  jwks: { keys: NodeJwk[] },
  mtlsOrigin: string | undefined,
): Provider {
  const accessTokenTtl = opts.accessTokenTtl ?? 300;
  const idTokenTtl = opts.idTokenTtl ?? 300;
  const refreshTokenTtl = opts.refreshTokenTtl ?? 14 * 24 * 60 * 60;
  const rotate = opts.rotateRefreshToken ?? true;
  const fapi2 = opts.profile === 'fapi2';
  // FAPI 2.0 Security Profile 5.3: PKCE with S256 (oidc-provider's FAPI 2.0 profile insists too).
  const pkceRequired = fapi2 || (opts.pkceRequired ?? true);
  const mtls = opts.tls !== undefined && (opts.tls.requestClientCert === true || mtlsOrigin !== undefined);
  const requirePar = fapi2 || (opts.requirePushedAuthorizationRequests ?? false);
  const dpopNonce = fapi2 || (opts.dpopRequireNonce ?? false);

  const clients = opts.clients.map((c) => {
    const method = c.token_endpoint_auth_method ?? (fapi2 ? 'private_key_jwt' : 'client_secret_basic');
    return dropUndefined({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris,
      token_endpoint_auth_method: method,
      token_endpoint_auth_signing_alg: c.token_endpoint_auth_signing_alg,
      jwks: c.jwks,
      tls_client_auth_subject_dn: c.tls_client_auth_subject_dn,
      tls_client_auth_san_dns: c.tls_client_auth_san_dns,
      tls_client_auth_san_ip: c.tls_client_auth_san_ip,
      tls_client_auth_san_uri: c.tls_client_auth_san_uri,
      tls_client_auth_san_email: c.tls_client_auth_san_email,
      tls_client_certificate_bound_access_tokens: c.tls_client_certificate_bound_access_tokens,
      // FAPI 2.0 Security Profile 5.3: only sender-constrained access tokens; DPoP unless the
      // client's tokens are bound to its certificate (RFC 8705 3) instead.
      dpop_bound_access_tokens: c.dpop_bound_access_tokens ?? (fapi2 && c.tls_client_certificate_bound_access_tokens !== true ? true : undefined),
      require_pushed_authorization_requests: c.require_pushed_authorization_requests,
      id_token_signed_response_alg: c.id_token_signed_response_alg ?? (fapi2 ? 'PS256' : undefined),
      backchannel_logout_uri: c.backchannel_logout_uri,
      backchannel_logout_session_required: c.backchannel_logout_session_required,
      grant_types: c.grant_types ?? ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // 'web' (the default) accepts http:// redirect URIs on any host for the code flow; only
      // implicit-flow web clients are held to https. No special setting needed for 127.0.0.1.
      application_type: 'web',
    });
  });

  const mtlsMethods = mtls ? ['tls_client_auth', 'self_signed_tls_client_auth'] : [];
  // FAPI 2.0 Security Profile 5.3: confidential clients only, authenticated by mTLS or private_key_jwt.
  const clientAuthMethods = fapi2
    ? ['private_key_jwt', ...mtlsMethods]
    : ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none', ...mtlsMethods];

  const configuration: Record<string, unknown> = {
    clients,
    jwks,
    adapter: createMemoryAdapter(),
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Cookies are scoped by host, not port: a browser talking to two dev providers (or an RP
      // using the same names) on 127.0.0.1 would mix them up, so make the names port-specific.
      names: {
        session: `_op${port}_session`,
        interaction: `_op${port}_interaction`,
        resume: `_op${port}_resume`,
      },
    },
    findAccount: (_ctx: unknown, sub: string) => {
      // Unknown login names become accounts on first use: the dev login form accepts anything.
      accounts[sub] ??= opts.newAccount?.(sub) ?? { sub, preferred_username: sub };
      return {
        accountId: sub,
        claims: async () => ({ ...accounts[sub], sub }),
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture', 'updated_at', 'locale'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    conformIdTokenClaims: opts.conformIdTokenClaims ?? false,
    clientAuthMethods,
    routes: ALIASED_ROUTES,
    // RFC 8705 5. oidc-provider does not publish aliases itself; extra discovery metadata does.
    ...(mtlsOrigin !== undefined && {
      discovery: {
        mtls_endpoint_aliases: {
          token_endpoint: `${mtlsOrigin}${ALIASED_ROUTES.token}`,
          revocation_endpoint: `${mtlsOrigin}${ALIASED_ROUTES.revocation}`,
          introspection_endpoint: `${mtlsOrigin}${ALIASED_ROUTES.introspection}`,
          userinfo_endpoint: `${mtlsOrigin}${ALIASED_ROUTES.userinfo}`,
          pushed_authorization_request_endpoint: `${mtlsOrigin}${ALIASED_ROUTES.pushed_authorization_request}`,
        },
      },
    }),
    features: {
      devInteractions: { enabled: true },
      // RFC 9126. Enabled by default in oidc-provider; required here on demand.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: requirePar },
      // RFC 9449. Enabled by default; nonces (section 8) need a secret for the server's nonce values.
      dPoP: dpopNonce ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true } : { enabled: true },
      ...(fapi2 && { fapi: { enabled: true, profile: '2.0' } }),
      ...(mtls && {
        mTLS: {
          enabled: true,
          certificateBoundAccessTokens: true,
          tlsClientAuth: true,
          selfSignedTlsClientAuth: true,
          getCertificate: peerCertificate,
          // RFC 8705 2.1: tls_client_auth trusts a certificate that chains to a configured CA (tls.ca).
          certificateAuthorized: (ctx: OidcCtx) => ctx.req.socket instanceof TLSSocket && ctx.req.socket.authorized,
          certificateSubjectMatches,
        },
      }),
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx: unknown, client: OidcClient, token: OidcToken) => token.clientId === client.clientId,
      },
      introspection: { enabled: true, allowedPolicy: async () => true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      backchannelLogout: { enabled: true },
      claimsParameter: { enabled: false },
    },
    pkce: { required: () => pkceRequired },
    // oidc-provider drops offline_access from every authorization request whose prompt lacks
    // 'consent' (actions/authorization/scopes.js). Extra-parameter validators run for every
    // request right after that check, so this one puts it back; auto-consent below grants it.
    extraParams: { [OFFLINE_ACCESS_HOOK]: restoreOfflineAccess },
    // Auto-consent: give the session's grant every scope and claim the request asks for, so the
    // consent prompt never finds anything missing and a login needs only the login form.
    loadExistingGrant: autoGrant,
    // oidc-provider only issues refresh tokens for offline_access by default; the demo wants
    // them for any client allowed the refresh_token grant.
    issueRefreshToken: async (_ctx: unknown, client: OidcClient) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => rotate,
    ttl: {
      AccessToken: accessTokenTtl,
      IdToken: idTokenTtl,
      RefreshToken: refreshTokenTtl,
      AuthorizationCode: 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
    },
    enabledJWA: fapi2
      ? { idTokenSigningAlgValues: FAPI2_ALGS, clientAuthSigningAlgValues: FAPI2_ALGS, dPoPSigningAlgValues: FAPI2_ALGS }
      : {
          // HS256 lets tests exercise client_secret-signed ID tokens too.
          idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519', 'HS256'],
        },
    // oidc-provider's outgoing fetch (backchannel logout) refuses loopback and private addresses
    // as SSRF protection; the RPs here live on 127.0.0.1, so drop that dispatcher.
    fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _ssrfGuard, ...rest } = init;
      return fetch(url, rest);
    },
    clientBasedCORS: () => false,
    renderError,
  };

  return withoutWarnings(() => new OidcProvider(issuer, configuration));
}

// ---------------------------------------------------------------------------------------------
// Mutual TLS (features.mTLS): the certificate the client presented in this connection's handshake.

function peerCertificate(ctx: OidcCtx): X509Certificate | undefined {
  const socket = ctx.req.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  // An empty object when the client sent no certificate.
  const { raw } = socket.getPeerCertificate();
  return raw ? new X509Certificate(raw) : undefined;
}

/**
 * RFC 4514 string of a subject as node:crypto prints it (one `type=value` per line, first RDN
 * first, values already escaped as RFC 4514 2.4 says): reversed and comma separated, as
 * `tls_client_auth_subject_dn` is registered (RFC 8705 2.1.2). Multi-valued RDNs are not handled:
 * enough for test certificates.
 */
function rfc4514(subject: string): string {
  return subject.split('\n').reverse().join(',');
}

/** RFC 8705 2.1.2: the registered subject DN or SAN entry against the presented certificate. */
function certificateSubjectMatches(ctx: OidcCtx, property: string, expected: string): boolean {
  const cert = peerCertificate(ctx);
  if (!cert) return false;
  if (property === 'tls_client_auth_subject_dn') return rfc4514(cert.subject) === expected;
  const prefix = {
    tls_client_auth_san_dns: 'DNS:',
    tls_client_auth_san_ip: 'IP Address:',
    tls_client_auth_san_uri: 'URI:',
    tls_client_auth_san_email: 'email:',
  }[property];
  return prefix !== undefined && (cert.subjectAltName?.split(', ') ?? []).includes(`${prefix}${expected}`);
}

// Not a real parameter: registering it is how restoreOfflineAccess gets called.
const OFFLINE_ACCESS_HOOK = 'x_dev_restore_offline_access';

async function restoreOfflineAccess(ctx: OidcCtx): Promise<void> {
  const { oidc } = ctx;
  if (oidc.route !== 'authorization' && oidc.route !== 'pushed_authorization_request') return;
  const scope = oidc.params.scope?.split(' ') ?? [];
  if (scope.includes('offline_access')) return;
  // The rest of oidc-provider's rule stands: only code flows of clients allowed refresh tokens.
  if (!oidc.params.response_type?.split(' ').includes('code')) return;
  if (!oidc.client?.grantTypeAllowed('refresh_token')) return;
  if (!requestedScope(ctx)?.split(' ').includes('offline_access')) return;
  oidc.params.scope = [...scope, 'offline_access'].join(' ');
}

// The scope as the client sent it, before oidc-provider filtered it: from a pushed request's
// stored request object, the POST body, or the query string.
function requestedScope(ctx: OidcCtx): string | undefined {
  const pushed = ctx.oidc.entities.PushedAuthorizationRequest?.request;
  if (typeof pushed === 'string') {
    try {
      const payload = JSON.parse(Buffer.from(pushed.split('.')[1] ?? '', 'base64url').toString('utf8')) as { scope?: unknown };
      if (typeof payload.scope === 'string') return payload.scope;
    } catch {
      // not a decodable JWT: fall through
    }
  }
  const fromBody = ctx.oidc.body?.scope;
  if (typeof fromBody === 'string') return fromBody;
  const fromQuery = ctx.query.scope;
  return typeof fromQuery === 'string' ? fromQuery : undefined;
}

async function autoGrant(ctx: OidcCtx): Promise<OidcGrant | undefined> {
  const { oidc } = ctx;
  if (!oidc.account || !oidc.client) return undefined;
  const accountId = oidc.account.accountId;
  const clientId = oidc.client.clientId;

  const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (grant && (grant.accountId !== accountId || grant.clientId !== clientId)) grant = undefined;
  grant ??= new oidc.provider.Grant({ accountId, clientId });

  const scope = [...oidc.requestParamOIDCScopes].join(' ');
  if (scope) grant.addOIDCScope(scope);
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

// The logout confirmation page submits itself ("yes, sign me out of the provider"), so an RP's
// logout redirect completes without a click in browsers; scripts post the form themselves.
async function logoutSource(ctx: OidcCtx, form: string): Promise<void> {
  const autoForm = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing out</title></head>
<body>
  <h1>Signing out of ${escapeHtml(ctx.host)}</h1>
  ${autoForm}
  <noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript>
  <script>document.getElementById('op.logoutForm').submit()</script>
</body></html>`;
}

async function postLogoutSuccessSource(ctx: OidcCtx): Promise<void> {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1>Signed out</h1><p>You have been signed out of the development provider.</p></body></html>`;
}

async function renderError(ctx: OidcCtx, out: Record<string, string>): Promise<void> {
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([key, value]) => `<pre class="oidc-error" data-key="${escapeHtml(key)}"><strong>${escapeHtml(key)}</strong>: ${escapeHtml(String(value))}</pre>`)
    .join('\n');
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>OpenID Provider error</title></head>
<body><h1>OpenID Provider error</h1>
${rows}
</body></html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function dropUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Warnings oidc-provider prints about choices this file makes on purpose: the devInteractions
// "development-only feature" notice (from inside the Provider constructor) and the Node.js
// version notice (at import).
const EXPECTED_WARNINGS = ['devInteractions', 'Unsupported runtime'];

function filterWarn(original: typeof console.warn): typeof console.warn {
  return (...args: unknown[]) => {
    const first = args[0];
    if (typeof first === 'string' && first.startsWith('oidc-provider WARNING') && EXPECTED_WARNINGS.some((w) => first.includes(w))) return;
    original.apply(console, args);
  };
}

function withoutWarnings<T>(fn: () => Promise<T>): Promise<T>;
function withoutWarnings<T>(fn: () => T): T;
function withoutWarnings<T>(fn: () => T | Promise<T>): T | Promise<T> {
  const original = console.warn;
  console.warn = filterWarn(original);
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (err) {
    console.warn = original;
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => (console.warn = original));
  console.warn = original;
  return result;
}

const generateKeyPairAsync = promisify(generateKeyPair);

// Fresh signing keys per start (RSA for RS256/PS256, P-256 for ES256, Ed25519 for EdDSA).
async function generateJwks(): Promise<{ keys: NodeJwk[] }> {
  const [rsa, ec, ed] = await Promise.all([
    generateKeyPairAsync('rsa', { modulusLength: 2048 }),
    generateKeyPairAsync('ec', { namedCurve: 'P-256' }),
    generateKeyPairAsync('ed25519'),
  ]);
  return {
    keys: [rsa, ec, ed].map(({ privateKey }) => ({ ...privateKey.export({ format: 'jwk' }), use: 'sig' })),
  };
}

// ---------------------------------------------------------------------------------------------
// A per-instance in-memory adapter. oidc-provider's built-in one warns on every start and is an
// LRU capped at 1000 entries, which a long test file or benchmark can overflow (evicting live
// sessions and grants mid-test).

interface StoredPayload extends Record<string, unknown> {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
}

function createMemoryAdapter(): (model: string) => MemoryAdapter {
  const store = new Map<string, { payload: StoredPayload; expiresAt: number }>();
  const grants = new Map<string, Set<string>>();
  return (model) => new MemoryAdapter(model, store, grants);
}

class MemoryAdapter {
  private writes = 0;

  constructor(
    private readonly model: string,
    private readonly store: Map<string, { payload: StoredPayload; expiresAt: number }>,
    private readonly grants: Map<string, Set<string>>,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  private get(key: string): StoredPayload | undefined {
    const entry = this.store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.store) if (entry.expiresAt <= now) this.store.delete(key);
    for (const [grantId, keys] of this.grants) {
      for (const key of keys) if (!this.store.has(key)) keys.delete(key);
      if (keys.size === 0) this.grants.delete(grantId);
    }
  }

  async upsert(id: string, payload: StoredPayload, expiresIn?: number): Promise<void> {
    if (++this.writes % 500 === 0) this.sweep();
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
    this.store.set(key, { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) this.store.set(`sessionUid:${payload.uid}`, { payload: { id }, expiresAt });
    if (payload.userCode) this.store.set(`userCode:${payload.userCode}`, { payload: { id }, expiresAt });
    if (payload.grantId) {
      let keys = this.grants.get(payload.grantId);
      if (!keys) {
        keys = new Set();
        this.grants.set(payload.grantId, keys);
      }
      keys.add(key);
    }
  }

  async find(id: string): Promise<StoredPayload | undefined> {
    return this.get(this.key(id));
  }

  async findByUid(uid: string): Promise<StoredPayload | undefined> {
    const ref = this.get(`sessionUid:${uid}`);
    return typeof ref?.id === 'string' ? this.find(ref.id) : undefined;
  }

  async findByUserCode(userCode: string): Promise<StoredPayload | undefined> {
    const ref = this.get(`userCode:${userCode}`);
    return typeof ref?.id === 'string' ? this.find(ref.id) : undefined;
  }

  async consume(id: string): Promise<void> {
    const payload = this.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const keys = this.grants.get(grantId);
    if (!keys) return;
    for (const key of keys) this.store.delete(key);
    this.grants.delete(grantId);
  }
}
