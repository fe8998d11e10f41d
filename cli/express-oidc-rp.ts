#!/usr/bin/env node
// The `express-oidc-rp` command (package.json "bin"). Nothing the library's users import: the
// package's entry point (src/index.ts) never loads this, so oidc-provider stays out of their apps.
import { runDevProvider } from './dev-provider.js';

const USAGE = `Usage: express-oidc-rp <command> [options]

Commands:
  dev-provider    A local OpenID Provider to develop your app against, without an account
                  anywhere. FOR DEVELOPMENT ONLY.

Run "express-oidc-rp <command> --help" for a command's options.`;

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === 'dev-provider') return runDevProvider(rest);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    // Without a command it is a mistake, though the answer is the same help.
    return command === undefined ? 2 : 0;
  }
  process.stderr.write(`express-oidc-rp: unknown command "${command}"\n\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (status) => {
    // undefined: a server is running and ends the process itself (on SIGINT / SIGTERM).
    if (status !== undefined) process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`express-oidc-rp: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
