import { type PrecheckResult, precheckValidation } from '../../core/validation-steps.js';
import { TaskInput } from '../../schemas/validation-task.schema.js';
import { createAwsRuntime, withObservability } from './aws-deps.js';

/**
 * First task of the validation state machine (cdk/constructs/validation-pipeline.ts): reserves the
 * version for this execution's Batch job and refuses, before a GPU instance starts for nothing, a version
 * whose files exceed the job's scratch disk or whose memory budget exceeds what the job can give the model.
 */
const runtime = createAwsRuntime([
  'MODELGATE_VALIDATOR_DISK_BYTES',
  'MODELGATE_VALIDATOR_MEMORY_BYTES',
  'MODELGATE_QUEUE_HOLD_MS',
]);
// A refusal is counted once, as `validation_failures`, by the deps' EMF events sink (emf-events.ts) when
// completeValidation settles the version.
const { deps, config, logger } = runtime;

async function precheck(event: unknown): Promise<PrecheckResult> {
  const input = TaskInput.parse(event);
  logger.appendKeys({ model: input.model, version: input.version, executionId: input.executionId });
  const { failedWith, ...result } = await precheckValidation(
    deps,
    {
      diskBytes: config.MODELGATE_VALIDATOR_DISK_BYTES,
      memoryBytes: config.MODELGATE_VALIDATOR_MEMORY_BYTES,
    },
    input,
    config.MODELGATE_QUEUE_HOLD_MS,
  );
  if (failedWith) {
    logger.warn('version cannot fit a validation task', { error: failedWith });
  }
  return result;
}

export const handler = withObservability(runtime, precheck);
