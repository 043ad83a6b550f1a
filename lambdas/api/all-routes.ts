import type { RouteImpl } from '../http/define-route.js';
import { ROUTES, type RouteGroup, routeKey } from '../routes.js';
import { aliasRoutes } from './aliases.routes.js';
import { downloadRoutes } from './downloads.routes.js';
import { modelRoutes } from './models.routes.js';
import { operationsRoutes } from './operations.routes.js';
import { scrubRoutes } from './scrub.routes.js';
import { versionRoutes } from './versions.routes.js';

/** Every route implementation, keyed by API Gateway route key ("GET /api/v1/models/{name}"). */
export const ROUTE_IMPLS: ReadonlyMap<string, RouteImpl> = new Map(
  [
    ...modelRoutes,
    ...versionRoutes,
    ...aliasRoutes,
    ...downloadRoutes,
    ...operationsRoutes,
    ...scrubRoutes,
  ].map((r) => [routeKey(r), r]),
);

export function implsOfGroup(group: RouteGroup): Map<string, RouteImpl> {
  const keys = ROUTES.filter((r) => r.group === group).map(routeKey);
  return new Map(keys.map((k) => [k, ROUTE_IMPLS.get(k)!]));
}
