import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // e2e tests start real servers and child processes: generous timeouts, and at most two files at once
    // on the 2-core CI machine so that timing-sensitive tests (memory watchdog, leases) are not starved.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] },
      },
      {
        // The e2e tests run the compiled dist/: the global setup rebuilds it when a source is newer.
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/helpers/dist-current.setup.ts'],
        },
      },
    ],
  },
});
