import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { S3KeyLayout } from '../../adapters/s3/s3-key-layout.js';
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
 * What `stat` and downloads read: GetObject on blobs (HeadObject is authorized by it too) and on the
 * corrupt marks (`stat` reads a blob's mark), and ListBucket on the bucket: without it S3 answers
 * HeadObject for a missing blob with 403 instead of 404, and `stat` could not tell "not uploaded yet"
 * from "forbidden". (A `s3:prefix` condition would not help: HeadObject carries no prefix, so the
 * condition would never match.) Without GetObject on the marks, S3 answers 403 for a mark that does
 * not exist, and every `stat` fails.
 */
export function grantBlobRead(role: IRole, bucket: IBucket, keys: S3KeyLayout): void {
  const prefixes = [keys.blobs, keys.corruptMarks];
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['s3:GetObject'], resources: objectsUnder(bucket, prefixes) }),
  );
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
  );
  acknowledgePrefixes(role, prefixes);
}

/**
 * PutObject on blobs (which also authorizes the multipart calls: create, upload part, complete): what an
 * upload URL signed by this role can do. AbortMultipartUpload so that parts refused at commit are dropped
 * at once; nothing deletes an object. Never the marks: an uploader's URL cannot vouch for bytes.
 */
export function grantBlobWrite(role: IRole, bucket: IBucket, keys: S3KeyLayout): void {
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: objectsUnder(bucket, [keys.blobs]),
    }),
  );
  acknowledgePrefixes(role, [keys.blobs]);
}

/**
 * What a validation reads and writes besides the blobs (`materialize`, `markCorrupt`): GetObject and
 * PutObject on the corrupt marks and the proofs of hashed bytes, and GetObjectVersion on blobs, since
 * `materialize` reads exactly the version its HEAD found (the bucket is versioned), so no upload in
 * between can stand in for bytes a proof vouches for. The blobs themselves stay read-only.
 */
export function grantMarksAndProofs(role: IRole, bucket: IBucket, keys: S3KeyLayout): void {
  const prefixes = [keys.corruptMarks, keys.proofs];
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: objectsUnder(bucket, prefixes),
    }),
  );
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['s3:GetObjectVersion'], resources: objectsUnder(bucket, [keys.blobs]) }),
  );
  acknowledgePrefixes(role, [...prefixes, keys.blobs]);
}

const objectsUnder = (bucket: IBucket, prefixes: readonly string[]): string[] =>
  prefixes.map((p) => bucket.arnForObjects(`${p}*`));

/**
 * Blobs are content-addressed (`blobs/sha256/<2 hex>/<64 hex>`) and so are their marks: the keys a role
 * may touch cannot be listed in advance, only their prefixes. Each wildcard is one such prefix, never the
 * whole bucket.
 */
function acknowledgePrefixes(role: IRole, prefixes: readonly string[]): void {
  for (const prefix of prefixes)
    acknowledgeWildcards(
      role,
      new RegExp(`^Resource::.*/${escapeRegExp(prefix)}\\*$`),
      `Keys under ${prefix} are SHA-256 content addresses: that prefix is the narrowest resource covering them.`,
    );
}
