import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { requeueStalled } from '../../core/validation-jobs.js';
import { createAwsRuntime, withObservability } from './aws-deps.js';
import { publishHealthScores } from './health-metrics.js';

/**
 * Runs every few minutes (EventBridge schedule): nothing on AWS holds a worker loop, so this is what
 * retries a validation whose task died without a trace, or a commit whose execution never started.
 * It also publishes each provider's health score (the dashboard's "Provider Health Score" panel).
 */
const runtime = createAwsRuntime(['MODELGATE_STATE_MACHINE_ARN']);
const { deps, logger, metrics } = runtime;
const STALE_AFTER_MS = 5 * 60_000;

async function sweep(): Promise<{ requeued: number; providers: number }> {
  const requeued = await requeueStalled(deps, STALE_AFTER_MS);
  for (const v of requeued)
    logger.info('validation requeued', {
      model: v.model,
      version: v.version,
      attempts: v.validation.attempts,
    });
  metrics.addMetric('validations_requeued', MetricUnit.Count, requeued.length);
  const providers = await publishHealthScores(deps, metrics);
  return { requeued: requeued.length, providers };
}

export const handler = withObservability(runtime, sweep);
