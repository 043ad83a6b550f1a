import { join } from 'node:path';
import { FsBlobStore } from '../adapters/fs-blobs/fs-blob-store.js';
import { UrlSigner } from '../adapters/fs-blobs/url-signer.js';
import { openDatabase } from '../adapters/sqlite/database.js';
import { SqliteMetadataStore } from '../adapters/sqlite/sqlite-metadata-store.js';
import type { BlobStore, MetadataStore } from '../core/ports.js';
import { systemClock } from '../core/ports.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';
import { signingSecret } from './data-dir.js';

/** Where the server keeps metadata and bytes: the one thing that differs between its two wirings. */
export interface Backend {
  readonly name: 'embedded' | 'aws';
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  /** Present when the server itself serves blob bytes (the signed /blobs endpoint). */
  readonly blobEndpoint?: { readonly store: FsBlobStore; readonly signer: UrlSigner };
  close(): void;
}

/** SQLite and a blob folder under the data folder: the default, nothing else to run. */
export async function embeddedBackend(dataDir: string, publicUrl: () => string): Promise<Backend> {
  const db = openDatabase(join(dataDir, 'registry.db'));
  const signer = new UrlSigner(signingSecret(dataDir));
  const store = new FsBlobStore({ root: join(dataDir, 'blobs'), signer, publicUrl, clock: systemClock });
  await store.init();
  return {
    name: 'embedded',
    metadata: new SqliteMetadataStore(db),
    blobs: store,
    blobEndpoint: { store, signer },
    close: () => db.close(),
  };
}

/**
 * DynamoDB and S3, as on AWS: the very adapters the Lambdas use, so the whole flow can run against the
 * AWS wiring on one machine (with DynamoDB Local and an S3-compatible server as endpoints) or against
 * real AWS. Clients upload and download straight to S3 by presigned URL. The SDK is loaded only here.
 */
export async function awsBackend(config: LocalServerConfig): Promise<Backend> {
  const [
    { DynamoDBClient },
    { DynamoDBDocumentClient },
    { S3Client },
    { DynamoDbMetadataStore },
    { S3_CLIENT_CHECKSUM_SETTINGS, S3BlobStore },
  ] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('@aws-sdk/lib-dynamodb'),
    import('@aws-sdk/client-s3'),
    import('../adapters/dynamodb/dynamodb-metadata-store.js'),
    import('../adapters/s3/s3-blob-store.js'),
  ]);
  const region = config.AWS_REGION;
  const dynamo = new DynamoDBClient({
    region,
    ...(config.MODELGATE_DYNAMODB_ENDPOINT ? { endpoint: config.MODELGATE_DYNAMODB_ENDPOINT } : {}),
  });
  const s3 = new S3Client({
    region,
    ...S3_CLIENT_CHECKSUM_SETTINGS,
    ...(config.MODELGATE_S3_ENDPOINT ? { endpoint: config.MODELGATE_S3_ENDPOINT, forcePathStyle: true } : {}),
  });
  const doc = DynamoDBDocumentClient.from(dynamo);
  return {
    name: 'aws',
    metadata: new DynamoDbMetadataStore(doc, config.MODELGATE_TABLE_NAME!),
    blobs: new S3BlobStore(s3, config.MODELGATE_BUCKET_NAME!, {
      multipartThresholdBytes: config.MODELGATE_S3_MULTIPART_THRESHOLD_BYTES,
      partSizeBytes: config.MODELGATE_S3_PART_SIZE_BYTES,
    }),
    close: () => {
      dynamo.destroy();
      s3.destroy();
    },
  };
}
