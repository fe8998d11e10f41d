/**
 * A real browser (Debian's Chromium, headless, driven by playwright-core) takes the demo tour a
 * newcomer takes after `npm start`: reads the test user's login and password on the home page,
 * logs in at the embedded oidc-provider's login form, sees the profile, presses "Refresh now" and
 * sees a new expiry, sees the answer of the protected JSON route the page fetched, logs out, and
 * finds the profile closed. Cookies, redirects, scripts and the provider's HTML exactly as a
 * person meets them. The profile page's screenshot is kept in test-results/demo-profile.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { startDemo, type RunningDemo } from '../../examples/demo-app.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-results/', import.meta.url));
const SCREENSHOT = `${ARTIFACTS}demo-profile.png`;

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent())?.trim() ?? '';

/** Expiry of the access token shown on the profile page, epoch seconds. */
const shownExpiry = async (page: Page) => Number(await page.locator('#expires-at').getAttribute('data-epoch'));

/**
 * Token expiries are whole seconds (issue time + lifetime): a refresh in the same second as the
 * login would show the same expiry. Waits out the rest of the second `since` (a Date.now()) fell in.
 */
const untilNextSecond = (since: number) => {
  const nextSecond = (Math.floor(since / 1000) + 1) * 1000;
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, nextSecond - Date.now())));
};

describe('browser: the demo tour in Chromium', () => {
  let browser: Browser;
  let demo: RunningDemo;

  beforeAll(async () => {
    demo = await startDemo({ port: 0, providerPort: 0, env: {} });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  it('credentials on the home page, login, profile, refresh now, API answer, logout, profile closed', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();

    // Home: not signed in, and the credentials in plain text (read from the page, not known here).
    await page.goto(demo.url);
    expect(await text(page, '#greeting')).toContain('not signed in');
    expect(await text(page, '#dev-provider')).toContain('any password');
    expect(await text(page, '#issuer')).toBe(demo.provider?.issuer);
    const login = await text(page, '#dev-login');
    const password = await text(page, '#dev-password');
    expect(login).not.toBe('');
    expect(password).not.toBe('');

    // The provider's login form (oidc-provider devInteractions).
    await page.click('#login');
    await page.waitForURL((u) => u.origin === demo.provider?.issuer);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');

    // Back at the app, on the page the login was started for (?next=/profile).
    await page.waitForURL(`${demo.url}/profile`);
    const loggedInAt = Date.now();
    expect(await text(page, '#profile-sub')).toBe(`sub: ${login}`);
    expect(JSON.parse(await text(page, '#claims'))).toMatchObject({ sub: login, iss: demo.provider?.issuer });
    expect(await text(page, '#has-refresh-token')).toBe('yes');
    const expiryBefore = await shownExpiry(page);
    const fingerprintBefore = await text(page, '#token-fingerprint');
    expect(expiryBefore).toBeGreaterThan(Date.now() / 1000);
    expect(Number(await text(page, '#expires-in'))).toBeGreaterThan(0);

    // The page fetched the protected JSON route and shows its answer.
    await page.locator('#api-status[data-status]').waitFor();
    expect(await text(page, '#api-status')).toBe('200 OK');
    const api = JSON.parse(await text(page, '#api-result'));
    expect(api).toMatchObject({ user: { sub: login }, access_token: { fingerprint: fingerprintBefore } });

    const sid = (await context.cookies(demo.url)).find((c) => c.name === 'demo.sid');
    expect(sid?.httpOnly).toBe(true);

    // Refresh now: a real refresh grant; the page comes back with the new expiry and says old -> new.
    await untilNextSecond(loggedInAt);
    await page.click('#refresh-now');
    await page.locator('#refresh-message').waitFor();
    expect(await text(page, '#refresh-message')).toContain('Refreshed');
    const expiryAfter = await shownExpiry(page);
    expect(expiryAfter).toBeGreaterThan(expiryBefore);
    expect(await text(page, '#refresh-message')).toContain(new Date(expiryAfter * 1000).toISOString().replace('.000Z', 'Z'));
    expect(await text(page, '#token-fingerprint')).not.toBe(fingerprintBefore);
    // The API answers with the new token, fetched again by the reloaded page.
    await page.locator('#api-status[data-status]').waitFor();
    expect(JSON.parse(await text(page, '#api-result')).access_token.fingerprint).toBe(await text(page, '#token-fingerprint'));

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`profile page screenshot: ${SCREENSHOT}`);

    // Log out (POST from the page): RP-initiated logout ends the provider session and comes home.
    await page.click('#logout');
    await page.waitForURL((u) => u.origin === new URL(demo.url).origin && u.pathname === '/', { timeout: 15_000 });
    expect(await text(page, '#greeting')).toContain('not signed in');

    // The profile is closed: it sends the browser to log in again, and the provider session is
    // gone too (its login form, not an instant single sign-on).
    await page.goto(`${demo.url}/profile`);
    await page.waitForURL((u) => u.origin === demo.provider?.issuer);
    await page.locator('input[name=login]').waitFor();
    const apiAfterLogout = await context.request.get(`${demo.url}/api/me`, { headers: { accept: 'application/json' }, maxRedirects: 0 });
    expect(apiAfterLogout.status()).toBe(401);
    await context.close();
  });
});
