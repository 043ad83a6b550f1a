import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { BlobBucket } from '../constructs/blob-bucket.js';
import { RegistryTable } from '../constructs/registry-table.js';
import { SigningKey } from '../constructs/signing-key.js';

/**
 * Everything that holds data (and the signing key nodes trust): deployed rarely, retained on delete, termination-protected. The
 * stateless stacks refer to it and can be destroyed and recreated without losing a model.
 */
export class StatefulStack extends Stack {
  readonly registry: RegistryTable;
  readonly blobs: BlobBucket;
  readonly signingKey: SigningKey;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, { terminationProtection: true, ...props });
    this.registry = new RegistryTable(this, 'Registry');
    this.blobs = new BlobBucket(this, 'BlobStore');
    this.signingKey = new SigningKey(this, 'SigningKey');
  }
}
