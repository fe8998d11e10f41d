import { configDefaults, defineConfig } from 'vitest/config';

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
          // Scenarios that do not depend on the Express major run once, in express5 only.
          exclude: [
            ...configDefaults.exclude,
            // The apps are child processes started from one fixed script (test/support/rp-server.ts);
            // what these test is the Redis coordination between two processes (refresh lock and
            // rotation, shared logout index), which is the same code whatever Express routes to it.
            'test/integration/multi-instance.test.ts',
            'test/integration/multi-instance-logout.test.ts',
            // Two `npm start` processes (examples/demo.ts): they run the Express the demo imports.
            'test/integration/demo-redis.test.ts',
            // The SharedStore/TokenStore/SharedLock contract against redis-server: no app, no
            // Express (createOidcAuth is only called to check its `redis` option).
            'test/integration/redis-store.test.ts',
            // Token sets across a Redis failover (primary, replica, promotion): stores only.
            'test/integration/redis-failover.test.ts',
            // What django-oauth-toolkit answers (discovery, tokens, rotation, revocation): the
            // Express major only routes the RP's requests, which every other flow test covers twice.
            'test/integration/django-oauth-toolkit.test.ts',
          ],
        },
      },
    ],
  },
});
