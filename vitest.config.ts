import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // e2e tests start real servers and child processes: generous timeouts, and at most two files at once
    // on the 2-core CI machine so that timing-sensitive tests (memory watchdog, leases) are not starved.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    pool: 'forks',
  },
});
