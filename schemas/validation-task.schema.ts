import { z } from 'zod';
import { ModelName, VersionString } from './names.schema.js';

/**
 * The contract between the validation state machine (cdk/constructs/validation-pipeline.ts) and its
 * task steps (core/validation-steps.ts, run by the validation-precheck and validation-finalize Lambdas).
 */

/** What the state machine passes to both task steps: the queue's `{model, version}` plus the execution. */
export const TaskInput = z.object({
  model: ModelName,
  version: VersionString,
  /** `$$.Execution.Id`: the owner of this validation, shared with the Batch job it submits. */
  executionId: z.string().min(1).max(2048),
});
export type TaskInput = z.infer<typeof TaskInput>;

/** A Step Functions Catch result (`ResultPath: $.failure`): `Error` and `Cause` as the service reports them. */
export const TaskFailure = z.object({ Error: z.string(), Cause: z.string().optional() });
export type TaskFailure = z.infer<typeof TaskFailure>;

/** The finalize step's input: the task input plus the failure caught, if the Batch job failed. */
export const FinalizeInput = TaskInput.extend({ failure: TaskFailure.optional() });
export type FinalizeInput = z.infer<typeof FinalizeInput>;

/**
 * The parts of a failed AWS Batch job description (the `batch:submitJob.sync` integration's Cause, in
 * Step Functions' PascalCase) that say why it failed: the job's status reason and, per attempt, the
 * attempt's status reason and the container's exit code and reason.
 */
const BatchContainer = z.object({ ExitCode: z.number().optional(), Reason: z.string().optional() }).loose();
export const FailedBatchJob = z
  .object({
    StatusReason: z.string().optional(),
    Attempts: z
      .array(z.object({ StatusReason: z.string().optional(), Container: BatchContainer.optional() }).loose())
      .optional(),
  })
  .loose();
export type FailedBatchJob = z.infer<typeof FailedBatchJob>;

/**
 * The validator container's exit codes, the contract between gpu-validator/ecs-task.ts and the Batch
 * job definition's retry strategy (cdk/constructs/validator-job.ts):
 * - `done` (0): an outcome was recorded (passed or failed: the verdict), or there was nothing to do.
 * - `infrastructure` (1): nothing was recorded because a dependency failed (S3, DynamoDB): retried.
 * - `misconfigured` (2): a variable is missing or malformed: no retry fixes that, so none is made.
 * Host failures (the instance was lost or reclaimed) have no exit code and are retried too.
 */
export const VALIDATOR_EXIT = { done: 0, infrastructure: 1, misconfigured: 2 } as const;
export type ValidatorExit = (typeof VALIDATOR_EXIT)[keyof typeof VALIDATOR_EXIT];

/** Whether the job's retry strategy runs another attempt after the container exited with `code`. */
export const isRetriedExit = (code: number): boolean => code === VALIDATOR_EXIT.infrastructure;
