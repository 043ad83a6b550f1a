import { aliasRoutes } from './api/aliases.routes.js';
import { downloadRoutes } from './api/downloads.routes.js';
import { modelRoutes } from './api/models.routes.js';
import { operationsRoutes } from './api/operations.routes.js';
import { scrubRoutes } from './api/scrub.routes.js';
import { signingRoutes } from './api/signing.routes.js';
import { versionRoutes } from './api/versions.routes.js';
import { ROUTE_GROUPS, type Route, type RouteGroup, type RouteImpl } from './http/define-route.js';

export { ROUTE_GROUPS, type Route, type RouteGroup, type RouteImpl };

export const routeKey = (r: Pick<Route, 'method' | 'path'>): string => `${r.method} ${r.path}`;

/**
 * The API's routes, each declared once with `defineRoute` in lambdas/api/ (method, path, group, role,
 * path parameters, body, query, response). Everything else derives from this table: API Gateway
 * (cdk/) creates one route per entry and sends it to the Lambda of its group; the IAM policies
 * (cdk/constructs/access-policies.ts) grant each role its routes; the local server (local/) matches
 * requests against it and calls the same handler; the OpenAPI document (lambdas/http/openapi.ts) is
 * generated from it.
 */
export const ROUTES: readonly RouteImpl[] = [
  ...modelRoutes,
  ...versionRoutes,
  ...aliasRoutes,
  ...downloadRoutes,
  ...operationsRoutes,
  ...scrubRoutes,
  ...signingRoutes,
];

/** Every route, keyed by API Gateway route key ("GET /api/v1/models/{name}"). */
export const ROUTE_IMPLS: ReadonlyMap<string, RouteImpl> = new Map(ROUTES.map((r) => [routeKey(r), r]));
if (ROUTE_IMPLS.size !== ROUTES.length) throw new Error('lambdas/routes.ts: two routes share a route key');

/** The routes one Lambda serves, by route key. */
export function implsOfGroup(group: RouteGroup): Map<string, RouteImpl> {
  return new Map(ROUTES.filter((r) => r.group === group).map((r) => [routeKey(r), r]));
}
