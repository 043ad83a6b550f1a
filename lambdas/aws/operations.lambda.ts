import { routeGroupHandler } from './aws-deps.js';

/** Lambda entry of the `operations` route group (lambdas/routes.ts); the wiring lives in aws-deps.ts. */
export const handler = routeGroupHandler('operations');
