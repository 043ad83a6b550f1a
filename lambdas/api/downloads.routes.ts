import { planDownload } from '../../core/download.js';
import { DownloadQuery, VersionRef } from '../../schemas/api.schema.js';
import { ModelName } from '../../schemas/names.schema.js';
import { DownloadPlan } from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';

export const downloadRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/download/{ref}',
    group: 'downloads',
    role: 'reader',
    summary: 'Manifest and download URLs of a VERIFIED version (by version, alias or latest)',
    params: { name: ModelName, ref: VersionRef },
    query: DownloadQuery,
    response: DownloadPlan,
    run: ({ deps, params, query }) => planDownload(deps, params.name, params.ref, query),
  }),
];
