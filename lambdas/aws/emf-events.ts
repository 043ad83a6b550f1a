import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { fanOutEvents, withoutPagingWords } from '../../core/events.js';
import type { RegistryEvents } from '../../core/ports.js';
import { LOAD_ERROR_FAMILY } from '../../schemas/error-codes.schema.js';
import { DEFAULT_METRICS_NAMESPACE, DIMENSION, METRIC } from './metric-names.js';

/**
 * The registry's domain events as CloudWatch EMF metrics (metric-names.ts), the AWS counterpart of the
 * local server's prom-client counters; cdk/constructs/observability.ts alarms on them. Each metric is
 * a single-metric EMF line with only the `code` dimension, so per-code series never mix dimensions
 * within one invocation's flush. A sink must not throw: the use case has already happened.
 *
 * Meanings as on the local server (DESIGN.md "What the runbook's signals mean"): a load that failed on a
 * serving node counts in `errors` (the runbook's MODEL_LOAD_ERROR, paging); a candidate the registry
 * refused counts in `validation_failures` only (a ticket, never a page).
 */
export function emfEvents(metrics: Metrics): RegistryEvents {
  const count = (name: string, code: string) => {
    try {
      const m = metrics.singleMetric();
      m.addDimension(DIMENSION.code, code);
      m.addMetric(name, MetricUnit.Count, 1);
    } catch {
      // metrics are best effort
    }
  };
  const ignore = () => {};
  return {
    fieldReportReceived: ({ report }) => {
      if (report.outcome === 'failed') count(METRIC.fieldErrors, report.code ?? 'UNKNOWN');
    },
    validationFinished: ({ error }) => {
      if (error) count(METRIC.validationFailures, error.code);
    },
    providerSeen: ignore,
    versionCommitted: ignore,
    versionQuarantined: ignore,
    versionReleased: ignore,
    providerChanged: ignore,
    aliasFellBack: ignore,
  };
}

/** The part of a Powertools Logger the event log lines use. */
export interface EventLogger {
  info(message: string, extra: Record<string, unknown>): void;
  error(message: string, extra: Record<string, unknown>): void;
}

/**
 * Log lines of the same events, in the local server's words (local/log-events.ts): a node's failed load
 * at error with `MODEL_LOAD_ERROR` and "Failed to load model" (what the runbook greps for); a refused
 * candidate at info, without those words.
 */
export function eventLogLines(logger: EventLogger): Partial<RegistryEvents> {
  const safe = (write: () => void) => {
    try {
      write();
    } catch {
      // logs are best effort
    }
  };
  return {
    fieldReportReceived: ({ version, report }) => {
      if (report.outcome !== 'failed') return;
      const reason = report.code ?? 'unknown';
      safe(() =>
        logger.error(
          `Failed to load model ${version.model}@${version.version} (provider ${version.provider}): ${reason}: ${report.message ?? 'reported by a node'}`,
          {
            event: 'model_load_failed',
            code: LOAD_ERROR_FAMILY,
            reason,
            provider: version.provider,
            model: version.model,
            version: version.version,
            node: report.node,
            source: 'field',
          },
        ),
      );
    },
    validationFinished: ({ version, error }) => {
      if (!error) return;
      safe(() =>
        logger.info(
          `Validation refused ${version.model}@${version.version} (provider ${version.provider}) with ${error.code}: no node received it`,
          {
            event: 'validation_failed',
            code: error.code,
            provider: version.provider,
            model: version.model,
            version: version.version,
            cause: withoutPagingWords(error.message),
          },
        ),
      );
    },
  };
}

/**
 * Every AWS process that settles versions or records field reports (the Lambdas, the validator's Batch
 * job) wires the same sinks, so a verdict is counted and logged wherever it is reached.
 */
export function awsRegistryEvents(metrics: Metrics, logger: EventLogger): RegistryEvents {
  return fanOutEvents([emfEvents(metrics), eventLogLines(logger)]);
}

/**
 * The Powertools Metrics of the validator job (gpu-validator/ecs-task.ts), configured from its
 * environment as the Lambdas' are (aws-deps.ts): namespace MODELGATE_METRICS_NAMESPACE, and the `service`
 * dimension from POWERTOOLS_SERVICE_NAME, which the job definition sets.
 */
export function validatorJobMetrics(env: Readonly<Record<string, string | undefined>>): Metrics {
  return new Metrics({
    namespace: env.MODELGATE_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
    serviceName: env.POWERTOOLS_SERVICE_NAME || 'modelgate-gpu-validator',
  });
}
