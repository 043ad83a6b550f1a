import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import { completeValidation, startQueuedValidation } from '../../core/validation-jobs.js';
import { finalizeValidation, notRunReport, precheckValidation } from '../../core/validation-steps.js';
import type { Version } from '../../schemas/version.schema.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** The Step Functions task steps against the real SQLite MetadataStore (the same core rules as DynamoDB). */
const GiB = 1024 ** 3;
const capacity = { diskBytes: 100 * GiB, memoryBytes: 13 * GiB };
const exec = 'arn:aws:states:eu-west-1:123456789012:execution:sm:m-1';

let deps: TestDeps;
beforeEach(async () => {
  deps = await localTestDeps();
  await createModel(deps, { name: 'm', provider: 'p', description: '', tags: [] });
});
afterEach(() => deps.cleanup());

async function uploaded(version: string, patch: Partial<Version> = {}): Promise<Version> {
  const now = deps.clock.now().toISOString();
  return deps.metadata.createVersion({
    model: 'm',
    version,
    provider: 'p',
    status: 'UPLOADED',
    files: [{ path: 'a.onnx', size: 1, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), format: 'onnx' }],
    totalSize: 1,
    inputShapes: {},
    publisher: 't',
    createdAt: now,
    updatedAt: now,
    validation: { attempts: 0 },
    ...patch,
  });
}
const input = (version: string) => ({ model: 'm', version, executionId: exec });
/** The reservation lasts the state machine's time limit. */
const HOLD_MS = 26 * 3600_000;
const precheck = (i: ReturnType<typeof input>) => precheckValidation(deps, capacity, i, HOLD_MS);
/** A version uploaded, prechecked and its validation job started: where the finalize step takes over. */
async function startedJob(version: string): Promise<void> {
  await uploaded(version);
  await precheck(input(version));
  await startQueuedValidation(deps, { model: 'm', version }, exec);
}
const get = (version: string) => deps.metadata.getVersion({ model: 'm', version });

describe('precheckValidation', () => {
  it('reserves a version that fits for this execution, without a lease or an attempt, idempotently', async () => {
    await uploaded('1');
    expect(await precheck(input('1'))).toMatchObject({ run: true });
    const v = await get('1');
    expect(v).toMatchObject({ status: 'UPLOADED', validation: { leaseOwner: exec, attempts: 0 } });
    expect(v?.validation.leaseExpiresAt).toBeUndefined();
    expect(Date.parse(v!.validation.queuedUntil!)).toBe(deps.clock.now().getTime() + HOLD_MS);
    expect(await precheck(input('1'))).toMatchObject({ run: true });
    expect((await get('1'))?.validation.attempts).toBe(0);
  });

  it('does not run a version reserved by another execution, or one that does not exist', async () => {
    await uploaded('1');
    expect(await precheck({ ...input('1'), executionId: 'other' })).toMatchObject({ run: true });
    expect(await precheck(input('1'))).toMatchObject({ run: false, reason: 'queued for another execution' });
    expect(await precheck(input('nope'))).toMatchObject({ run: false });
  });

  it("takes over a reservation whose execution's time limit has passed", async () => {
    await uploaded('1');
    await precheck({ ...input('1'), executionId: 'other' });
    deps.clock.advance(HOLD_MS + 1);
    expect(await precheck(input('1'))).toMatchObject({ run: true });
    expect((await get('1'))?.validation.leaseOwner).toBe(exec);
  });

  it('fails a version too big for the task disk with INSUFFICIENT_DISK before any task starts', async () => {
    await uploaded('big', {
      totalSize: 101 * GiB,
      files: [
        { path: 'a.onnx', size: 101 * GiB, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), format: 'onnx' },
      ],
    });
    const r = await precheck(input('big'));
    expect(r).toMatchObject({ run: false, failedWith: { code: 'INSUFFICIENT_DISK' } });
    const v = await get('big');
    expect(v).toMatchObject({ status: 'FAILED', statusReason: { code: 'INSUFFICIENT_DISK' } });
    expect(v?.validation.attempts).toBe(1);
    expect(v?.report?.outcome).toBe('failed');
  });

  it('fails a version whose memory budget exceeds the task with INSUFFICIENT_MEMORY', async () => {
    await uploaded('hungry', { memoryBudgetBytes: 14 * GiB });
    expect(await precheck(input('hungry'))).toMatchObject({
      failedWith: { code: 'INSUFFICIENT_MEMORY' },
    });
    expect((await deps.metadata.getVersion({ model: 'm', version: 'hungry' }))?.status).toBe('FAILED');
  });

  it('asks the state machine to wait while the version backs off', async () => {
    const notBefore = new Date(deps.clock.now().getTime() + 60_000).toISOString();
    await uploaded('later', { validation: { attempts: 1, notBefore } });
    expect(await precheck(input('later'))).toMatchObject({
      run: false,
      waitUntil: notBefore,
    });
  });
});

