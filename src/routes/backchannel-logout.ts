/**
 * OpenID Connect Back-Channel Logout 1.0: the provider POSTs a logout_token here (register
 * `baseUrl + routes.backchannelLogout` as the client's backchannel_logout_uri) and every session of
 * that provider session (sid) or user (sub) ends, on every instance, without the user's browser.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Services } from '../session/services.js';
import { asyncHandler } from '../middleware/async-handler.js';
import { OidcError, isOidcError, isTransientProviderError } from '../errors.js';
import { validateLogoutToken } from '../protocol/logout-token.js';
import { allowedIdTokenAlgorithms } from '../protocol/jwt-verification.js';
import { endSessions } from '../session/end-sessions.js';

const MAX_BODY_BYTES = 64 * 1024;

/** The form body, whether or not the app mounted express.urlencoded(). */
async function readForm(req: Request): Promise<Record<string, unknown>> {
  // Section 2.5: the token is POSTed form-encoded; nothing else is a logout request.
  if (
    !String(req.headers['content-type'] ?? '')
      .toLowerCase()
      .startsWith('application/x-www-form-urlencoded')
  ) {
    throw new OidcError('OIDC_LOGOUT_TOKEN_INVALID', 'logout request must be application/x-www-form-urlencoded');
  }
  // Use req.body only when a parser really read the stream: body-parser 1.x (Express 4) sets
  // req.body = {} on every request, whatever the content type.
  const parsed = (req as { body?: unknown }).body;
  if (req.readableEnded && parsed && typeof parsed === 'object' && !Buffer.isBuffer(parsed)) return parsed as Record<string, unknown>;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new OidcError('OIDC_LOGOUT_TOKEN_INVALID', 'logout request body too large');
    chunks.push(chunk);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

function answer(res: Response, status: number, body?: Record<string, string>): void {
  // Section 2.8: the response must not be cached.
  res.set('cache-control', 'no-store').set('pragma', 'no-cache');
  if (body) res.status(status).json(body);
  else res.status(status).end();
}

export function backchannelLogoutHandler({ config, provider, stores }: Pick<Services, 'config' | 'provider' | 'stores'>): RequestHandler {
  return asyncHandler(async (req, res) => {
    try {
      const form = await readForm(req);
      const token = form.logout_token;
      if (typeof token !== 'string' || token === '') throw new OidcError('OIDC_LOGOUT_TOKEN_INVALID', 'no logout_token');
      const meta = await provider.discovery.get();
      const claims = await validateLogoutToken(token, {
        issuer: meta.issuer,
        tenantTemplate: meta.tenantTemplate,
        allowedTenants: config.allowedTenants,
        clientId: config.clientId,
        clockTolerance: config.clockToleranceSeconds,
        maxAgeSeconds: config.logoutTokenMaxAgeSeconds,
        algorithms: allowedIdTokenAlgorithms(config.signAlgo, meta.idTokenSigningAlgValues, false),
        getKey: provider.keysFor(meta),
      });
      // Section 2.6 step 7: a jti seen before is a replay. Remembered (shared by every instance)
      // for as long as the token could still be accepted: until its exp or iat + the maximum age,
      // whichever comes first.
      const now = Math.floor(Date.now() / 1000);
      const maxAgeEnd = claims.iat + config.logoutTokenMaxAgeSeconds;
      const acceptableUntil = typeof claims.exp === 'number' ? Math.min(claims.exp, maxAgeEnd) : maxAgeEnd;
      const jtiKey = `bcl:jti:${claims.iss}|${claims.jti}`;
      const fresh = await stores.shared.setIfAbsent(jtiKey, '1', (Math.max(0, acceptableUntil - now) + config.clockToleranceSeconds + 60) * 1000);
      if (!fresh) throw new OidcError('OIDC_LOGOUT_TOKEN_REPLAYED', 'logout token replayed (jti seen before)');

      let ended: number;
      try {
        const sessions = await stores.index.find(claims.iss, { sid: claims.sid, sub: claims.sub });
        ended = await endSessions(req, stores, { iss: claims.iss, sid: claims.sid, sub: claims.sub }, sessions);
      } catch (err) {
        // The logout did not happen: forget the jti so the provider's retry is not a "replay".
        await stores.shared.delete(jtiKey).catch(() => undefined);
        config.logger.error('back-channel logout could not end the sessions', { reason: (err as Error)?.message });
        return answer(res, 503, { error: 'temporarily_unavailable' });
      }
      config.logger.info('back-channel logout', { iss: claims.iss, sid: claims.sid, sub: claims.sub, ended });
      answer(res, 200);
    } catch (err) {
      const code = isOidcError(err) ? err.code : 'UNEXPECTED';
      config.logger.warn('back-channel logout refused', { code, reason: (err as Error)?.message });
      // A provider or store we cannot reach says nothing about the token: 503 lets the OP retry.
      if (isTransientProviderError(err)) return answer(res, 503, { error: 'temporarily_unavailable' });
      if (!isOidcError(err)) throw err;
      answer(res, 400, { error: 'invalid_request', error_description: err.message });
    }
  });
}
