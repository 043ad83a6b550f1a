import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RegistryError } from '../../core/errors.js';
import type { RegistryDeps } from '../../core/ports.js';
import { implsOfGroup, type RouteGroup } from '../routes.js';
import { type ErrorLogger, errorsMiddleware } from './errors-middleware.js';

export type ApiHandler = middy.MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

const consoleLogger: ErrorLogger = ({ level, message, error, routeKey, code }) =>
  (level === 'warn' ? console.warn : console.error)(
    JSON.stringify(
      level === 'warn'
        ? { level, event: 'request_refused', message, code, routeKey }
        : { level, event: 'http_error', message, routeKey, error: String((error as Error)?.stack ?? error) },
    ),
  );

/**
 * The Lambda handler of one route group, for API Gateway HTTP API (payload v2) events. The local
 * server builds the same events and calls the same handler: one code path for both deployments.
 */
export function makeRouteGroupHandler(
  group: RouteGroup,
  deps: RegistryDeps,
  log: ErrorLogger = consoleLogger,
): ApiHandler {
  const impls = implsOfGroup(group);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(errorsMiddleware(log))
    .handler(async (event) => {
      const impl = impls.get(event.routeKey);
      if (!impl)
        throw new RegistryError('NOT_FOUND', `no route ${event.routeKey}`, { routeKey: event.routeKey });
      const result = await impl.invoke(event, deps);
      return {
        statusCode: impl.status ?? 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(result),
      };
    });
}
