import { z } from 'zod';
import { planDownload } from '../../core/download.js';
import { ModelName } from '../../schemas/names.schema.js';
import { DownloadPlan } from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';

const Ref = z.string().min(1).max(128);

export const downloadRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/download/{ref}',
    summary: 'Manifest and download URLs of a VERIFIED version (by version, alias or latest)',
    params: { name: ModelName, ref: Ref },
    response: DownloadPlan,
    run: ({ deps, param }) => planDownload(deps, param('name', ModelName), param('ref', Ref)),
  }),
];
