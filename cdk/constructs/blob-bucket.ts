import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { S3_KEY_LAYOUT, type S3KeyLayout } from '../../adapters/s3/s3-key-layout.js';

export interface BlobBucketProps {
  /**
   * Days after which S3 aborts an incomplete multipart upload (and stops billing its parts).
   * @default 7
   */
  readonly abortIncompleteUploadsAfterDays?: number;
  /**
   * Days a replaced or deleted object version is kept, so an accidental overwrite can be undone.
   * @default 30
   */
  readonly noncurrentVersionDays?: number;
  /**
   * Days server access logs are kept.
   * @default 365
   */
  readonly accessLogDays?: number;
  /**
   * What becomes of the bucket (and its access-log bucket) when the stack is deleted: the blobs outlive
   * any stack unless a throw-away environment says otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Content-addressed model files (`blobs/sha256/…`, adapters/s3). Nobody reaches it but the registry's
 * own roles: clients get presigned URLs, so the bucket is private, TLS-only and versioned, and every
 * request is recorded in a separate access-log bucket.
 */
export class BlobBucket extends Construct {
  readonly bucket: IBucket;
  readonly accessLogBucket: IBucket;
  /** Where the store keeps blobs and their marks (adapters/s3/s3-key-layout.ts): grants are per prefix. */
  readonly keyLayout: S3KeyLayout = S3_KEY_LAYOUT;

  constructor(scope: Construct, id: string, props: BlobBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    const accessLogs = new Bucket(this, 'AccessLogs', {
      // Server access logs only support SSE-S3 on the target bucket.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      removalPolicy,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(props.accessLogDays ?? 365),
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the access-log target of the blob bucket; logging it into itself would loop and another log bucket would only move the question.',
    });
    this.accessLogBucket = accessLogs;

    this.bucket = new Bucket(this, 'Blobs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      removalPolicy,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'blobs/',
      lifecycleRules: [
        {
          id: 'abort-incomplete-multipart-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(props.abortIncompleteUploadsAfterDays ?? 7),
        },
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 30),
        },
      ],
    });
  }
}
