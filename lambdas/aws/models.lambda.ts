import { routeGroupHandler } from './aws-deps.js';

/** Lambda entry of the `models` route group (lambdas/routes.ts); the wiring lives in aws-deps.ts. */
export const handler = routeGroupHandler('models');
