#!/usr/bin/env node
// Installs the system programs the test suite drives for real (redis-server, Chromium,
// django-oauth-toolkit) when they are missing. Runs as the `pretest` npm script. Tests never skip
// for a missing program: this script either makes it present or fails loudly.
//
//   OIDC_RP_SKIP_SYSTEM_DEPS=1  outside CI: warn instead of failing when something can't be installed
//   CHROMIUM_PATH               use this Chromium binary instead of /usr/bin/chromium
//   OIDC_RP_DJANGO_PYTHON       the Python that imports django and oauth2_provider (default
//                               /usr/bin/python3, Debian's: a pyenv or venv python first on PATH
//                               does not see Debian's packages)
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const isCI = process.env.CI === 'true';
const allowSkip = !isCI && process.env.OIDC_RP_SKIP_SYSTEM_DEPS === '1';

/** @param {string} name */
function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** @param {string} file */
function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * @typedef {{ name: string; packages: string[]; present: () => string | undefined }} Dep
 * @type {Dep[]}
 */
const deps = [
  {
    name: 'redis-server',
    packages: ['redis-server'],
    present: () => findOnPath('redis-server') ?? (isExecutable('/usr/bin/redis-server') ? '/usr/bin/redis-server' : undefined),
  },
  {
    name: 'Chromium',
    packages: ['chromium'],
    present: () => {
      const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
      return isExecutable(path) ? path : undefined;
    },
  },
  {
    // test/support/django-oauth-toolkit.ts runs a Django project with it (same default python).
    name: 'django-oauth-toolkit',
    packages: ['python3-django-oauth-toolkit'],
    present: () => {
      const python = process.env.OIDC_RP_DJANGO_PYTHON ?? '/usr/bin/python3';
      if (!isExecutable(python)) return undefined;
      const { PYTHONHOME: _home, PYTHONPATH: _path, ...env } = process.env;
      const r = spawnSync(python, ['-c', 'import django, oauth2_provider; print(oauth2_provider.__version__, "on Django", django.get_version())'], {
        encoding: 'utf8',
        env,
      });
      return r.status === 0 ? `${python}: oauth2_provider ${r.stdout.trim()}` : undefined;
    },
  },
];

const missing = deps.filter((d) => d.present() === undefined);
if (missing.length === 0) {
  for (const d of deps) console.log(`[ensure-system-deps] ${d.name}: ${d.present()}`);
  process.exit(0);
}

const packages = missing.flatMap((d) => d.packages);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const aptGet = findOnPath('apt-get');

/** @param {string[]} args */
function apt(args) {
  console.log(`[ensure-system-deps] apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

let installError = '';
if (!isRoot) {
  installError = 'not running as root';
} else if (!aptGet) {
  installError = 'apt-get not found';
} else {
  console.log(`[ensure-system-deps] installing: ${packages.join(' ')}`);
  // Keep package maintainer scripts from starting daemons (redis-server's postinst would start a
  // server on :6379 that outlives the test run); only when no policy is in place already.
  const policyRcD = '/usr/sbin/policy-rc.d';
  let addedPolicy = false;
  if (!existsSync(policyRcD)) {
    try {
      writeFileSync(policyRcD, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
      addedPolicy = true;
    } catch {
      // harmless: at worst a daemon gets started
    }
  }
  try {
    if (!apt(['update'])) {
      installError = 'apt-get update failed';
    } else if (!apt(['install', '-y', '--no-install-recommends', ...packages])) {
      installError = 'apt-get install failed';
    }
  } finally {
    if (addedPolicy) unlinkSync(policyRcD);
  }
}

const stillMissing = deps.filter((d) => d.present() === undefined);
if (stillMissing.length === 0) {
  for (const d of deps) console.log(`[ensure-system-deps] ${d.name}: ${d.present()}`);
  process.exit(0);
}

for (const d of stillMissing) {
  const why = installError || `installed ${d.packages.join(' ')}, but the binary is still not where the tests look`;
  console.error(
    `[ensure-system-deps] ${d.name} is missing and could not be installed (${why}).\n` +
      `  Install it with: sudo apt-get install -y --no-install-recommends ${d.packages.join(' ')}` +
      (d.name === 'Chromium' ? '\n  or point CHROMIUM_PATH at a Chromium/Chrome binary.' : ''),
  );
}
if (allowSkip) {
  console.warn('[ensure-system-deps] OIDC_RP_SKIP_SYSTEM_DEPS=1: continuing; tests that need these programs will fail.');
  process.exit(0);
}
console.error(
  isCI
    ? '[ensure-system-deps] CI=true: a missing system dependency is a failure.'
    : '[ensure-system-deps] Set OIDC_RP_SKIP_SYSTEM_DEPS=1 to continue anyway (tests needing them will fail, not skip).',
);
process.exit(1);
