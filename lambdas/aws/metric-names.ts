/**
 * The CloudWatch (EMF) metric contract between what emits metrics on AWS and what watches them
 * (cdk/constructs/observability.ts). Everything lives in one namespace, `MODELGATE_METRICS_NAMESPACE`
 * (default `ocr`), so the runbook's metric names carry over from Prometheus without the `ocr_` prefix:
 *
 * | metric | dimensions | emitted by | meaning |
 * | --- | --- | --- | --- |
 * | `errors` | `code` (a LoadErrorCode) | field-report handler (emf-events.ts) | a serving node reported MODEL_LOAD_ERROR (`ocr_errors_total`); pages |
 * | `validation_failures` | `code` (a LoadErrorCode) | whatever settles a validation (emf-events.ts): pre-check/finalize Lambdas, gpu-validator | a candidate was refused (FAILED) before any node got it (`ocr_validation_failures_total`); a ticket, never a page |
 * | `provider_health_score` | `provider` | validation sweeper Lambda, every 5 minutes | 0..100, the provider's health score (core/health.ts) |
 *
 * Dimensions are deliberately low-cardinality (no model or version): CloudWatch bills per series and
 * the alarms aggregate over `code` with a Metrics Insights query. Powertools adds a `service` dimension
 * (POWERTOOLS_SERVICE_NAME) to every metric it writes, so each metric's dimension set is its own
 * dimension plus `service` (METRIC_DIMENSIONS): a query must name exactly that set, or it selects
 * nothing (CloudWatch matches dimension sets exactly). test/cdk/metric-dimensions.test.ts runs every
 * emitter through Powertools and checks each alarm and widget against what it wrote.
 */
export const DEFAULT_METRICS_NAMESPACE = 'ocr';

export const METRIC = {
  fieldErrors: 'errors',
  validationFailures: 'validation_failures',
  providerHealthScore: 'provider_health_score',
} as const;

export const DIMENSION = {
  code: 'code',
  provider: 'provider',
} as const;

/** The dimension Powertools Metrics adds to every metric: the emitting function's or job's service name. */
export const SERVICE_DIMENSION = 'service';

/** The exact dimension set each metric is written with (Powertools' `service` included), sorted. */
export const METRIC_DIMENSIONS = {
  [METRIC.fieldErrors]: [DIMENSION.code, SERVICE_DIMENSION],
  [METRIC.validationFailures]: [DIMENSION.code, SERVICE_DIMENSION],
  [METRIC.providerHealthScore]: [DIMENSION.provider, SERVICE_DIMENSION],
} as const satisfies Record<(typeof METRIC)[keyof typeof METRIC], readonly string[]>;
