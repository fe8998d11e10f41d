/**
 * Keys that are no option: a typo, an env var name, a hook at the top level, or an option of
 * express-openid-connect. Each is refused with what was probably meant, rather than ignored: a
 * migrated configuration would otherwise start and silently do nothing (authRequired: true
 * protecting no route at all).
 */
import type { OidcAuthOptions } from '../types.js';
import {
  CODE_ONLY_NAMES,
  HOOK_NAMES,
  OPTION_NAMES,
  OPTION_SPECS,
  ROUTE_NAMES,
  TOP_LEVEL_OPTIONS,
  isHookName,
  ref,
  type OptionName,
  type OptionSpec,
} from './options.js';
import { isPlainObject } from './validators.js';

/** Top-level keys besides the table's: the code-only options, and routes (the routes.* options). */
const OTHER_KEYS = [...CODE_ONLY_NAMES, 'routes'] as const;
const ENV_TO_OPTION = new Map(OPTION_NAMES.map((n) => [(OPTION_SPECS[n] as OptionSpec).env, n]));

/** express-openid-connect's options, and what to do instead. */
const EOC_HINTS = new Map<string, string>([
  [
    'authRequired',
    'nothing is protected by default here: add oidc.requireAuth() to the routes to protect, or app.use(oidc.requireAuth()) after oidc.router to protect every route',
  ],
  ['idpLogout', `use ${ref('providerLogout')}, on by default`],
  ['auth0Logout', `use ${ref('providerLogout')}, on by default; set ${ref('endSessionEndpoint')} if the tenant's discovery has no end_session_endpoint`],
  ['afterCallback', 'shape the user with hooks: { createUser, updateUser } (and hooks.verifyClaims to refuse a login); the tokens are kept by the library'],
  [
    'authorizationParams',
    `give the scope as ${ref('scopes')} and other parameters (audience, prompt...) as ${ref('authRequestExtraParams')}; response_type is always code`,
  ],
  ['issuerBaseURL', `use ${ref('issuer')}`],
  ['clientID', `use ${ref('clientId')}`],
  ['baseURL', `use ${ref('baseUrl')}`],
  ['secret', 'the session belongs to express-session here: give the secret to session({ secret })'],
  ['session', 'the session belongs to express-session here: set its store, cookie, rolling and maxAge in session({ ... })'],
  [
    'attemptSilentLogin',
    `there is no silent login for anonymous visitors; signed-in sessions without a refresh token are re-checked with prompt=none after ${ref('renewIdTokenExpirySeconds')}`,
  ],
  ['idTokenSigningAlg', `use ${ref('signAlgo')}`],
  ['clockTolerance', `use ${ref('clockToleranceSeconds')}`],
  ['httpTimeout', `use ${ref('timeout')}, in seconds (httpTimeout was in milliseconds)`],
  ['httpAgent', `use ${ref('proxy')} and ${ref('verifySsl')}`],
  ['errorOnRequiredAuth', 'not needed: requireAuth() answers 401 to JSON and XHR requests and redirects page requests to login'],
  ['getLoginState', 'link to the login route with ?next=/path: the browser comes back there after login'],
  ['identityClaimFilter', 'req.oidc.claims keeps every claim; shape req.user with hooks: { createUser, updateUser }'],
  ['transactionCookie', 'the login state is kept in the express-session session, with no cookie of its own'],
  ['legacySameSiteCookie', 'the login state is kept in the express-session session, with no cookie of its own'],
  ['enableTelemetry', 'there is no telemetry; remove it'],
  ['postLogoutRedirect', `use ${ref('logoutRedirectUrl')} (a top-level option)`],
  ['logoutParams', 'add parameters to the end-session URL in hooks.getLogoutUrl (it receives endSessionUrl)'],
  ['customFetch', `use ${ref('proxy')}, ${ref('caCertificates')}, ${ref('clientCertificate')} / ${ref('clientKey')}`],
  ['useMtls', `use ${ref('clientAuthMethod')} tls_client_auth with ${ref('clientCertificate')} and ${ref('clientKey')}`],
  ['tokenEndpointParams', 'not supported'],
  ['discoveryCacheMaxAge', 'not supported: discovery is fetched once per process and again after a failure'],
  ['httpUserAgent', 'not supported'],
  ['requestObjectSigningKey', 'signed request objects (RFC 9101) are not supported'],
  ['requestObjectSigningAlg', 'signed request objects (RFC 9101) are not supported'],
  ['requestObjectSigningKeyId', 'signed request objects (RFC 9101) are not supported'],
]);

