import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { requeueStalled } from '../../core/validation-jobs.js';
import { createAwsRuntime, withObservability } from './aws-deps.js';

/**
 * Runs every few minutes (EventBridge schedule): nothing on AWS holds a worker loop, so this is what
 * retries a validation whose task died without a trace, or a commit whose execution never started.
 */
const runtime = createAwsRuntime(['STATE_MACHINE_ARN']);
const { deps, logger, metrics } = runtime;
const STALE_AFTER_MS = 5 * 60_000;

async function sweep(): Promise<{ requeued: number }> {
  const requeued = await requeueStalled(deps, STALE_AFTER_MS);
  for (const v of requeued)
    logger.info('validation requeued', {
      model: v.model,
      version: v.version,
      attempts: v.validation.attempts,
    });
  metrics.addMetric('validations_requeued', MetricUnit.Count, requeued.length);
  return { requeued: requeued.length };
}

export const handler = withObservability(runtime, sweep);
