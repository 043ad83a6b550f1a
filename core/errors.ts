import type { ErrorCode } from '../schemas/error-codes.schema.js';

/**
 * The one error type of the registry. Handlers map `code` to an HTTP status through one table
 * (lambdas/http/error-status.ts); the CLI maps it to an exit code. `details` name the field or the
 * objects at fault and are shown to the client only for 4xx errors.
 */
export class RegistryError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export const notFound = (what: string, details?: Record<string, unknown>) =>
  new RegistryError('NOT_FOUND', `${what} not found`, details);

export const invalid = (field: string, message: string) =>
  new RegistryError('INVALID_REQUEST', `${field}: ${message}`, { field });
