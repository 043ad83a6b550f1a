import { RegistryError } from '../../core/errors.js';
import type { RegistryDeps } from '../../core/ports.js';
import type { ScrubService } from '../../core/scrub.js';
import { ScrubReport, ScrubRequest } from '../../schemas/scrub.schema.js';
import { defineRoute } from '../http/define-route.js';

/** The server's scrubber, or 503: a Lambda has no background in which a scrub could run. */
function scrubberOf(deps: RegistryDeps): ScrubService {
  if (!deps.scrub)
    throw new RegistryError(
      'UNAVAILABLE',
      'scrub runs in the background of `modelgate serve`; this deployment has none (on AWS, S3 keeps its own checksums)',
    );
  return deps.scrub;
}

export const scrubRoutes = [
  defineRoute({
    method: 'POST',
    path: '/api/v1/scrub',
    group: 'operations',
    role: 'admin',
    summary:
      'Start re-hashing every stored blob at a bounded rate (bytesPerSecond); corrupt ones are marked so the next publish re-uploads them. Answers the running scrub if one is',
    params: {},
    body: ScrubRequest,
    bodyOptional: true,
    response: ScrubReport,
    status: 202,
    run: async ({ deps, body }) => scrubberOf(deps).start(body.bytesPerSecond),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/scrub',
    group: 'operations',
    role: 'admin',
    summary: 'The latest scrub: counts of checked, corrupt and repaired blobs and the versions affected',
    params: {},
    response: ScrubReport,
    run: async ({ deps }) => scrubberOf(deps).current(),
  }),
];
