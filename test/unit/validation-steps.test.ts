import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import { completeValidation } from '../../core/validation-jobs.js';
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

describe('precheckValidation', () => {
  it('claims a version that fits, with the execution as lease owner, and is idempotent on retry', async () => {
    await uploaded('1');
    expect(await precheckValidation(deps, capacity, input('1'))).toMatchObject({ run: true });
    const v = await deps.metadata.getVersion({ model: 'm', version: '1' });
    expect(v).toMatchObject({ status: 'VALIDATING', validation: { leaseOwner: exec, attempts: 1 } });
    expect(await precheckValidation(deps, capacity, input('1'))).toMatchObject({ run: true });
    expect((await deps.metadata.getVersion({ model: 'm', version: '1' }))?.validation.attempts).toBe(1);
  });

  it('does not run a version another execution holds, or one that does not exist', async () => {
    await uploaded('1');
    await precheckValidation(deps, capacity, { ...input('1'), executionId: 'other' });
    expect(await precheckValidation(deps, capacity, input('1'))).toMatchObject({ run: false });
    expect(await precheckValidation(deps, capacity, input('nope'))).toMatchObject({ run: false });
  });

  it('fails a version too big for the task disk with INSUFFICIENT_DISK before any task starts', async () => {
    await uploaded('big', {
      totalSize: 101 * GiB,
      files: [
        { path: 'a.onnx', size: 101 * GiB, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), format: 'onnx' },
      ],
    });
    const r = await precheckValidation(deps, capacity, input('big'));
    expect(r).toMatchObject({ run: false, failedWith: { code: 'INSUFFICIENT_DISK' } });
    const v = await deps.metadata.getVersion({ model: 'm', version: 'big' });
    expect(v).toMatchObject({ status: 'FAILED', statusReason: { code: 'INSUFFICIENT_DISK' } });
    expect(v?.report?.outcome).toBe('failed');
  });

  it('fails a version whose memory budget exceeds the task with INSUFFICIENT_MEMORY', async () => {
    await uploaded('hungry', { memoryBudgetBytes: 14 * GiB });
    expect(await precheckValidation(deps, capacity, input('hungry'))).toMatchObject({
      failedWith: { code: 'INSUFFICIENT_MEMORY' },
    });
    expect((await deps.metadata.getVersion({ model: 'm', version: 'hungry' }))?.status).toBe('FAILED');
  });

  it('asks the state machine to wait while the version backs off', async () => {
    const notBefore = new Date(deps.clock.now().getTime() + 60_000).toISOString();
    await uploaded('later', { validation: { attempts: 1, notBefore } });
    expect(await precheckValidation(deps, capacity, input('later'))).toMatchObject({
      run: false,
      waitUntil: notBefore,
    });
  });
});

describe('finalizeValidation', () => {
  it('fails a version still VALIDATING under this execution with TIMEOUT naming the failure', async () => {
    await uploaded('1');
    await precheckValidation(deps, capacity, input('1'));
    const r = await finalizeValidation(deps, {
      ...input('1'),
      failure: { Error: 'AmazonECS.Unknown', Cause: 'RESOURCE:GPU' },
    });
    expect(r.failed).toBe(true);
    const v = await deps.metadata.getVersion({ model: 'm', version: '1' });
    expect(v).toMatchObject({ status: 'FAILED', statusReason: { code: 'TIMEOUT' } });
    expect(v?.statusReason?.message).toContain('AmazonECS.Unknown: RESOURCE:GPU');
  });

  it('leaves a version the validator already settled alone', async () => {
    await uploaded('1');
    await precheckValidation(deps, capacity, input('1'));
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
    expect((await deps.metadata.getVersion({ model: 'm', version: '1' }))?.status).toBe('VERIFIED');
  });

  it('leaves a version held by another execution alone', async () => {
    await uploaded('1');
    await precheckValidation(deps, capacity, { ...input('1'), executionId: 'other' });
    expect(await finalizeValidation(deps, input('1'))).toEqual({ failed: false });
    expect((await deps.metadata.getVersion({ model: 'm', version: '1' }))?.status).toBe('VALIDATING');
  });
});
