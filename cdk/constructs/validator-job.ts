import { existsSync } from 'node:fs';
import { CfnOutput, type Duration, IgnoreMode, RemovalPolicy, Size, Validations } from 'aws-cdk-lib';
import {
  Action,
  EcsEc2ContainerDefinition,
  EcsJobDefinition,
  Reason,
  RetryStrategy,
} from 'aws-cdk-lib/aws-batch';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Repository, TagMutability } from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { ContainerImage, LogDrivers } from 'aws-cdk-lib/aws-ecs';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { S3KeyLayout } from '../../adapters/s3/s3-key-layout.js';
import { VALIDATOR_EXIT } from '../../schemas/validation-task.schema.js';
import { repoPath } from '../paths.js';
import { grantBlobRead, grantMarksAndProofs, grantTable } from './data-access.js';

/** Where the image comes from: built from gpu-validator/Dockerfile at deploy time, or pushed to ECR by CI. */
export type ValidatorImageSource =
  | { readonly kind: 'asset' }
  | { readonly kind: 'ecr'; readonly tag: string };

export interface ValidatorJobProps {
  /** Where the validator's container image comes from. Required. */
  readonly image: ValidatorImageSource;
  /** The metadata table the job heartbeats and records its report in. Required. */
  readonly table: ITableV2;
  /** The table's GSIs, which the adapter queries. Required. */
  readonly gsiNames: readonly string[];
  /** The blob bucket the job reads model files from. Required. */
  readonly bucket: IBucket;
  /** Where the store keeps blobs and marks: the job reads blobs and marks and writes marks only. Required. */
  readonly keyLayout: S3KeyLayout;
  /** Hard memory limit of the container in MiB. Required. */
  readonly memoryMiB: number;
  /** vCPUs of one job. Required. */
  readonly vcpus: number;
  /** Attempts of one job; only host failures and infrastructure exits are retried (`RETRY_RULES`). Required. */
  readonly attempts: number;
  /** Time limit of one attempt; Batch stops the container past it and does not retry. Required. */
  readonly attemptTimeout: Duration;
  /** The registry and validation settings the container reads (MODELGATE_*, schemas/config.schema.ts). Required. */
  readonly environment: Readonly<Record<string, string>>;
  /** How long the job's logs are kept. Required. */
  readonly logRetention: RetentionDays;
}

/**
 * The retry strategy of the validation job, in Batch's order (the first rule that matches decides; a
 * failure no rule matches would be retried, so the last rule ends every other exit):
 * a lost host (terminated instance, reclaimed Spot) and an infrastructure exit are retried; a
 * configuration exit, an image that cannot be pulled and any other exit are final. A recorded verdict,
 * passed or failed, exits 0: the job succeeds and nothing is retried.
 */
export const RETRY_RULES = [
  RetryStrategy.of(Action.RETRY, Reason.custom({ onStatusReason: 'Host EC2*' })),
  RetryStrategy.of(Action.RETRY, Reason.custom({ onExitCode: String(VALIDATOR_EXIT.infrastructure) })),
  RetryStrategy.of(Action.EXIT, Reason.custom({ onExitCode: String(VALIDATOR_EXIT.misconfigured) })),
  RetryStrategy.of(Action.EXIT, Reason.CANNOT_PULL_CONTAINER),
  RetryStrategy.of(Action.EXIT, Reason.custom({ onExitCode: '*' })),
] as const;

/**
 * The gpu-validator as an AWS Batch job definition: one GPU, a hard memory limit, an attempt timeout,
 * the retry strategy above, and a job role that can read blobs and settle the version (the validator
 * records its own report). Scratch space is the container's own writable layer (`/scratch` in the
 * image), on the instance's root volume, and goes with the container.
 *
 * Contract with the container's entry point (gpu-validator/ecs-task.ts): the state machine sets
 * `MODELGATE_MODEL`, `MODELGATE_VERSION` and `MODELGATE_LEASE_OWNER` (its execution id, for which the
 * pre-check reserved the version). The container takes the lease when it starts, heartbeats it every
 * `MODELGATE_HEARTBEAT_MS`, and exits as VALIDATOR_EXIT says.
 */
export class ValidatorJob extends Construct {
  readonly jobDefinition: EcsJobDefinition;
  readonly container: EcsEc2ContainerDefinition;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ValidatorJobProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const jobRole = new Role(this, 'JobRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'gpu-validator job: read blobs, settle the version it validates',
    });
    // Reads the blobs it validates; writes the version record, its report and the blobs' marks (a rotten
    // blob, the proof of bytes it hashed), never a blob.
    grantTable(jobRole, props.table, props.gsiNames, 'readWrite');
    grantBlobRead(jobRole, props.bucket, props.keyLayout);
    grantMarksAndProofs(jobRole, props.bucket, props.keyLayout);

    this.container = new EcsEc2ContainerDefinition(this, 'Container', {
      image: this.image(props.image),
      cpu: props.vcpus,
      memory: Size.mebibytes(props.memoryMiB),
      gpu: 1,
      jobRole,
      logging: LogDrivers.awsLogs({ streamPrefix: 'validator', logGroup: this.logGroup }),
      environment: { ...props.environment },
    });
    const executionRole = this.container.executionRole;
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken (image pulls) has no resource-level permissions; the layer reads are limited to the repository.',
    });

    this.jobDefinition = new EcsJobDefinition(this, 'JobDefinition', {
      container: this.container,
      retryAttempts: props.attempts,
      retryStrategies: [...RETRY_RULES],
      timeout: props.attemptTimeout,
      propagateTags: true,
    });
  }

  private image(source: ValidatorImageSource): ContainerImage {
    if (source.kind === 'ecr') {
      // CI builds and pushes the image by git sha (`npm run image:push`); the tag picks the build. Tags
      // are immutable: a sha names one image for good.
      const repository = new Repository(this, 'Repository', {
        imageScanOnPush: true,
        imageTagMutability: TagMutability.IMMUTABLE,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [{ description: 'keep the last 20 images', maxImageCount: 20 }],
      });
      new CfnOutput(this, 'RepositoryUri', {
        value: repository.repositoryUri,
        description: 'Push gpu-validator images here (npm run image:push)',
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
    // The context is the repository root because the validator imports core/ and schemas/; /.dockerignore
    // allows only what the image build reads, so other changes do not make a new image.
    return ContainerImage.fromAsset(repoPath(), {
      file: dockerfile,
      platform: Platform.LINUX_AMD64,
      // The asset reads /.dockerignore itself; Docker's own matching, as `docker build` applies it.
      ignoreMode: IgnoreMode.DOCKER,
    });
  }
}