describe('finalizeValidation', () => {
  const batchCause = JSON.stringify({
    StatusReason: 'Essential container in task exited',
    Attempts: [
      { StatusReason: 'Host EC2 (instance i-0abc) terminated.' },
      { Container: { ExitCode: 1 }, StatusReason: 'Essential container in task exited' },
    ],
  });

  it('fails a version its job started but never settled with TIMEOUT naming each attempt', async () => {
    await startedJob('1');
    const r = await finalizeValidation(deps, {
      ...input('1'),
      failure: { Error: 'States.TaskFailed', Cause: batchCause },
    });
    expect(r.failed).toBe(true);
    const v = await get('1');
    expect(v).toMatchObject({ status: 'FAILED', statusReason: { code: 'TIMEOUT' } });
    expect(v?.statusReason?.message).toBe(
      'validation infrastructure failed after retries: States.TaskFailed: Essential container in task exited; attempt 1 (Host EC2 (instance i-0abc) terminated.); attempt 2 exit 1 (Essential container in task exited)',
    );
  });

  it('fails a version whose container was killed for memory with INSUFFICIENT_MEMORY, not TIMEOUT', async () => {
    await startedJob('1');
    const oomCause = JSON.stringify({
      StatusReason: 'Essential container in task exited',
      Attempts: [
        {
          StatusReason: 'Essential container in task exited',
          Container: { ExitCode: 137, Reason: 'OutOfMemoryError: Container killed due to memory usage' },
        },
      ],
    });
    const r = await finalizeValidation(deps, {
      ...input('1'),
      failure: { Error: 'States.TaskFailed', Cause: oomCause },
    });
    expect(r.failed).toBe(true);
    const v = await get('1');
    expect(v).toMatchObject({ status: 'FAILED', statusReason: { code: 'INSUFFICIENT_MEMORY' } });
    expect(v?.statusReason?.message).toContain('OutOfMemoryError: Container killed due to memory usage');
    expect(v?.report?.error?.code).toBe('INSUFFICIENT_MEMORY');
  });

  it('releases, without failing it or spending an attempt, a version whose job never started', async () => {
    await uploaded('1');
    await precheck(input('1'));
    const r = await finalizeValidation(deps, {
      ...input('1'),
      failure: {
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({ StatusReason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY' }),
      },
    });
    expect(r).toMatchObject({ failed: false, released: true });
    expect(r.message).toContain('CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY');
    const v = await get('1');
    expect(v).toMatchObject({ status: 'UPLOADED', validation: { attempts: 0 } });
    expect(v?.validation.leaseOwner).toBeUndefined();
    expect(v?.validation.queuedUntil).toBeUndefined();
  });

  it('leaves a version the validator already settled alone', async () => {
    await startedJob('1');
    const now = deps.clock.now();
    const passed = {
      ...notRunReport({
        error: { code: 'TIMEOUT', message: '' },
        worker: exec,
        attempt: 1,
        memoryBudgetBytes: GiB,
        startedAt: now,
        finishedAt: now,
      }),
      outcome: 'passed' as const,
      error: undefined,
    };
    await completeValidation(deps, { model: 'm', version: '1' }, exec, passed);
    expect(await finalizeValidation(deps, input('1'))).toEqual({ failed: false });
    expect((await get('1'))?.status).toBe('VERIFIED');
  });

  it('leaves a version reserved or held by another execution alone', async () => {
    await uploaded('1');
    await precheck({ ...input('1'), executionId: 'other' });
    expect(await finalizeValidation(deps, input('1'))).toEqual({ failed: false });
    expect((await get('1'))?.validation.leaseOwner).toBe('other');
    await startQueuedValidation(deps, { model: 'm', version: '1' }, 'other');
    expect(await finalizeValidation(deps, input('1'))).toEqual({ failed: false });
    expect((await get('1'))?.status).toBe('VALIDATING');
  });
});
