import { commitVersion, stageUploads, startVersion, uploadPartTargets } from '../../core/publish.js';
import { resolveVersion } from '../../core/resolve.js';
import { requestRevalidation } from '../../core/validation-jobs.js';
import { deprecateVersion, getVersion, listReports, listVersions } from '../../core/versions.js';
import { VersionRef } from '../../schemas/api.schema.js';
import { ModelName, VersionString } from '../../schemas/names.schema.js';
import { ValidationReport } from '../../schemas/report.schema.js';
import {
  CommitVersionRequest,
  DeprecateVersionRequest,
  ListQuery,
  ListVersionsQuery,
  Page,
  StageUploadsRequest,
  StageUploadsResponse,
  StartVersionRequest,
  StartVersionResponse,
  UploadPartsRequest,
  UploadPartsResponse,
  Version,
} from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';
import { publisherOf } from '../http/principal.js';

const versionParams = { name: ModelName, version: VersionString };
/** The `{name}` and `{version}` path parameters as the version key core takes. */
const keyOf = (p: { name: string; version: string }) => ({ model: p.name, version: p.version });

export const versionRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/versions',
    group: 'versions',
    role: 'reader',
    summary: 'List versions, newest first, optionally by status',
    params: { name: ModelName },
    query: ListVersionsQuery,
    response: Page(Version),
    run: ({ deps, params, query }) => listVersions(deps, params.name, query),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions',
    group: 'versions',
    role: 'publisher',
    summary:
      'Start a version: declare its manifest and get upload targets for the blobs the registry lacks; declaring a PENDING_UPLOAD version again with the same manifest resumes it',
    params: { name: ModelName },
    body: StartVersionRequest,
    response: StartVersionResponse,
    status: 201,
    run: ({ deps, params, body, event }) =>
      startVersion(deps, params.name, { ...body, publisher: publisherOf(event, body.publisher) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/staged-uploads',
    group: 'versions',
    role: 'publisher',
    summary:
      'Targets for files sent before their sha256 is known (hashed by the registry as they arrive, claimed at commit); staged: false where the storage takes none (S3)',
    params: {},
    body: StageUploadsRequest,
    response: StageUploadsResponse,
    status: 201,
    run: ({ deps, body }) => stageUploads(deps, body),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/versions/{version}',
    group: 'versions',
    role: 'reader',
    summary: 'Get a version with its status and latest validation report',
    params: versionParams,
    response: Version,
    run: ({ deps, params }) => getVersion(deps, keyOf(params)),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/commit',
    group: 'versions',
    role: 'publisher',
    summary:
      'Commit an uploaded version: assembles the multipart uploads and claims the staged uploads named in the body, then every blob must be stored; queues it for validation',
    params: versionParams,
    body: CommitVersionRequest,
    bodyOptional: true,
    response: Version,
    run: ({ deps, params, body }) => commitVersion(deps, keyOf(params), body),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/upload-parts',
    group: 'versions',
    role: 'publisher',
    summary: "Upload URLs for parts of a multipart upload, each signed with its part's SHA-256",
    params: versionParams,
    body: UploadPartsRequest,
    response: UploadPartsResponse,
    run: ({ deps, params, body }) => uploadPartTargets(deps, keyOf(params), body),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/validate',
    group: 'versions',
    role: 'admin',
    summary: 'Queue a VERIFIED or FAILED version for validation again; the report history is kept',
    params: versionParams,
    response: Version,
    status: 202,
    run: ({ deps, params }) => requestRevalidation(deps, keyOf(params)),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/deprecate',
    group: 'versions',
    role: 'admin',
    summary: 'Deprecate a version (admin): it is never served again; aliases to it fall back',
    params: versionParams,
    body: DeprecateVersionRequest,
    bodyOptional: true,
    response: Version,
    run: ({ deps, params, body }) => deprecateVersion(deps, keyOf(params), body.reason),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/versions/{version}/reports',
    group: 'versions',
    role: 'reader',
    summary: 'Validation report history, newest first',
    params: versionParams,
    query: ListQuery,
    response: Page(ValidationReport),
    run: ({ deps, params, query }) => listReports(deps, keyOf(params), query),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/resolve/{ref}',
    group: 'versions',
    role: 'reader',
    summary: 'Resolve a version string, an alias or latest to a version',
    params: { name: ModelName, ref: VersionRef },
    response: Version,
    run: ({ deps, params }) => resolveVersion(deps, params.name, params.ref),
  }),
];
