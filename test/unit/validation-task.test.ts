import { describe, expect, it } from 'vitest';
import { describeInfrastructureFailure, notRunReport } from '../../core/validation-steps.js';
import { ValidationReport } from '../../schemas/report.schema.js';
import { FinalizeInput, TaskInput } from '../../schemas/validation-task.schema.js';

/** The pure parts of the Step Functions task steps (core/validation-steps.ts) and their input contract. */
describe('task inputs', () => {
  const executionId = 'arn:aws:states:eu-west-1:123456789012:execution:sm:resnet-1_0-0123456789ab';

  it('accepts what the state machine sends and ignores the extra state', () => {
    expect(
      TaskInput.parse({ model: 'resnet', version: '1.0', executionId, precheck: { run: true } }),
    ).toEqual({
      model: 'resnet',
      version: '1.0',
      executionId,
    });
    const f = FinalizeInput.parse({
      model: 'resnet',
      version: '1.0',
      executionId,
      failure: { Error: 'States.TaskFailed', Cause: '{}' },
    });
    expect(f.failure?.Error).toBe('States.TaskFailed');
  });

  it('refuses names the registry would refuse', () => {
    expect(() => TaskInput.parse({ model: '../etc', version: '1.0', executionId })).toThrow();
    expect(() => TaskInput.parse({ model: 'resnet', version: '1.0' })).toThrow();
  });
});

describe('notRunReport', () => {
  it('is a valid failed ValidationReport carrying the error', () => {
    const report = notRunReport({
      error: { code: 'INSUFFICIENT_DISK', message: 'too big' },
      worker: 'exec-1',
      attempt: 0,
      memoryBudgetBytes: 4 * 1024 ** 3,
      startedAt: new Date('2025-01-01T00:00:00Z'),
      finishedAt: new Date('2025-01-01T00:00:02Z'),
    });
    expect(ValidationReport.parse(report)).toEqual(report);
    expect(report).toMatchObject({
      outcome: 'failed',
      error: { code: 'INSUFFICIENT_DISK' },
      attempt: 1,
      durationMs: 2000,
    });
  });
});

describe('describeInfrastructureFailure', () => {
  it('says the validator ended without a result when nothing failed', () => {
    expect(describeInfrastructureFailure(undefined)).toMatch(/without recording a result/);
  });

  it("summarizes a failed Batch job description: its reason and each attempt's exit code and reason", () => {
    const cause = JSON.stringify({
      JobName: 'validate',
      StatusReason: 'Essential container in task exited',
      Attempts: [
        {
          StatusReason: 'Essential container in task exited',
          Container: { ExitCode: 137, Reason: 'OutOfMemoryError: Container killed due to memory usage' },
        },
      ],
      Container: { huge: 'x'.repeat(5000) },
    });
    const message = describeInfrastructureFailure({ Error: 'States.TaskFailed', Cause: cause });
    expect(message).toBe(
      'validation infrastructure failed after retries: States.TaskFailed: Essential container in task exited; attempt 1 exit 137 (Essential container in task exited, OutOfMemoryError: Container killed due to memory usage)',
    );
  });

  it('keeps a plain-text cause and bounds the message length', () => {
    expect(describeInfrastructureFailure({ Error: 'Batch.AWSBatchException', Cause: 'RESOURCE:GPU' })).toBe(
      'validation infrastructure failed after retries: Batch.AWSBatchException: RESOURCE:GPU',
    );
    expect(
      describeInfrastructureFailure({ Error: 'X', Cause: 'y'.repeat(10_000) }).length,
    ).toBeLessThanOrEqual(1000);
  });
});
