import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import {
  claimNext,
  completeValidation,
  heartbeat,
  recoverExpiredLeases,
  requestRevalidation,
  requeueStalled,
  reserveForQueue,
  startQueuedValidation,
} from '../../core/validation-jobs.js';
import type { Version } from '../../schemas/version.schema.js';
import { aManifestFile, aNewVersion, aReport } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

const SHA = 'a'.repeat(64);
const MD5 = 'b'.repeat(32);

async function uploadedVersion(deps: TestDeps, version: string): Promise<Version> {
  const now = deps.clock.now().toISOString();
  const v = await deps.metadata.createVersion(
    aNewVersion({
      version,
      files: [aManifestFile({ path: 'a.onnx', size: 1, sha256: SHA, md5: MD5 })],
      createdAt: now,
    }),
  );
  deps.clock.advance(1);
  return v;
}

describe('validation jobs: leases, heartbeats, retries', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps({ leaseMs: 10_000, maxValidationAttempts: 2 });
    await createModel(deps, { name: 'm', provider: 'p', description: '', tags: [] });
  });
  afterEach(() => deps.cleanup());

  it('gives a job to exactly one of many racing workers', async () => {
    await uploadedVersion(deps, '1');
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => claimNext(deps, `w${i}`)));
    const winners = claims.filter((c) => c !== null);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.validation.attempts).toBe(1);
  });

  it('claims the oldest job first', async () => {
    await uploadedVersion(deps, 'old');
    await uploadedVersion(deps, 'new');
    expect((await claimNext(deps, 'w'))?.version).toBe('old');
  });

  it('retries a job whose lease expired, with backoff, then fails it with TIMEOUT', async () => {
    await uploadedVersion(deps, '1');
    await claimNext(deps, 'dead-worker');
    expect(await recoverExpiredLeases(deps)).toEqual([]); // lease still valid
    deps.clock.advance(10_001);
    const [retried] = await recoverExpiredLeases(deps);
    expect(retried?.status).toBe('UPLOADED');
    expect(await claimNext(deps, 'w2')).toBeNull(); // backoff not over
    deps.clock.advance(1_000);
    const second = await claimNext(deps, 'w2');
    expect(second?.validation.attempts).toBe(2);
    deps.clock.advance(10_001);
    const [failed] = await recoverExpiredLeases(deps);
    expect(failed?.status).toBe('FAILED');
    expect(failed?.statusReason?.code).toBe('TIMEOUT');
  });

  it('leaves a live validation alone when a stale listing shows its lease expired (a lagging index)', async () => {
    const v = await uploadedVersion(deps, '1');
    await claimNext(deps, 'live-worker');
    // The copy an eventually consistent index could still serve: the lease as first taken.
    const stale = await deps.metadata.getVersion(v);
    deps.clock.advance(9_000);
    expect(await heartbeat(deps, v, 'live-worker')).toBe(true); // the lease now runs to 19 s
    deps.clock.advance(2_000); // 11 s: expired in the stale copy only
    const lagging = {
      ...deps,
      metadata: Object.assign(Object.create(deps.metadata), {
        listVersionsByStatus: async () => ({ items: [stale!] }),
      }),
    };
    expect(await recoverExpiredLeases(lagging)).toEqual([]);
    const stored = await deps.metadata.getVersion(v);
    expect(stored?.status).toBe('VALIDATING');
    expect(stored?.validation.leaseOwner).toBe('live-worker');
    expect(await heartbeat(deps, v, 'live-worker')).toBe(true);
  });

  it('treats orphaned jobs (a crashed server) as expired at once', async () => {
    await uploadedVersion(deps, '1');
    await claimNext(deps, 'previous-process/0');
    const changed = await recoverExpiredLeases(
      deps,
      (v) => v.validation.leaseOwner?.startsWith('previous') ?? false,
    );
    expect(changed.map((v) => v.status)).toEqual(['UPLOADED']);
  });

  it('lets only the lease owner heartbeat and complete', async () => {
    const v = await uploadedVersion(deps, '1');
    await claimNext(deps, 'owner');
    expect(await heartbeat(deps, v, 'intruder')).toBe(false);
    expect(await heartbeat(deps, v, 'owner')).toBe(true);
    const report = aReport({
      outcome: 'failed',
      error: { code: 'MODEL_CORRUPTED', message: 'bad' },
      worker: 'owner',
    });
    await expect(completeValidation(deps, v, 'intruder', report)).rejects.toMatchObject({ code: 'CONFLICT' });
    const done = await completeValidation(deps, v, 'owner', report);
    expect(done.status).toBe('FAILED');
    expect(done.statusReason?.code).toBe('MODEL_CORRUPTED');
    expect(done.validation.leaseOwner).toBeUndefined();

    const again = await requestRevalidation(deps, v);
    expect(again.status).toBe('UPLOADED');
    expect((await deps.metadata.listReports(v, { limit: 10 })).items).toHaveLength(1);
  });

  it('stores a report as the schema bounds it, whichever worker sent it: version, history and reason', async () => {
    const v = await uploadedVersion(deps, '1');
    await claimNext(deps, 'gpu-task');
    const name = 'X'.repeat(2_000_000);
    // What a worker that bounds nothing would send: a runtime error quoting a 2 MB input name, that
    // name in the file's inputs and shapes, and a note.
    const report = aReport({
      outcome: 'failed',
      error: { code: 'INFERENCE_FAILED', message: `invalid input ${name}` },
      worker: 'gpu-task',
      files: [
        {
          path: 'a.onnx',
          sha256: SHA,
          size: 1,
          format: 'onnx',
          check: 'loaded',
          ok: false,
          inputs: [{ name, type: 'float32', shape: [1] }],
          outputs: [],
          inputShapes: { [name]: [1] },
          notes: [name],
        },
      ],
    });
    const done = await completeValidation(deps, v, 'gpu-task', report);
    const stored = await deps.metadata.getVersion(v);
    const [history] = (await deps.metadata.listReports(v, { limit: 10 })).items;
    for (const record of [done, stored, history])
      expect(JSON.stringify(record).length).toBeLessThan(16 * 1024);
    expect(stored?.statusReason?.message).toMatch(/^invalid input X+…\[truncated, 2000014 bytes in all\]$/);
    expect(stored?.report?.files[0]?.inputs[0]?.name).toMatch(/^X+…\[truncated, 2000000 bytes in all\]$/);
  });

  it('sweeps: requeues stalled uploads once their lease and backoff are over, never fresh ones', async () => {
    await uploadedVersion(deps, 'crashed');
    await claimNext(deps, 'dead-worker'); // 'crashed' is VALIDATING under a worker that will never finish
    await uploadedVersion(deps, 'lost-start'); // committed, but its queue message never arrived
    deps.enqueued.length = 0;
    expect(await requeueStalled(deps, 5 * 60_000)).toEqual([]); // nothing stale yet

    deps.clock.advance(10_001); // the dead worker's lease expires: recovered with a 1 s backoff
    expect(await requeueStalled(deps, 5 * 60_000)).toEqual([]); // backing off, and not stale

    deps.clock.advance(5 * 60_000);
    await uploadedVersion(deps, 'fresh');
    const requeued = await requeueStalled(deps, 5 * 60_000);
    expect(requeued.map((v) => v.version).sort()).toEqual(['crashed', 'lost-start']);
    expect(deps.enqueued.sort()).toEqual(['m@crashed', 'm@lost-start']);
  });

  describe('a validation waiting in the Batch queue', () => {
    const HOLD = 24 * 3600_000;
    const exec = 'arn:aws:states:eu-west-1:123456789012:execution:sm:run-1';
    const get = () => deps.metadata.getVersion({ model: 'm', version: '1' });

    it('is never swept back while it waits, however long, and holds no lease until its job starts', async () => {
      const v = await uploadedVersion(deps, '1');
      expect(await reserveForQueue(deps, v, exec, HOLD)).not.toBeNull();
      deps.enqueued.length = 0;
      deps.clock.advance(HOLD - 1); // far past the lease and the staleness limit
      expect(await requeueStalled(deps, 5 * 60_000)).toEqual([]);
      expect(deps.enqueued).toEqual([]);
      expect(await get()).toMatchObject({
        status: 'UPLOADED',
        validation: { attempts: 0, leaseOwner: exec },
      });

      const started = await startQueuedValidation(deps, v, exec);
      expect(started).toMatchObject({ status: 'VALIDATING', validation: { attempts: 1, leaseOwner: exec } });
      expect(Date.parse(started!.validation.leaseExpiresAt!)).toBe(deps.clock.now().getTime() + 10_000);
    });

    it("is queued again once its execution's time limit has passed", async () => {
      const v = await uploadedVersion(deps, '1');
      await reserveForQueue(deps, v, exec, HOLD);
      deps.clock.advance(HOLD + 1);
      expect((await requeueStalled(deps, 5 * 60_000)).map((x) => x.version)).toEqual(['1']);
    });

    it("goes back to its job's next attempt when an attempt dies with its host, not to a new execution", async () => {
      const v = await uploadedVersion(deps, '1');
      await reserveForQueue(deps, v, exec, HOLD);
      await startQueuedValidation(deps, v, exec);
      deps.clock.advance(10_001); // the host died: no heartbeat, the lease expires
      deps.enqueued.length = 0;
      await requeueStalled(deps, 5 * 60_000);
      const swept = await get();
      expect(swept).toMatchObject({ status: 'UPLOADED', validation: { attempts: 1, leaseOwner: exec } });
      expect(swept?.validation.notBefore).toBeUndefined();
      deps.clock.advance(60 * 60_000);
      expect(await requeueStalled(deps, 5 * 60_000)).toEqual([]);
      expect(deps.enqueued).toEqual([]);
      // Batch's retry starts the next attempt under the same execution.
      expect(await startQueuedValidation(deps, v, exec)).toMatchObject({ validation: { attempts: 2 } });
    });

    it('lets a retried attempt take over the lease of the attempt whose host was lost, up to the attempt limit', async () => {
      const v = await uploadedVersion(deps, '1');
      await reserveForQueue(deps, v, exec, HOLD);
      await startQueuedValidation(deps, v, exec);
      expect(await startQueuedValidation(deps, v, exec)).toMatchObject({ validation: { attempts: 2 } });
      // maxValidationAttempts is 2 here: a third start fails the version instead of validating.
      expect(await startQueuedValidation(deps, v, exec)).toBeNull();
      expect(await get()).toMatchObject({ status: 'FAILED', statusReason: { code: 'TIMEOUT' } });
    });

    it('starts nothing for a job whose version another execution reserved or settled', async () => {
      const v = await uploadedVersion(deps, '1');
      await reserveForQueue(deps, v, 'other-execution', HOLD);
      expect(await reserveForQueue(deps, (await get())!, exec, HOLD)).toBeNull();
      expect(await startQueuedValidation(deps, v, exec)).toBeNull();
      expect((await get())?.status).toBe('UPLOADED');
    });
  });
});
