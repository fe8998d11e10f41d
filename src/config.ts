/**
 * Options + environment variables, validated once at `createOidcAuth()`.
 *
 * One table (src/config/options.ts) describes every option once: env var, kind of value, default,
 * checks, and the line README's options table shows. Parsing, defaults, error messages, the known
 * option keys and the resolved type all come from it, so every option has exactly one env var,
 * every error names both, and an unknown key (a typo, an express-openid-connect option) is refused
 * rather than ignored. Checks that involve several options, and the discovery decision, are here.
 *
 * Sits at the bottom of the import graph with types.ts and errors.ts: it imports nothing from
 * keys/, store/, http/, protocol/ or above.
 */
import { debuglog } from 'node:util';
import { OidcError } from './errors.js';
import { isMultiTenantIssuer } from './issuer-forms.js';
import type { OidcAuthOptions, OidcHooks, OidcLogger, RedisClientLike } from './types.js';
import { discoveryPlan, missingWithoutDiscovery, type DiscoveryPlan } from './config/discovery-plan.js';
import {
  CODE_ONLY_NAMES,
  CODE_ONLY_OPTIONS,
  ROUTE_NAMES,
  ref,
  type CodeOnlySpec,
  type ConfigFromOptions,
  type OptionName,
  type RouteName,
} from './config/options.js';
import { placeOptions, readOptions } from './config/read.js';
import { optionKeyProblems } from './config/unknown-keys.js';
import { keyPairProblem } from './config/validators.js';
import { MTLS_METHODS } from './client-auth-methods.js';
import { resolveSecurity, type SecuritySettings } from './config/security-profile.js';

export { ROUTE_NAMES } from './config/options.js';
/** How messages name an option: `"issuer" (env OIDC_OP_ISSUER)` (from the option table). */
export { ref as optionRef } from './config/options.js';

/**
 * The resolved configuration: every option of the table, placed as its entry says
 * (`config.endpoints.token`, `config.bearer.audience`, `config.routes.login`, `config.timeoutMs`),
 * plus what is derived from several options, and the code-only options.
 */
export interface ResolvedConfig extends ConfigFromOptions {
  /** baseUrl + routes.callback: the redirect_uri registered at the provider. */
  redirectUri: string;
  /** Whether the discovery document is fetched, and from where. */
  discovery: DiscoveryPlan;
  /** Client authentication, PAR, DPoP and the FAPI 2.0 profile, decided together (config/security-profile.ts). */
  security: SecuritySettings;
  redis: RedisClientLike | undefined;
  hooks: OidcHooks;
  logger: OidcLogger;
}

