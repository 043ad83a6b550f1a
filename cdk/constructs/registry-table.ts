import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  Billing,
  type ITableV2,
  ProjectionType,
  TableEncryptionV2,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { METADATA_TABLE_KEYS } from '../../adapters/dynamodb/dynamodb-metadata-store.js';

export interface RegistryTableProps {
  /**
   * What becomes of the table when the stack is deleted: the registry's metadata outlives any stack
   * unless a throw-away environment says otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The registry's metadata (models, versions, aliases, reports) in one DynamoDB table, keyed exactly as
 * the adapter (adapters/dynamodb) expects: the key names are imported from it, not repeated.
 */
export class RegistryTable extends Construct {
  readonly table: ITableV2;
  /** The GSIs the adapter queries (listings, versions by status; by provider). */
  readonly gsi1IndexName: string = METADATA_TABLE_KEYS.gsi1.indexName;
  readonly gsi2IndexName: string = METADATA_TABLE_KEYS.gsi2.indexName;

  constructor(scope: Construct, id: string, props: RegistryTableProps = {}) {
    super(scope, id);
    const k = METADATA_TABLE_KEYS;
    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: k.partitionKey, type: AttributeType.STRING },
      sortKey: { name: k.sortKey, type: AttributeType.STRING },
      // On-demand: traffic is bursty (deploy waves resolving aliases) and tiny between waves.
      billing: Billing.onDemand(),
      globalSecondaryIndexes: [
        {
          indexName: k.gsi1.indexName,
          partitionKey: { name: k.gsi1.partitionKey, type: AttributeType.STRING },
          sortKey: { name: k.gsi1.sortKey, type: AttributeType.STRING },
          // ALL: listVersionsByStatus answers whole versions without a second read per item.
          projectionType: ProjectionType.ALL,
        },
        {
          // Models of a provider, and load reports by provider and time (health, quarantine, dashboard).
          indexName: k.gsi2.indexName,
          partitionKey: { name: k.gsi2.partitionKey, type: AttributeType.STRING },
          sortKey: { name: k.gsi2.sortKey, type: AttributeType.STRING },
          projectionType: ProjectionType.ALL,
        },
      ],
      // A bad deploy or a buggy writer can be undone to the second (35 days).
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Neither a console click nor a CloudFormation replacement can drop the registry.
      deletionProtection: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      // AWS-managed KMS key: encrypted at rest with a key whose use is logged in CloudTrail, without a
      // key policy of our own to get wrong.
      encryption: TableEncryptionV2.awsManagedKey(),
    });
  }
}
