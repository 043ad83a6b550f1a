import type { Route } from '../lambdas/routes.js';

/**
 * How a route of lambdas/routes.ts appears in an `execute-api:Invoke` resource ARN:
 * `<api-id>/<stage>/<METHOD>/<path>`, with every `{param}` replaced by `*`. Path parameters never
 * contain `/` (the name grammars forbid it), so `*` stands for exactly the values API Gateway routes
 * to that route; test/cdk checks that no role's patterns reach another role's routes.
 */
export const routeResourcePath = (route: Pick<Route, 'method' | 'path'>): string =>
  `${route.method}${route.path.replace(/\{[^}/]+\}/g, '*')}`;

/** The managed policy of each role in the route table, by name. */
export const ROLE_POLICY_NAMES = {
  publisher: 'ModelPublisher',
  reader: 'ModelReader',
  admin: 'RegistryAdmin',
} as const satisfies Record<Route['role'], string>;