/** The one error of an invalid configuration: every problem, in the message and as err.problems. */
function configInvalid(problems: string[]): OidcError {
  const message =
    problems.length === 1
      ? `express-oidc-rp: ${problems[0]}`
      : `express-oidc-rp: ${problems.length} invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
  return new OidcError('OIDC_CONFIG_INVALID', message, { problems });
}

function defaultLogger(): OidcLogger {
  // Debug output via NODE_DEBUG=express-oidc-rp, warnings always: a failed login must say why.
  const debug = debuglog('express-oidc-rp');
  const fmt = (m: string, meta?: Record<string, unknown>) => (meta ? `${m} ${JSON.stringify(meta)}` : m);
  return {
    debug: (m, meta) => debug(fmt(m, meta)),
    info: (m, meta) => debug(fmt(m, meta)),
    warn: (m, meta) => console.warn(`[express-oidc-rp] ${fmt(m, meta)}`),
    error: (m, meta) => console.error(`[express-oidc-rp] ${fmt(m, meta)}`),
  };
}

/** Problems of the code-only options (their own checks: the Redis client, the logger). */
function codeOnlyProblems(options: OidcAuthOptions): string[] {
  const problems: string[] = [];
  for (const name of CODE_ONLY_NAMES) {
    const value: unknown = options[name];
    const spec: CodeOnlySpec = CODE_ONLY_OPTIONS[name];
    const problem = value === undefined ? undefined : spec.check?.(value);
    if (problem) problems.push(`option ${ref(name)} ${problem}`);
  }
  return problems;
}

/**
 * Merge options over env vars over defaults, validate, and return the resolved configuration.
 * Every invalid setting is collected; then one OidcError('OIDC_CONFIG_INVALID') lists them all
 * (in its message and `problems`), each naming the option and its env var.
 */
export function resolveConfig(options: OidcAuthOptions = {}): ResolvedConfig {
  const problems = [...optionKeyProblems(options), ...codeOnlyProblems(options)];
  const report = (name: OptionName, problem: string) => {
    problems.push(`option ${ref(name)} ${problem}`);
  };
  const { values, given } = readOptions(options, options.env ?? process.env, report);

  // The document's issuer must equal the configured one (OIDC Discovery 4.3), so there must be one.
  // Tenants only narrow a multi-tenant issuer; with any other issuer the list would silently do nothing.
  if ((values.allowedTenants?.length ?? 0) > 0 && !(typeof values.issuer === 'string' && isMultiTenantIssuer(values.issuer))) {
    report(
      'allowedTenants',
      `applies only to a Microsoft Entra multi-tenant ${ref('issuer')} (https://login.microsoftonline.com/common/v2.0 or organizations)`,
    );
  }
  if (given('discoveryUrl') && !given('issuer')) report('discoveryUrl', `needs ${ref('issuer')}: the document's issuer must equal it`);
  if (values.signAlgo === 'none' && values.allowUnsecuredJwt === false) report('signAlgo', `"none" also needs ${ref('allowUnsecuredJwt')}`);
  // Mutual TLS (RFC 8705): the handshake presents the certificate and proves possession of its key,
  // so neither is any use alone, and the key must be the certificate's.
  if (given('clientCertificate') !== given('clientKey')) {
    const [missing, present] = given('clientCertificate') ? (['clientKey', 'clientCertificate'] as const) : (['clientCertificate', 'clientKey'] as const);
    report(missing, `is required with ${ref(present)}`);
  } else if (values.clientCertificate !== undefined && values.clientKey !== undefined) {
    const problem = keyPairProblem(values.clientCertificate, values.clientKey, ref('clientCertificate'));
    if (problem) report('clientKey', problem);
  }
  // RFC 8705 2.1, 2.2: these methods authenticate with the certificate alone; without one the
  // provider would refuse every token request.
  const method = values.clientAuthMethod;
  if (method !== undefined && MTLS_METHODS.includes(method) && !given('clientCertificate')) {
    report('clientCertificate', `is required for ${ref('clientAuthMethod')} ${method}`);
  }
  // Without discovery, the endpoints of the code flow and a key source must be given, as in
  // mozilla-django-oidc. Judged on what was given, so an invalid value is reported once, as itself.
  if (!given('issuer')) {
    for (const name of missingWithoutDiscovery(given, values.signAlgo)) {
      if (name === 'jwksUri')
        report('jwksUri', `or ${ref('idpSignKey')} is required to verify ID tokens without discovery (or pin an HS* algorithm with signAlgo)`);
      else report(name, `is required when ${ref('issuer')} is not set`);
    }
  }
  // Two routes on one path: one handler would shadow the other (a callback equal to the login
  // route starts a new login instead of finishing one). Compared as oidc.router matches: ignoring case.
  const seen = new Map<string, RouteName>();
  for (const r of ROUTE_NAMES) {
    const path = values[`routes.${r}`];
    if (path === undefined) continue;
    const first = seen.get(path.toLowerCase());
    if (first) problems.push(`options ${ref(`routes.${first}`)} and ${ref(`routes.${r}`)} are the same path "${path}"; each route needs its own`);
    else seen.set(path.toLowerCase(), r);
  }
  const security = resolveSecurity(values, given, report);
  if (values.dpopNonce === true && !given('dpopNonceSecret') && !given('clientSecret')) {
    report('dpopNonce', `needs ${ref('dpopNonceSecret')}: without a client secret there is nothing to derive the nonces from`);
  }
  if (problems.length > 0) throw configInvalid(problems);

  const placed = placeOptions(values);
  return {
    ...placed,
    redirectUri: placed.baseUrl + placed.routes.callback,
    discovery: discoveryPlan(placed),
    security,
    redis: options.redis,
    hooks: options.hooks ?? {},
    logger: options.logger ?? defaultLogger(),
  };
}
