import type { LoadErrorCode } from '../schemas/error-codes.schema.js';

/**
 * The one error type of the validation engine: every way a file can fail to validate maps to exactly one
 * DESIGN.md load-error code, so the report (and a node's incident) names the root cause, not a stack trace.
 */
export class LoadFailure extends Error {
  constructor(
    readonly code: LoadErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'LoadFailure';
  }
}

export const corrupted = (message: string, details?: Record<string, unknown>) =>
  new LoadFailure('MODEL_CORRUPTED', message, details);
