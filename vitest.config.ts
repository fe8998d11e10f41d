import { defineConfig } from 'vitest/config';

// The suite runs twice for the HTTP-level tests: on Express 5 (the default) and on Express 4,
// by aliasing `express` to the `express4` package for both the tests and the library source.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start servers; keep the process count modest on 2 cores.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'express5',
          include: ['test/**/*.test.ts'],
        },
      },
      {
        extends: true,
        resolve: { alias: [{ find: /^express$/, replacement: 'express4' }] },
        test: {
          name: 'express4',
          include: ['test/integration/**/*.test.ts'],
        },
      },
    ],
  },
});
