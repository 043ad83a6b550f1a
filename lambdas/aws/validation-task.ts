import { z } from 'zod';
import { ModelName, VersionString } from '../../schemas/names.schema.js';
import type { LoadError, ValidationReport } from '../../schemas/report.schema.js';

/**
 * The pure parts of the Step Functions task Lambdas (validation-precheck / validation-finalize): their
 * input contract with the state machine (cdk/constructs/validation-pipeline.ts), the report recorded
 * when a version fails without the validator ever running, and how an infrastructure failure is named.
 */

/** What the state machine passes to both task Lambdas: the queue's `{model, version}` plus the execution. */
export const TaskInput = z.object({
  model: ModelName,
  version: VersionString,
  /** `$$.Execution.Id`: the lease owner of this validation, shared with the ECS task it starts. */
  executionId: z.string().min(1).max(2048),
});
export type TaskInput = z.infer<typeof TaskInput>;

/** A Step Functions Catch result (`ResultPath: $.failure`): `Error` and `Cause` as the service reports them. */
export const TaskFailure = z.object({ Error: z.string(), Cause: z.string().optional() });
export type TaskFailure = z.infer<typeof TaskFailure>;

export const FinalizeInput = TaskInput.extend({ failure: TaskFailure.optional() });
export type FinalizeInput = z.infer<typeof FinalizeInput>;

/** `run`: start the ECS task. `waitUntil`: the version is backing off; the state machine waits and asks again. */
export interface PrecheckResult {
  readonly run: boolean;
  readonly waitUntil?: string;
  readonly reason: string;
}

/** A report for a validation that ended before any file was loaded: nothing was measured. */
export function notRunReport(args: {
  readonly error: LoadError;
  readonly worker: string;
  readonly attempt: number;
  readonly memoryBudgetBytes: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
}): ValidationReport {
  return {
    outcome: 'failed',
    error: args.error,
    runtime: { name: 'none', version: 'none' },
    executionProvider: 'none',
    worker: args.worker,
    attempt: Math.max(1, args.attempt),
    startedAt: args.startedAt.toISOString(),
    finishedAt: args.finishedAt.toISOString(),
    durationMs: Math.max(0, args.finishedAt.getTime() - args.startedAt.getTime()),
    memoryBudgetBytes: args.memoryBudgetBytes,
    files: [],
    totals: { loadMs: 0, inferenceMs: 0, peakRssBytes: 0 },
    nodeClasses: [],
  };
}

const MAX_MESSAGE = 1000;

/** The parts of an ECS task description (the `.sync` integration's Cause) that say why it stopped. */
const StoppedTask = z
  .object({
    StopCode: z.string().optional(),
    StoppedReason: z.string().optional(),
    Containers: z
      .array(
        z.object({
          Name: z.string().optional(),
          ExitCode: z.number().optional(),
          Reason: z.string().optional(),
        }),
      )
      .optional(),
  })
  .loose();

/**
 * One line naming the infrastructure failure for the version's statusReason: the Step Functions error
 * and, when the cause is an ECS task description, its stop code, reason and container exit codes, so
 * an operator reading `FAILED / TIMEOUT` knows whether capacity, the image or the instance gave out.
 */
export function describeInfrastructureFailure(failure: TaskFailure | undefined): string {
  if (!failure)
    return 'the validation task ended without recording a result (the validator exited before completing)';
  const parts = [`validation infrastructure failed after retries: ${failure.Error}`];
  const cause = failure.Cause?.trim();
  if (cause) {
    let detail = cause;
    try {
      const task = StoppedTask.safeParse(JSON.parse(cause));
      if (task.success) {
        const containers = (task.data.Containers ?? [])
          .map((c) => `${c.Name ?? 'container'} exit ${c.ExitCode ?? '?'}${c.Reason ? ` (${c.Reason})` : ''}`)
          .join(', ');
        const summary = [task.data.StopCode, task.data.StoppedReason, containers].filter(Boolean).join('; ');
        if (summary) detail = summary;
      }
    } catch {
      // not JSON: the cause is already a message
    }
    parts.push(detail);
  }
  const message = parts.join(': ');
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}
