/**
 * OpenID Connect Front-Channel Logout 1.0 (opt-in, OIDC_FRONTCHANNEL_LOGOUT): the provider renders
 * `baseUrl + routes.frontchannelLogout?iss=...&sid=...` in an iframe. Browsers increasingly withhold
 * cookies from third-party iframes, so the sessions are found by `sid` in the session index, not by
 * the iframe's cookie; the iframe's own session, when its cookie does arrive, ends too.
 */
import type { RequestHandler } from 'express';
import type { Services } from '../session/services.js';
import { asyncHandler } from '../middleware/async-handler.js';
import { endSessions } from '../session/end-sessions.js';
import { readOidcData } from '../session/session-data.js';
import { isIssuerValue } from '../protocol/issuer.js';

export function frontchannelLogoutHandler({ config, provider, stores }: Pick<Services, 'config' | 'provider' | 'stores'>): RequestHandler {
  return asyncHandler(async (req, res) => {
    res.set('cache-control', 'no-store').set('pragma', 'no-cache');
    const meta = await provider.discovery.get();
    const iss = typeof req.query.iss === 'string' ? req.query.iss : undefined;
    const sid = typeof req.query.sid === 'string' ? req.query.sid : undefined;
    // Section 2: iss and sid come together; an iss that is not our provider's is ignored entirely.
    if ((iss !== undefined || sid !== undefined) && (iss === undefined || !isIssuerValue(iss, meta) || !sid)) {
      config.logger.warn('front-channel logout ignored: iss/sid do not match this provider', { iss, sid });
      res.status(400).type('text/plain').send('invalid front-channel logout request');
      return;
    }
    const sessions = sid && iss ? await stores.index.find(iss, { sid }) : [];
    const own = readOidcData(req)?.auth;
    if (own && !sessions.some((s) => s.loginId === own.loginId) && (!sid || own.sid === sid)) {
      sessions.push({ sessionId: (req as { sessionID?: string }).sessionID ?? '', loginId: own.loginId });
    }
    // Without iss and sid, the only session ended is the cookie's own: it leaves its own keys.
    const ended = await endSessions(req, stores, { iss: iss ?? own?.iss, sid: sid ?? own?.sid, sub: own?.sub }, sessions);
    config.logger.info('front-channel logout', { iss, sid, ended });
    res.status(200).type('text/html').send('<!doctype html><title>Logged out</title>');
  });
}
