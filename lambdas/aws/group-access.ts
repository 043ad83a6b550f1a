import type { RouteGroup } from '../routes.js';

/**
 * What each route group's Lambda may touch on AWS: the one table both the CDK app (IAM grants and
 * environment, cdk/constructs/registry-api.ts) and the entry points (which variables they demand)
 * read, so a grant and the code that needs it cannot drift apart.
 *
 * Least privilege: a group that only serves reader routes gets read-only table access, and only the
 * groups that hand out upload URLs may write blobs. Presigned URLs carry the rights of the Lambda
 * role that signed them, so these grants are also the ceiling of what any client can do with a URL.
 */
export interface GroupAccess {
  /** `read`: GetItem/Query/Scan only; `readWrite` adds conditional Put/Update/Delete. */
  readonly table: 'read' | 'readWrite';
  /** HeadObject/GetObject on blobs: `stat` before commit and signing download URLs. */
  readonly readBlobs: boolean;
  /** PutObject on blobs: signing upload URLs. */
  readonly writeBlobs: boolean;
  /** states:StartExecution on the validation state machine (commit, re-validate). */
  readonly startsValidation: boolean;
}

export const GROUP_ACCESS: Readonly<Record<RouteGroup, GroupAccess>> = {
  models: { table: 'readWrite', readBlobs: false, writeBlobs: false, startsValidation: false },
  versions: { table: 'readWrite', readBlobs: true, writeBlobs: true, startsValidation: true },
  aliases: { table: 'readWrite', readBlobs: false, writeBlobs: false, startsValidation: false },
  downloads: { table: 'read', readBlobs: true, writeBlobs: false, startsValidation: false },
  operations: { table: 'readWrite', readBlobs: true, writeBlobs: false, startsValidation: true },
};