/** The rest of an unknown-key message for an express-openid-connect option, else undefined. */
function eocHint(key: string): string | undefined {
  const hint = EOC_HINTS.get(key);
  return hint && ` (express-openid-connect): ${hint}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** What a typo most likely meant: case-insensitive, within a third of its length (at least 2 edits). */
function closest<T extends string>(key: string, candidates: readonly T[]): T | undefined {
  let best: T | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(key.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** The rest of the message for a top-level key that is no option: what was probably meant. */
function unknownOptionHint(key: string, value: unknown): string {
  const eoc = eocHint(key);
  if (eoc) return eoc;
  if (isHookName(key)) return `: hooks go under hooks: { ${key} }`;
  const fromEnv = ENV_TO_OPTION.get(key);
  if (fromEnv) return `: that is the environment variable of option ${ref(fromEnv)}; set it in the environment, or pass the option`;
  if (key.startsWith('routes.') && (ROUTE_NAMES as readonly string[]).includes(key.slice('routes.'.length))) {
    return `: routes go under routes: { ${key.slice('routes.'.length)}: ... }`;
  }
  const guess = closest(key, [...TOP_LEVEL_OPTIONS, ...OTHER_KEYS, ...HOOK_NAMES]);
  if (guess === undefined) return ': express-oidc-rp has no such option (see README "Options")';
  if (isHookName(guess) && (typeof value === 'function' || !(TOP_LEVEL_OPTIONS as string[]).includes(guess))) return `: did you mean hooks: { ${guess} }?`;
  return `: did you mean ${guess in OPTION_SPECS ? ref(guess as OptionName) : `"${guess}"`}?`;
}

/** Keys that are no option at the top level, under routes or under hooks; the shapes of hooks and routes. */
export function optionKeyProblems(options: OidcAuthOptions): string[] {
  const problems: string[] = [];
  const known = new Set<string>([...TOP_LEVEL_OPTIONS, ...OTHER_KEYS]);
  for (const [key, value] of Object.entries(options)) {
    if (!known.has(key)) problems.push(`unknown option "${key}"${unknownOptionHint(key, value)}`);
  }
  const { routes, hooks } = options as Record<string, unknown>;
  if (routes !== undefined) {
    if (!isPlainObject(routes)) problems.push('option "routes" must be an object of paths, e.g. { callback: "/auth/callback" }');
    else {
      for (const key of Object.keys(routes)) {
        if ((ROUTE_NAMES as readonly string[]).includes(key)) continue;
        const guess = closest(key, ROUTE_NAMES);
        const hint = eocHint(key) ?? (guess ? `: did you mean ${ref(`routes.${guess}`)}?` : `: the routes are ${ROUTE_NAMES.join(', ')}`);
        problems.push(`unknown option "routes.${key}"${hint}`);
      }
    }
  }
  if (hooks !== undefined) {
    if (!isPlainObject(hooks)) problems.push('option "hooks" must be an object of functions, e.g. { createUser: async (claims) => ... }');
    else {
      for (const [key, fn] of Object.entries(hooks)) {
        if (!isHookName(key)) {
          const guess = closest(key, HOOK_NAMES);
          const hint = eocHint(key) ?? (guess ? `: did you mean "${guess}"?` : `: the hooks are ${HOOK_NAMES.join(', ')}`);
          problems.push(`unknown hook "hooks.${key}"${hint}`);
        } else if (fn !== undefined && typeof fn !== 'function') {
          const option = key in OPTION_SPECS ? `; the on/off switch is option ${ref(key as OptionName)}` : '';
          problems.push(`hook "hooks.${key}" must be a function${option}`);
        }
      }
    }
  }
  return problems;
}
