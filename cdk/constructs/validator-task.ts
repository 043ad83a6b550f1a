import { existsSync } from 'node:fs';
import { CfnOutput, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Repository, TagMutability } from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  type ContainerDefinition,
  ContainerImage,
  Ec2TaskDefinition,
  LogDrivers,
  NetworkMode,
  Scope,
} from 'aws-cdk-lib/aws-ecs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { repoPath } from '../paths.js';
import { grantBlobRead, grantTable } from './data-access.js';

/** Where the image comes from: built from gpu-validator/Dockerfile at deploy time, or pushed to ECR by CI. */
export type ValidatorImageSource =
  | { readonly kind: 'asset' }
  | { readonly kind: 'ecr'; readonly tag: string };

export interface ValidatorTaskProps {
  /** Where the validator's container image comes from. Required. */
  readonly image: ValidatorImageSource;
  /** The metadata table the task heartbeats and records its report in. Required. */
  readonly table: ITableV2;
  /** The table's GSIs, which the adapter queries. Required. */
  readonly gsiNames: readonly string[];
  /** The blob bucket the task reads model files from. Required. */
  readonly bucket: IBucket;
  /** Key prefix of the blobs in the bucket: read access is granted under it only. Required. */
  readonly blobPrefix: string;
  /** Hard memory limit of the container in MiB. Required. */
  readonly memoryMiB: number;
  /** CPU units of the task (1024 = one vCPU). Required. */
  readonly cpuUnits: number;
  /** Namespace of the EMF metrics the task writes. Required. */
  readonly metricsNamespace: string;
  /** MODELGATE_NODE_CLASSES: JSON of the serving node classes the report is judged against. Required. */
  readonly nodeClassesJson: string;
  /** How long the task's logs are kept. Required. */
  readonly logRetention: RetentionDays;
}

/** The container's name: the state machine's overrides address it. */
export const VALIDATOR_CONTAINER = 'gpu-validator';

/**
 * The validation lease on AWS (MODELGATE_LEASE_MS of the pre-check, the sweeper and the validator task),
 * 30 minutes: the claim must outlast a GPU instance cold start (scale-out from zero) before the
 * validator's first heartbeat, or the sweeper could hand the job to another execution meanwhile.
 */
export const VALIDATION_LEASE_MS = 30 * 60 * 1000;

/**
 * The gpu-validator ECS task: one GPU, a hard memory limit, a task-scoped scratch volume, and a task
 * role that can read blobs and settle the version (the validator records its own report).
 *
 * Contract with the container's entry point (gpu-validator/): the state machine sets
 * `MODELGATE_MODEL`, `MODELGATE_VERSION` and `MODELGATE_LEASE_OWNER` (the execution id that already
 * claimed the version: it is VALIDATING under that lease). The entry point heartbeats and completes
 * the validation as that lease owner, and exits 0 once it has recorded any outcome, passed or failed;
 * a non-zero exit means "nothing recorded" and is retried as an infrastructure failure. If the version
 * is no longer VALIDATING under that lease (a retry after the outcome was recorded), it exits 0 at once.
 */
export class ValidatorTask extends Construct {
  readonly taskDefinition: Ec2TaskDefinition;
  readonly container: ContainerDefinition;

  constructor(scope: Construct, id: string, props: ValidatorTaskProps) {
    super(scope, id);
    this.taskDefinition = new Ec2TaskDefinition(this, 'TaskDefinition', {
      // awsvpc: the task gets its own ENI and security group rather than sharing the instance's.
      networkMode: NetworkMode.AWS_VPC,
      volumes: [
        {
          name: 'scratch',
          // Task-scoped: the staged model files disappear with the task, so no validation sees another's files.
          dockerVolumeConfiguration: { scope: Scope.TASK, driver: 'local' },
        },
      ],
    });
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.container = this.taskDefinition.addContainer(VALIDATOR_CONTAINER, {
      containerName: VALIDATOR_CONTAINER,
      image: this.image(props.image),
      memoryLimitMiB: props.memoryMiB,
      cpu: props.cpuUnits,
      gpuCount: 1,
      essential: true,
      stopTimeout: Duration.seconds(120),
      logging: LogDrivers.awsLogs({ streamPrefix: 'validator', logGroup }),
      environment: {
        MODELGATE_TABLE_NAME: props.table.tableName,
        MODELGATE_BUCKET_NAME: props.bucket.bucketName,
        METRICS_NAMESPACE: props.metricsNamespace,
        MODELGATE_NODE_CLASSES: props.nodeClassesJson,
        // The lease the pre-check claimed with: the task's heartbeats extend it by as much.
        MODELGATE_LEASE_MS: String(VALIDATION_LEASE_MS),
        POWERTOOLS_SERVICE_NAME: 'modelgate-gpu-validator',
        SCRATCH_DIR: '/scratch',
      },
    });
    this.container.addMountPoints({ containerPath: '/scratch', sourceVolume: 'scratch', readOnly: false });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only resource names (table, bucket, metric namespace) and paths; there are no secrets: the task role grants access.',
    });

    // Reads the blobs it validates; writes only the version record and its report (never blobs).
    grantTable(this.taskDefinition.taskRole, props.table, props.gsiNames, 'readWrite');
    grantBlobRead(this.taskDefinition.taskRole, props.bucket, props.blobPrefix);
    const executionRole = this.taskDefinition.obtainExecutionRole();
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken (image pulls) has no resource-level permissions; the layer reads are limited to the repository.',
    });
  }

  private image(source: ValidatorImageSource): ContainerImage {
    if (source.kind === 'ecr') {
      // CI builds and pushes the image (no Docker on the deploying machine); the tag picks the build.
      const repository = new Repository(this, 'Repository', {
        imageScanOnPush: true,
        imageTagMutability: TagMutability.MUTABLE,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [{ description: 'keep the last 20 images', maxImageCount: 20 }],
      });
      new CfnOutput(this, 'RepositoryUri', {
        value: repository.repositoryUri,
        description: 'Push gpu-validator images here',
      });
      return ContainerImage.fromEcrRepository(repository, source.tag);
    }
    const dockerfile = 'gpu-validator/Dockerfile';
    if (!existsSync(repoPath(dockerfile))) {
      throw new Error(
        `${dockerfile} does not exist: add it, or synthesize with -c validatorImage=ecr -c validatorImageTag=<tag> to use an image pushed to the stack's ECR repository`,
      );
    }
    // Synth only stages the build context; `cdk deploy` builds and pushes it (that step needs Docker).
    // The context is the repository root because the validator imports core/ and schemas/.
    return ContainerImage.fromAsset(repoPath(), {
      file: dockerfile,
      platform: Platform.LINUX_AMD64,
      exclude: [
        'node_modules',
        '**/node_modules',
        'dist',
        'cdk.out',
        '.git',
        'test',
        'test-artifacts',
        '.modelgate',
        'bench',
      ],
    });
  }
}
