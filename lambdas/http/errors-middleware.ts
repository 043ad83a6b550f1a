import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RegistryError } from '../../core/errors.js';
import type { ErrorEnvelope } from '../../schemas/error-codes.schema.js';
import { insufficientDisk, isDiskFull } from './disk-full.js';
import { HTTP_STATUS, isExposed } from './error-status.js';

/**
 * `error`: an unexpected failure, logged with its stack. `warn`: a refusal the API gives by design
 * (`code` says which): logged with the code and why, never a stack trace, which would read as a bug.
 */
export type ErrorLogger = (event: {
  level: 'error' | 'warn';
  message: string;
  error: unknown;
  routeKey: string;
  code?: string;
}) => void;

/** What a node's fetch is refused for by design (memory fit, a disabled provider, an unservable version). */
const REFUSALS = new Set<string>(['PROVIDER_DISABLED', 'NOT_VERIFIED', 'INSUFFICIENT_MEMORY']);

export function errorResponse(error: unknown): APIGatewayProxyStructuredResultV2 {
  const known =
    error instanceof RegistryError
      ? error
      : isDiskFull(error)
        ? insufficientDisk()
        : new RegistryError('INTERNAL', 'internal error');
  const status = HTTP_STATUS[known.code];
  const body: ErrorEnvelope = isExposed(status)
    ? {
        error: {
          code: known.code,
          message: known.message,
          ...(known.details ? { details: known.details } : {}),
        },
      }
    : { error: { code: known.code, message: status === 500 ? 'internal error' : known.message } };
  return { statusCode: status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/**
 * Turns any error into the JSON envelope. Refusals (REFUSALS) are logged as warnings; other 5xx are
 * logged with their cause at error and answered without it.
 */
export function errorsMiddleware(
  log: ErrorLogger,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      const response = errorResponse(request.error);
      const status = response.statusCode ?? 500;
      const e = request.error;
      if (e instanceof RegistryError && REFUSALS.has(e.code))
        log({
          level: 'warn',
          message: `request refused: ${e.code}: ${e.message}`,
          error: e,
          code: e.code,
          routeKey: request.event.routeKey,
        });
      else if (status >= 500)
        log({
          level: 'error',
          message: 'request failed',
          error: request.error,
          routeKey: request.event.routeKey,
        });
      request.response = response;
    },
  };
}
