/**
 * The CloudWatch (EMF) metric contract between what emits metrics on AWS and what watches them
 * (cdk/constructs/observability.ts). Everything lives in one namespace, `METRICS_NAMESPACE`
 * (default `ocr`), so the runbook's metric names carry over from Prometheus without the `ocr_` prefix:
 *
 * | metric | dimensions | emitted by | meaning |
 * | --- | --- | --- | --- |
 * | `errors` | `code` (a LoadErrorCode) | field-report handler | a node reported MODEL_LOAD_ERROR (`ocr_errors_total`) |
 * | `validation_failures` | `code` (a LoadErrorCode) | validation pre-check/finalize Lambdas, gpu-validator | a version ended FAILED |
 * | `provider_health_score` | `provider` | validation sweeper Lambda, every 5 minutes | 0..100, the provider's health score (core/health.ts) |
 *
 * Dimensions are deliberately low-cardinality (no model or version): CloudWatch bills per series and
 * the alarms aggregate over `code` with a Metrics Insights query.
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
