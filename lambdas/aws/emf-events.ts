import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { RegistryEvents } from '../../core/ports.js';
import { DIMENSION, METRIC } from './metric-names.js';

/**
 * The registry's domain events as CloudWatch EMF metrics (metric-names.ts), the AWS counterpart of the
 * local server's prom-client counters; cdk/constructs/observability.ts alarms on them. Each metric is
 * a single-metric EMF line with only the `code` dimension, so per-code series never mix dimensions
 * within one invocation's flush. A sink must not throw: the use case has already happened.
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
