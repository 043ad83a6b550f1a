import { z } from 'zod';
import { LoadErrorCode } from './error-codes.schema.js';
import { ModelName, ProviderName, VersionString } from './names.schema.js';

/** A serving node's id (its hostname by default): ramps admit nodes by a hash of it. */
export const NodeId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
    'must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ (a host name)',
  );

/**
 * The outcome of one load of a version: by a node in the field (a field report) or by the validator.
 * Both feed the provider's health score; field failures also feed quarantine and ramp rollback.
 */
export const LoadReport = z.object({
  model: ModelName,
  version: VersionString,
  provider: ProviderName,
  /** The node id the report names (self-declared: used for "loaded somewhere", never to count reporters). */
  node: z.string(),
  /**
   * Field reports: the authenticated principal that sent it (a token's id, an IAM ARN), and the
   * reporter counted by quarantine and ramp rollback (the principal, or principal/node for a fleet's
   * node token). Absent on validation runs and on reports stored before reporters were authenticated.
   */
  principal: z.string().optional(),
  reporter: z.string().optional(),
  source: z.enum(['field', 'validation']),
  outcome: z.enum(['ok', 'failed']),
  code: LoadErrorCode.optional(),
  message: z.string().max(2000).optional(),
  at: z.string(),
});
export type LoadReport = z.infer<typeof LoadReport>;

/**
 * A node's report of a load in the field: `ok`, or `failed` with a MODEL_LOAD_ERROR sub-code (required)
 * and a message of at most 2000 characters.
 */
export const FieldReportRequest = z
  .object({
    outcome: z.enum(['ok', 'failed']),
    /** Required for a failed load: the DESIGN.md sub-code of MODEL_LOAD_ERROR. */
    code: LoadErrorCode.optional(),
    message: z.string().max(2000).optional(),
    node: NodeId,
  })
  .refine((r) => r.outcome === 'ok' || r.code !== undefined, {
    message: 'a failed report needs a code (a MODEL_LOAD_ERROR sub-code)',
    path: ['code'],
  });
export type FieldReportRequest = z.infer<typeof FieldReportRequest>;

/** GET load reports: of one provider or all, at most `limit` (1..1000, default 100) newest first. */
export const LoadReportsQuery = z.object({
  provider: ProviderName.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
