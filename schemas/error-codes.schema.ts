import { z } from 'zod';

/**
 * The runbook's MODEL_LOAD_ERROR root causes, made precise (DESIGN.md "Error codes").
 * Every failed validation or field load carries exactly one of these.
 */
export const LoadErrorCode = z.enum([
  'FILE_MISSING',
  'CHECKSUM_MISMATCH',
  'MODEL_CORRUPTED',
  'MODEL_INVALID',
  'UNSUPPORTED_MODEL',
  'INSUFFICIENT_MEMORY',
  'INSUFFICIENT_DISK',
  'GPU_UNAVAILABLE',
  'DEPENDENCY_MISSING',
  'PERMISSION_DENIED',
  'CONFIG_INVALID',
  'INFERENCE_FAILED',
  'SAMPLE_INPUTS_REQUIRED',
  'TIMEOUT',
]);
export type LoadErrorCode = z.infer<typeof LoadErrorCode>;

/** The family every load error belongs to, as the runbook's metrics and logs name it. */
export const LOAD_ERROR_FAMILY = 'MODEL_LOAD_ERROR';

/** Errors of the registry API itself (requests, state, access). */
export const ApiErrorCode = z.enum([
  'INVALID_REQUEST',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CONFLICT',
  'BLOBS_MISSING',
  'NOT_VERIFIED',
  'PROVIDER_DISABLED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'PAYLOAD_TOO_LARGE',
  'UNAVAILABLE',
  'INTERNAL',
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

/** Every code an error envelope may carry: the API's own and the load-failure codes of validation. */
export const ErrorCode = z.union([ApiErrorCode, LoadErrorCode]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/**
 * The body of every error answer: `{ error: { code, message, details? } }`; `details` names the field or
 * keys at fault where there is one.
 */
export const ErrorEnvelope = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;
