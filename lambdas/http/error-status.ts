import type { ErrorCode } from '../../schemas/error-codes.schema.js';

/**
 * The one table from error code to HTTP status (mlflow's ERROR_CODE_TO_HTTP_STATUS). Load-error codes
 * reach the API only as request errors (an upload whose bytes do not match) or as a version's state.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  BLOBS_MISSING: 409,
  NOT_VERIFIED: 409,
  PROVIDER_DISABLED: 423,
  PAYLOAD_TOO_LARGE: 413,
  UNAVAILABLE: 503,
  INTERNAL: 500,
  CHECKSUM_MISMATCH: 422,
  FILE_MISSING: 422,
  MODEL_CORRUPTED: 422,
  MODEL_INVALID: 422,
  UNSUPPORTED_MODEL: 422,
  INSUFFICIENT_MEMORY: 507,
  INSUFFICIENT_DISK: 507,
  GPU_UNAVAILABLE: 503,
  DEPENDENCY_MISSING: 503,
  PERMISSION_DENIED: 403,
  CONFIG_INVALID: 400,
  INFERENCE_FAILED: 422,
  SAMPLE_INPUTS_REQUIRED: 422,
  TIMEOUT: 504,
};

/** 5xx details can carry internals (paths, SQL, stack): they are never shown to the client. */
export const isExposed = (status: number): boolean => status < 500;
