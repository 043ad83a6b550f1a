import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { listProviderSummaries } from '../../core/health.js';
import type { RegistryDeps } from '../../core/ports.js';
import { DIMENSION, METRIC } from './metric-names.js';

/**
 * Publishes each provider's health score (0..100) as EMF, one document per provider since dimensions
 * apply to a whole document: the source of the AWS dashboard's "Provider Health Score" panel.
 * Returns how many providers were published.
 */
export async function publishHealthScores(deps: RegistryDeps, metrics: Metrics): Promise<number> {
  const providers = await listProviderSummaries(deps);
  for (const p of providers) {
    const single = metrics.singleMetric();
    single.addDimension(DIMENSION.provider, p.name);
    single.addMetric(METRIC.providerHealthScore, MetricUnit.Percent, Math.round(p.healthScore * 100));
  }
  return providers.length;
}
