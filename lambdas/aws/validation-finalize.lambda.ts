import { finalizeValidation } from '../../core/validation-steps.js';
import { FinalizeInput } from '../../schemas/validation-task.schema.js';
import { createAwsRuntime, withObservability } from './aws-deps.js';

/**
 * Last task of the validation state machine, after the Batch job ended (its retries included): fails a
 * version the validator started but never settled with TIMEOUT, naming the infrastructure failure, and
 * releases one whose job never started (core/validation-steps.ts finalizeValidation).
 */
const runtime = createAwsRuntime();
// The TIMEOUT is counted once, as `validation_failures`, by the deps' EMF events sink (emf-events.ts) when
// completeValidation settles the version.
const { deps, logger } = runtime;

async function finalize(event: unknown): Promise<{ failed: boolean }> {
  const input = FinalizeInput.parse(event);
  logger.appendKeys({ model: input.model, version: input.version, executionId: input.executionId });
  const { failed, released, message } = await finalizeValidation(deps, input);
  if (failed) {
    logger.error('validation infrastructure failure', { message, failure: input.failure?.Error });
  } else if (released) {
    logger.warn('validation job never started; version released for a later attempt', {
      message,
      failure: input.failure?.Error,
    });
  }
  return { failed };
}

export const handler = withObservability(runtime, finalize);
