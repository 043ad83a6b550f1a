/**
 * The API's routes, in one table. API Gateway (cdk/) creates one route per entry and sends it to the
 * Lambda of its group; the local server (local/) matches requests against the same table and calls
 * the same handler. Path parameters use API Gateway's `{name}` syntax.
 */
export const ROUTE_GROUPS = ['models', 'versions', 'aliases', 'downloads', 'operations'] as const;
export type RouteGroup = (typeof ROUTE_GROUPS)[number];

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly group: RouteGroup;
  /** Who may call it on AWS (the IAM managed policy that grants it). */
  readonly role: 'reader' | 'publisher' | 'admin';
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/api/v1/models', group: 'models', role: 'reader' },
  { method: 'POST', path: '/api/v1/models', group: 'models', role: 'publisher' },
  { method: 'GET', path: '/api/v1/models/{name}', group: 'models', role: 'reader' },
  { method: 'GET', path: '/api/v1/models/{name}/versions', group: 'versions', role: 'reader' },
  { method: 'POST', path: '/api/v1/models/{name}/versions', group: 'versions', role: 'publisher' },
  { method: 'GET', path: '/api/v1/models/{name}/versions/{version}', group: 'versions', role: 'reader' },
  {
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/commit',
    group: 'versions',
    role: 'publisher',
  },
  {
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/upload-parts',
    group: 'versions',
    role: 'publisher',
  },
  {
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/validate',
    group: 'versions',
    role: 'admin',
  },
  {
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/deprecate',
    group: 'versions',
    role: 'admin',
  },
  {
    method: 'GET',
    path: '/api/v1/models/{name}/versions/{version}/reports',
    group: 'versions',
    role: 'reader',
  },
  { method: 'GET', path: '/api/v1/models/{name}/resolve/{ref}', group: 'versions', role: 'reader' },
  { method: 'GET', path: '/api/v1/models/{name}/aliases', group: 'aliases', role: 'reader' },
  { method: 'PUT', path: '/api/v1/models/{name}/aliases/{alias}', group: 'aliases', role: 'admin' },
  { method: 'DELETE', path: '/api/v1/models/{name}/aliases/{alias}', group: 'aliases', role: 'admin' },
  { method: 'GET', path: '/api/v1/models/{name}/download/{ref}', group: 'downloads', role: 'reader' },
  // Operations (issue 5): health, providers, load reports, quarantine release. The two /ocr/ paths are
  // the runbook's own, served unchanged. Serving nodes hold the reader role, so they may report loads.
  { method: 'GET', path: '/api/v1/health', group: 'operations', role: 'reader' },
  { method: 'GET', path: '/api/v1/providers', group: 'operations', role: 'reader' },
  { method: 'GET', path: '/api/v1/ocr/providers', group: 'operations', role: 'reader' },
  { method: 'GET', path: '/api/v1/providers/{provider}', group: 'operations', role: 'reader' },
  { method: 'POST', path: '/api/v1/providers/{provider}/disable', group: 'operations', role: 'admin' },
  { method: 'POST', path: '/api/v1/providers/{provider}/enable', group: 'operations', role: 'admin' },
  { method: 'POST', path: '/api/v1/ocr/test', group: 'operations', role: 'admin' },
  {
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/field-reports',
    group: 'operations',
    role: 'reader',
  },
  {
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/release',
    group: 'operations',
    role: 'admin',
  },
  { method: 'GET', path: '/api/v1/load-reports', group: 'operations', role: 'reader' },
  { method: 'GET', path: '/api/v1/failure-explanations', group: 'operations', role: 'reader' },
  // Blob scrub: re-hash stored blobs in the background, mark the corrupt ones, report.
  { method: 'POST', path: '/api/v1/scrub', group: 'operations', role: 'admin' },
  { method: 'GET', path: '/api/v1/scrub', group: 'operations', role: 'admin' },
];

export const routeKey = (r: Pick<Route, 'method' | 'path'>): string => `${r.method} ${r.path}`;
