import { z } from 'zod';
import { LoadErrorCode } from './error-codes.schema.js';
import { ProviderName } from './names.schema.js';
import { DisabledBy, ProviderState } from './provider.schema.js';

/**
 * A provider's health by DESIGN.md's rules: `healthy`, `degraded` (serving, with failures or a ramp under
 * way), `unhealthy` (nothing to serve, or a health score too low) or `disabled` by an operator or the
 * environment.
 */
export const ProviderStatus = z.enum(['healthy', 'degraded', 'unhealthy', 'disabled']);
export type ProviderStatus = z.infer<typeof ProviderStatus>;

/**
 * The newest failed load of a provider's models: its code and message, which version, from a node
 * (`field`) or from validation, and when (ISO 8601).
 */
export const LastError = z.object({
  code: LoadErrorCode,
  message: z.string(),
  model: z.string(),
  version: z.string(),
  source: z.enum(['field', 'validation']),
  at: z.string(),
});
export type LastError = z.infer<typeof LastError>;

/**
 * Something an operator should know that does not make the provider unhealthy. `candidate-refused`: the
 * newest version of a model failed validation; the registry kept it from every node, and the model
 * still serves what it served before (`served`, or null when it never had a VERIFIED version).
 */
export const HealthNote = z.object({
  kind: z.literal('candidate-refused'),
  model: z.string(),
  version: z.string(),
  code: LoadErrorCode,
  message: z.string(),
  at: z.string(),
  served: z.string().nullable(),
  /** The note in words, e.g. "det@2 was refused by validation (MODEL_CORRUPTED); det@1 is still served". */
  text: z.string(),
});
export type HealthNote = z.infer<typeof HealthNote>;

/** One provider in GET /health (the runbook's `.providers | to_entries[]`). */
export const ProviderHealth = z.object({
  status: ProviderStatus,
  /** Share of the loads nodes reported in the health window that succeeded (core/health.ts). */
  healthScore: z.number().min(0).max(1),
  /** MODEL@VERSION the provider serves now (its most recently published served version), or null. */
  currentVersion: z.string().nullable(),
  modelLoaded: z.boolean(),
  /** The latest load that failed on a serving node in the health window (a refused candidate is a note). */
  lastError: LastError.nullable(),
  state: ProviderState,
  /** Why it is not healthy, in words. */
  reasons: z.array(z.string()),
  /** What does not change the status but an operator should see: refused candidates. */
  notes: z.array(HealthNote),
  /** Share of fetching nodes admitted now (100 enabled, 0 disabled, the ramp's step otherwise). */
  admitPercent: z.number().min(0).max(100),
});
export type ProviderHealth = z.infer<typeof ProviderHealth>;

/**
 * GET /health: the overall status (`starting`, with a 503, before the server has its registry), the
 * package version, and each provider's health by name.
 */
export const HealthResponse = z.object({
  /** `healthy` when every enabled provider is healthy; `degraded` otherwise. */
  status: z.enum(['healthy', 'degraded', 'starting']),
  version: z.string().optional(),
  providers: z.record(z.string(), ProviderHealth),
});
export type HealthResponse = z.infer<typeof HealthResponse>;

/** One provider in GET /api/v1/providers (and the runbook's /api/v1/ocr/providers). */
export const ProviderSummary = ProviderHealth.extend({
  name: z.string(),
  enabled: z.boolean(),
  /** The runbook's field name: `select(.model_loaded == false)`. */
  model_loaded: z.boolean(),
  disabledBy: DisabledBy.optional(),
  reason: z.string().optional(),
  ramp: z
    .object({
      steps: z.array(z.number()),
      stepSeconds: z.number(),
      startedAt: z.string(),
      nextStepAt: z.string().nullable(),
    })
    .optional(),
  models: z.array(z.string()),
});
export type ProviderSummary = z.infer<typeof ProviderSummary>;

/** POST /api/v1/ocr/test: re-validate a provider's served versions (the runbook's request shape). */
export const ProviderTestRequest = z.object({
  provider: ProviderName,
  /** The registry always loads and smoke-runs; `init_only` is accepted for the runbook's request shape. */
  init_only: z.boolean().default(true),
});

/**
 * The answer of a provider test: `ok` when every re-validated version passed, and each version's verdict
 * (`pending` when it was still validating when the wait ended).
 */
export const ProviderTestResult = z.object({
  provider: z.string(),
  ok: z.boolean(),
  results: z.array(
    z.object({
      model: z.string(),
      version: z.string(),
      status: z.string(),
      outcome: z.enum(['passed', 'failed', 'pending']),
      error: z.object({ code: LoadErrorCode, message: z.string() }).optional(),
      loadMs: z.number().optional(),
      peakRssBytes: z.number().optional(),
    }),
  ),
});
export type ProviderTestResult = z.infer<typeof ProviderTestResult>;
