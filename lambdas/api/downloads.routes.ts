import { z } from 'zod';
import { planDownload } from '../../core/download.js';
import { NodeId } from '../../schemas/load-report.schema.js';
import { ModelName } from '../../schemas/names.schema.js';
import { DownloadPlan } from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';

const Ref = z.string().min(1).max(128);
/** A node may say how much memory it has free: a version that would not fit is refused before any byte moves. */
const DownloadQuery = z.object({
  freeMemoryBytes: z.coerce.number().int().nonnegative().optional(),
  /** The fetching node's id: a provider that is being re-enabled gradually admits nodes by it. */
  node: NodeId.optional(),
});

export const downloadRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/download/{ref}',
    summary: 'Manifest and download URLs of a VERIFIED version (by version, alias or latest)',
    params: { name: ModelName, ref: Ref },
    query: DownloadQuery,
    response: DownloadPlan,
    run: ({ deps, param, query }) => planDownload(deps, param('name', ModelName), param('ref', Ref), query),
  }),
];
