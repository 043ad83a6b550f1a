import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { GpuCapacity } from '../constructs/gpu-capacity.js';
import { ValidationPipeline } from '../constructs/validation-pipeline.js';
import { ValidatorJob } from '../constructs/validator-job.js';
import type { ModelgateSettings } from '../settings.js';
import type { StatefulStack } from './stateful-stack.js';

export interface ValidationStackProps extends StackProps {
  readonly stateful: StatefulStack;
  readonly settings: ModelgateSettings;
  readonly logRetention: RetentionDays;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** Launching a GPU instance and pulling the image, per attempt, on top of the attempt's own limit. */
const ATTEMPT_START = Duration.minutes(15);

/**
 * The settings the validator and the validation Lambdas share, under their MODELGATE_ names
 * (schemas/config.schema.ts), from the context: one lease for the job that takes it and the sweeper
 * that checks it.
 */
export function validationSharedEnvironment(settings: ModelgateSettings): Record<string, string> {
  return {
    MODELGATE_LEASE_MS: String(settings.validationLeaseSeconds * 1000),
    MODELGATE_HEARTBEAT_MS: String(settings.validationHeartbeatSeconds * 1000),
    MODELGATE_MAX_ATTEMPTS: String(settings.validationJobAttempts),
  };
}

/** GPU capacity (AWS Batch), the validator job and the Step Functions pipeline that submits it. */
export class ValidationStack extends Stack {
  readonly capacity: GpuCapacity;
  readonly validator: ValidatorJob;
  readonly pipeline: ValidationPipeline;

  constructor(scope: Construct, id: string, props: ValidationStackProps) {
    super(scope, id, props);
    const { settings, stateful } = props;
    const table = stateful.registry.table;
    const bucket = stateful.blobs.bucket;
    const gsiNames = [stateful.registry.gsi1IndexName, stateful.registry.gsi2IndexName];
    const queueTimeout = Duration.minutes(settings.validationQueueTimeoutMinutes);
    const attemptTimeout = Duration.minutes(settings.validationTimeoutMinutes);
    const shared = validationSharedEnvironment(settings);
    const nodeClassesJson = JSON.stringify(settings.nodeClasses);

    this.capacity = new GpuCapacity(this, 'GpuCapacity', {
      instanceTypes: settings.gpuInstanceTypes,
      maxVcpus: settings.gpuMaxVcpus,
      spot: settings.gpuSpot,
      diskGiB: settings.gpuDiskGiB,
      blockedJobTimeout: queueTimeout,
      logRetention: props.logRetention,
    });
    this.validator = new ValidatorJob(this, 'Validator', {
      image:
        settings.validatorImage === 'ecr' && settings.validatorImageTag
          ? { kind: 'ecr', tag: settings.validatorImageTag }
          : { kind: 'asset' },
      table,
      gsiNames,
      bucket,
      keyLayout: stateful.blobs.keyLayout,
      memoryMiB: settings.validatorMemoryMiB,
      vcpus: settings.validatorVcpus,
      attempts: settings.validationJobAttempts,
      attemptTimeout,
      logRetention: props.logRetention,
      environment: {
        MODELGATE_TABLE_NAME: table.tableName,
        MODELGATE_BUCKET_NAME: bucket.bucketName,
        MODELGATE_METRICS_NAMESPACE: settings.metricsNamespace,
        MODELGATE_NODE_CLASSES: nodeClassesJson,
        ...shared,
        POWERTOOLS_SERVICE_NAME: 'modelgate-gpu-validator',
        MODELGATE_SCRATCH_DIR: '/scratch',
      },
    });
    // The job's whole life: blocked in the queue at most queueTimeout, then every attempt.
    let jobTimeout = queueTimeout;
    for (let i = 0; i < settings.validationJobAttempts; i++)
      jobTimeout = jobTimeout.plus(attemptTimeout).plus(ATTEMPT_START);
    this.pipeline = new ValidationPipeline(this, 'Pipeline', {
      table,
      gsiNames,
      bucket,
      jobQueue: this.capacity.jobQueue,
      validator: this.validator,
      taskDiskBytes: (settings.gpuDiskGiB - settings.gpuDiskReservedGiB) * GiB,
      taskMemoryBytes: (settings.validatorMemoryMiB - settings.validatorOverheadMiB) * MiB,
      jobTimeout,
      sharedEnvironment: shared,
      metricsNamespace: settings.metricsNamespace,
      nodeClassesJson,
      logRetention: props.logRetention,
      signingKey: stateful.signingKey,
    });
  }
}
