import { z } from 'zod';
import { commitVersion, startVersion, uploadPartTargets } from '../../core/publish.js';
import { resolveVersion } from '../../core/resolve.js';
import { requestRevalidation } from '../../core/validation-jobs.js';
import { deprecateVersion, getVersion, listReports, listVersions } from '../../core/versions.js';
import { ModelName, VersionString } from '../../schemas/names.schema.js';
import { ValidationReport } from '../../schemas/report.schema.js';
import {
  CommitVersionRequest,
  DeprecateVersionRequest,
  ListQuery,
  ListVersionsQuery,
  Page,
  StartVersionRequest,
  StartVersionResponse,
  UploadPartsRequest,
  UploadPartsResponse,
  Version,
} from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';

const Ref = z.string().min(1).max(128);
const versionParams = { name: ModelName, version: VersionString };

export const versionRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/versions',
    summary: 'List versions, newest first, optionally by status',
    params: { name: ModelName },
    query: ListVersionsQuery,
    response: Page(Version),
    run: ({ deps, param, query }) => listVersions(deps, param('name', ModelName), query),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions',
    summary:
      'Start a version: declare its manifest and get upload targets for the blobs the registry lacks; declaring a PENDING_UPLOAD version again with the same manifest resumes it',
    params: { name: ModelName },
    body: StartVersionRequest,
    response: StartVersionResponse,
    status: 201,
    run: ({ deps, param, body }) => startVersion(deps, param('name', ModelName), body),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/versions/{version}',
    summary: 'Get a version with its status and latest validation report',
    params: versionParams,
    response: Version,
    run: ({ deps, param }) =>
      getVersion(deps, { model: param('name', ModelName), version: param('version', VersionString) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/commit',
    summary:
      'Commit an uploaded version: assembles the multipart uploads named in the body, then every blob must be stored; queues it for validation',
    params: versionParams,
    body: CommitVersionRequest,
    bodyOptional: true,
    response: Version,
    run: ({ deps, param, body }) =>
      commitVersion(
        deps,
        { model: param('name', ModelName), version: param('version', VersionString) },
        body,
      ),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/upload-parts',
    summary: "Upload URLs for parts of a multipart upload, each signed with its part's SHA-256",
    params: versionParams,
    body: UploadPartsRequest,
    response: UploadPartsResponse,
    run: ({ deps, param, body }) =>
      uploadPartTargets(
        deps,
        { model: param('name', ModelName), version: param('version', VersionString) },
        body,
      ),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/validate',
    summary: 'Queue a VERIFIED or FAILED version for validation again; the report history is kept',
    params: versionParams,
    response: Version,
    status: 202,
    run: ({ deps, param }) =>
      requestRevalidation(deps, {
        model: param('name', ModelName),
        version: param('version', VersionString),
      }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/deprecate',
    summary: 'Deprecate a version (admin): it is never served again; aliases to it fall back',
    params: versionParams,
    body: DeprecateVersionRequest,
    bodyOptional: true,
    response: Version,
    run: ({ deps, param, body }) =>
      deprecateVersion(
        deps,
        { model: param('name', ModelName), version: param('version', VersionString) },
        body.reason,
      ),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/versions/{version}/reports',
    summary: 'Validation report history, newest first',
    params: versionParams,
    query: ListQuery,
    response: Page(ValidationReport),
    run: ({ deps, param, query }) =>
      listReports(deps, { model: param('name', ModelName), version: param('version', VersionString) }, query),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/resolve/{ref}',
    summary: 'Resolve a version string, an alias or latest to a version',
    params: { name: ModelName, ref: Ref },
    response: Version,
    run: ({ deps, param }) => resolveVersion(deps, param('name', ModelName), param('ref', Ref)),
  }),
];
