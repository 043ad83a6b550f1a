import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RegistryError } from '../../core/errors.js';
import type { ErrorEnvelope } from '../../schemas/error-codes.schema.js';
import { insufficientDisk, isDiskFull } from './disk-full.js';
import { HTTP_STATUS, isExposed } from './error-status.js';

export type ErrorLogger = (event: {
  level: 'error' | 'warn';
  message: string;
  error: unknown;
  routeKey: string;
}) => void;

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

/** Turns any error into the JSON envelope; 5xx are logged with their cause and answered without it. */
export function errorsMiddleware(
  log: ErrorLogger,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      const response = errorResponse(request.error);
      const status = response.statusCode ?? 500;
      if (status >= 500)
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
