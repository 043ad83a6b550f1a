import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { acknowledgeWildcards, escapeRegExp } from '../nag.js';

/**
 * The registry's data permissions, written out action by action instead of the L2 `grant*` helpers:
 * those add wildcard actions (`s3:GetObject*`, `s3:List*`, `s3:DeleteObject*`) and reach every index
 * (`index/*`). Every action here is one the adapters (adapters/dynamodb, adapters/s3) issue; none is `*`.
 */

/**
 * GetItem/Query (table and the one GSI) for reads; for writes the conditional Put/Update/Delete and
 * ConditionCheckItem, which are also exactly what TransactWriteItems is authorized against.
 */
export function grantTable(
  role: IRole,
  table: ITableV2,
  gsiNames: readonly string[],
  access: 'read' | 'readWrite',
): void {
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:Query'],
      resources: [table.tableArn, ...gsiNames.map((g) => `${table.tableArn}/index/${g}`)],
    }),
  );
  if (access === 'readWrite') {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:ConditionCheckItem',
        ],
        resources: [table.tableArn],
      }),
    );
  }
}

/**
 * GetObject on blobs (HeadObject is authorized by it too), and ListBucket on the bucket: without it
 * S3 answers HeadObject for a missing blob with 403 instead of 404, and `stat` could not tell "not
 * uploaded yet" from "forbidden". (A `s3:prefix` condition would not help: HeadObject carries no
 * prefix, so the condition would never match.) The bucket holds nothing but hash-named blobs.
 */
export function grantBlobRead(role: IRole, bucket: IBucket, blobPrefix: string): void {
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${blobPrefix}*`)] }),
  );
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
  );
  acknowledgeBlobPrefix(role, blobPrefix);
}

/**
 * PutObject on blobs (which also authorizes the multipart calls: create, upload part, complete): what an
 * upload URL signed by this role can do. AbortMultipartUpload so that parts refused at commit are dropped
 * at once; nothing deletes an object.
 */
export function grantBlobWrite(role: IRole, bucket: IBucket, blobPrefix: string): void {
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: [bucket.arnForObjects(`${blobPrefix}*`)],
    }),
  );
  acknowledgeBlobPrefix(role, blobPrefix);
}

/**
 * Blobs are content-addressed (`blobs/sha256/<2 hex>/<64 hex>`): the keys a role may touch cannot be
 * listed in advance, only their prefix. The wildcard is that prefix, never the whole bucket.
 */
function acknowledgeBlobPrefix(role: IRole, blobPrefix: string): void {
  acknowledgeWildcards(
    role,
    new RegExp(`^Resource::.*/${escapeRegExp(blobPrefix)}\\*$`),
    `Blob keys are SHA-256 content addresses under ${blobPrefix}: that prefix is the narrowest resource covering them.`,
  );
}
