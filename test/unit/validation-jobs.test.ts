import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import {
  claimNext,
  completeValidation,
  heartbeat,
  recoverExpiredLeases,
  requestRevalidation,
  requeueStalled,
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
});
