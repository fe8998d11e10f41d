/**
 * A real browser (Debian's Chromium, headless, driven by playwright-core) logs in to the demo app
 * through the embedded oidc-provider's login page and logs out again: cookies, redirects and the
 * provider's HTML exactly as a user meets them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { startDemo, type RunningDemo } from '../../examples/demo-app.js';

describe('browser: demo login and logout in Chromium', () => {
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

  it('logs in at the provider, lands on the protected page, and logs out everywhere', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(demo.url);
    await expect(page.locator('#greeting').textContent()).resolves.toContain('not signed in');

    await page.click('#login');
    // The provider's login form (oidc-provider devInteractions).
    await page.waitForURL((u) => u.origin === demo.provider?.issuer);
    await page.fill('input[name=login]', 'alice');
    await page.fill('input[name=password]', 'wonderland');
    await page.click('button[type=submit]');

    // Back at the app, on the page the login was started for (?next=/profile).
    await page.waitForURL(`${demo.url}/profile`);
    await expect(page.locator('#profile-sub').textContent()).resolves.toBe('sub: alice');
    mkdirSync('.tmp', { recursive: true });
    await page.screenshot({ path: '.tmp/browser-profile.png' });

    const cookies = await context.cookies(demo.url);
    const sid = cookies.find((c) => c.name === 'demo.sid');
    expect(sid?.httpOnly).toBe(true);

    await page.goto(demo.url);
    await expect(page.locator('#greeting').textContent()).resolves.toContain('Signed in as');
    await page.click('#logout');
    // RP-initiated logout: the provider ends its session and sends the browser back home.
    await page.waitForURL((u) => u.origin === new URL(demo.url).origin && u.pathname === '/', { timeout: 15_000 });
    await expect(page.locator('#greeting').textContent()).resolves.toContain('not signed in');

    // The provider session is gone too: logging in again shows the login form, not an instant SSO.
    await page.click('#login');
    await page.waitForURL((u) => u.origin === demo.provider?.issuer);
    await expect(page.locator('input[name=login]').count()).resolves.toBe(1);
    await context.close();
  });
});
