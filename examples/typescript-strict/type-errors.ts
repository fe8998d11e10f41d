/**
 * What the settings of tsconfig.json refuse, each marked `@ts-expect-error`: `tsc -p
 * examples/typescript-strict` fails if one of these lines ever compiles, so the package's types
 * keep catching these mistakes. Type-checked only, never run.
 */
import type { Request } from 'express';
import { createOidcAuth, type OidcHooks } from 'express-oidc-rp';

export function refusedOptions(): void {
  // @ts-expect-error an option that does not exist (at run time too: OIDC_CONFIG_INVALID names the likely one, clientSecret)
  createOidcAuth({ clientSecrets: 'typo' });
  // @ts-expect-error scopes are strings
  createOidcAuth({ scopes: [42] });
  // @ts-expect-error bearerDpop is one of 'allowed' | 'required' | 'off'
  createOidcAuth({ bearerDpop: 'sometimes' });
}

export const refusedHooks: OidcHooks = {
  // @ts-expect-error a user must be the app's Express.User (app.ts): this one lacks email and displayName
  createUser: (claims) => ({ sub: claims.sub }),
  // @ts-expect-error a standard claim is optional (`string | undefined`), the user's email is `string | null`
  updateUser: (user, claims) => ({ ...user, email: claims.email }),
  // @ts-expect-error verifyClaims answers a boolean, not a claim
  verifyClaims: (claims) => claims.email_verified,
};

export function refusedRequestUse(req: Request): string[] {
  return [
    // @ts-expect-error req.user is undefined on an anonymous request
    req.user.displayName,
    // @ts-expect-error so are the claims
    req.oidc.claims.sub,
    // @ts-expect-error noPropertyAccessFromIndexSignature: a provider's own claim is read as claims['tenant_role']
    String(req.oidc.claims?.tenant_role),
  ];
}
