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
  /** `$$.Execution.Id`: the lease owner of this validation, shared with the ECS task it starts. */
  executionId: z.string().min(1).max(2048),
});
export type TaskInput = z.infer<typeof TaskInput>;

/** A Step Functions Catch result (`ResultPath: $.failure`): `Error` and `Cause` as the service reports them. */
export const TaskFailure = z.object({ Error: z.string(), Cause: z.string().optional() });
export type TaskFailure = z.infer<typeof TaskFailure>;

/** The finalize step's input: the task input plus the failure caught, if the ECS task failed. */
export const FinalizeInput = TaskInput.extend({ failure: TaskFailure.optional() });
export type FinalizeInput = z.infer<typeof FinalizeInput>;

/** The parts of an ECS task description (the `.sync` integration's Cause) that say why it stopped. */
export const StoppedTask = z
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
