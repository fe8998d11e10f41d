// Launches Debian's Chromium (/usr/bin/chromium, installed by scripts/ensure-system-deps.mjs)
// through playwright-core, which never downloads a browser of its own.
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  try {
    accessSync(executablePath, constants.X_OK);
  } catch {
    // Browser tests must fail, never skip, when the browser is absent.
    throw new Error(
      `Chromium not found at ${executablePath}. Run \`node scripts/ensure-system-deps.mjs\` ` +
        '(installs the Debian package "chromium") or set CHROMIUM_PATH.',
    );
  }
  return chromium.launch({
    executablePath,
    headless: true,
    // --no-sandbox: tests run as root. The networking flags stop Chromium's background calls
    // home, which this machine's closed network refuses (noisy and slow).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
