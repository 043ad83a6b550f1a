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

/** A NOT_FOUND error: `<what> not found`, with `details` (the keys that were looked up) for the client. */
export const notFound = (what: string, details?: Record<string, unknown>) =>
  new RegistryError('NOT_FOUND', `${what} not found`, details);

/** An INVALID_REQUEST error naming the field at fault: `<field>: <message>`, with `details.field`. */
export const invalid = (field: string, message: string) =>
  new RegistryError('INVALID_REQUEST', `${field}: ${message}`, { field });
