import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { GpuCapacity } from '../constructs/gpu-capacity.js';
import { ValidationPipeline } from '../constructs/validation-pipeline.js';
import { ValidatorTask } from '../constructs/validator-task.js';
import type { ModelgateSettings } from '../settings.js';
import type { StatefulStack } from './stateful-stack.js';

export interface ValidationStackProps extends StackProps {
  readonly stateful: StatefulStack;
  readonly settings: ModelgateSettings;
  readonly logRetention: import('aws-cdk-lib/aws-logs').RetentionDays;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** GPU capacity, the validator task and the Step Functions pipeline that runs it. */
export class ValidationStack extends Stack {
  readonly capacity: GpuCapacity;
  readonly validator: ValidatorTask;
  readonly pipeline: ValidationPipeline;

  constructor(scope: Construct, id: string, props: ValidationStackProps) {
    super(scope, id, props);
    const { settings, stateful } = props;
    const table = stateful.registry.table;
    const bucket = stateful.blobs.bucket;
    this.capacity = new GpuCapacity(this, 'GpuCapacity', {
      instanceType: settings.gpuInstanceType,
      minCapacity: settings.gpuMinCapacity,
      maxCapacity: settings.gpuMaxCapacity,
      diskGiB: settings.gpuDiskGiB,
      logRetention: props.logRetention,
    });
    this.validator = new ValidatorTask(this, 'Validator', {
      image:
        settings.validatorImage === 'ecr'
          ? { kind: 'ecr', tag: settings.validatorImageTag }
          : { kind: 'asset' },
      table,
      gsiNames: [stateful.registry.gsi1IndexName, stateful.registry.gsi2IndexName],
      bucket,
      blobPrefix: stateful.blobs.blobPrefix,
      memoryMiB: settings.validatorMemoryMiB,
      cpuUnits: settings.validatorCpuUnits,
      metricsNamespace: settings.metricsNamespace,
      nodeClassesJson: JSON.stringify(settings.nodeClasses),
      logRetention: props.logRetention,
    });
    this.pipeline = new ValidationPipeline(this, 'Pipeline', {
      table,
      gsiNames: [stateful.registry.gsi1IndexName, stateful.registry.gsi2IndexName],
      bucket,
      vpc: this.capacity.vpc,
      cluster: this.capacity.cluster,
      capacityProvider: this.capacity.capacityProvider,
      validator: this.validator,
      taskDiskBytes: (settings.gpuDiskGiB - settings.gpuDiskReservedGiB) * GiB,
      taskMemoryBytes: (settings.validatorMemoryMiB - settings.validatorOverheadMiB) * MiB,
      taskTimeout: Duration.minutes(settings.validationTimeoutMinutes),
      infraRetries: settings.validationInfraRetries,
      metricsNamespace: settings.metricsNamespace,
      nodeClassesJson: JSON.stringify(settings.nodeClasses),
      logRetention: props.logRetention,
      signingKey: stateful.signingKey,
    });
  }
}
