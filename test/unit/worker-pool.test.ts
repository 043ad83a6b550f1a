import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import { WorkerPool } from '../../gpu-validator/worker-pool.js';
import type { Version } from '../../schemas/version.schema.js';
import { aNewVersion, aReport } from '../helpers/builders.js';
import { eventually } from '../helpers/eventually.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

// The engine is replaced by a timed stand-in here: this tests the pool's scheduling, not validation
// (the e2e tests run the real engine).
const report = (worker: string) => aReport({ runtime: { name: 'stand-in', version: '0' }, worker });

async function queueVersions(deps: TestDeps, n: number): Promise<void> {
  await createModel(deps, { name: 'm', provider: 'p', description: '', tags: [] });
  for (let i = 0; i < n; i++) {
    const now = deps.clock.now().toISOString();
    await deps.metadata.createVersion(aNewVersion({ version: String(i), createdAt: now }));
  }
}

async function runPool(deps: TestDeps, capacityBytes: number, jobs: number) {
  let running = 0;
  let maxRunning = 0;
  const pool = new WorkerPool(deps, {
    workers: 3,
    id: 'test',
    pollMs: 20,
    memory: { capacityBytes, estimateBytes: () => 60 },
    validate: async (_v: Version, worker) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      // The stand-in's own duration (not a wait for something): long enough for jobs to overlap.
      await sleep(80);
      running--;
      return report(worker);
    },
  });
  await pool.start();
  await eventually(
    async () => (await deps.metadata.listVersionsByStatus('VERIFIED', { limit: 100 })).items.length === jobs,
    { what: `${jobs} versions to be VERIFIED`, timeoutMs: 4000, intervalMs: 20 },
  ).catch(() => undefined); // the assertions on the count say what went wrong
  await pool.stop();
  return {
    maxRunning,
    verified: (await deps.metadata.listVersionsByStatus('VERIFIED', { limit: 100 })).items.length,
  };
}

describe('worker pool', () => {
  let deps: TestDeps;
  afterEach(() => deps.cleanup());

  it('runs jobs in parallel when their memory shares fit', async () => {
    deps = await localTestDeps();
    await queueVersions(deps, 3);
    const r = await runPool(deps, 1000, 3);
    expect(r.verified).toBe(3);
    expect(r.maxRunning).toBeGreaterThan(1);
  });

  it('never starts a job whose share does not fit what is left', async () => {
    deps = await localTestDeps();
    await queueVersions(deps, 3);
    const r = await runPool(deps, 100, 3); // 60 + 60 > 100: one at a time
    expect(r.verified).toBe(3);
    expect(r.maxRunning).toBe(1);
  });

  it('gives a job back for a retry when the engine throws', async () => {
    deps = await localTestDeps();
    await queueVersions(deps, 1);
    const pool = new WorkerPool(deps, {
      workers: 1,
      id: 'test',
      pollMs: 20,
      validate: async () => {
        throw new Error('scratch disk unavailable');
      },
    });
    await pool.start();
    // Given back: UPLOADED again, with a retry time.
    await eventually(
      async () =>
        (await deps.metadata.getVersion({ model: 'm', version: '0' }))?.validation.notBefore !== undefined,
      { what: 'the job to be given back with a retry time' },
    );
    await pool.stop();
    const v = await deps.metadata.getVersion({ model: 'm', version: '0' });
    expect(v?.status).toBe('UPLOADED');
    expect(v?.validation.notBefore).toBeDefined();
  });
});
