import { Duration, Validations } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { type IVpc, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { AsgCapacityProvider, ICluster } from 'aws-cdk-lib/aws-ecs';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction, SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Errors,
  Fail,
  IntegrationPattern,
  JitterType,
  JsonPath,
  LogLevel,
  Pass,
  StateMachine,
  Succeed,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import {
  CapacityProviderOptions,
  EcsEc2LaunchTarget,
  EcsRunTask,
  LambdaInvoke,
} from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { acknowledgeWildcards } from '../nag.js';
import { grantTable } from './data-access.js';
import { ModelgateFunction } from './modelgate-function.js';
import type { SigningKey } from './signing-key.js';
import { VALIDATION_LEASE_MS, type ValidatorTask } from './validator-task.js';

/**
 * ECS/Step Functions errors that mean "the infrastructure failed", never "the model failed":
 * `AmazonECS.Unknown` is RunTask's non-empty `failures` (no capacity, e.g. RESOURCE:GPU),
 * `States.TaskFailed` a task that stopped without the validator recording a result (non-zero exit,
 * instance lost, image pull failure). A model that fails validation is recorded by the validator,
 * which then exits 0: it is never retried.
 */
export const INFRASTRUCTURE_ERRORS = [
  'AmazonECS.Unknown',
  'ECS.AmazonECSException',
  'ECS.ServerException',
  Errors.TASKS_FAILED,
] as const;

export interface ValidationPipelineProps {
  /** The key the finalize step signs VERIFIED versions with; none: versions stay unsigned. */
  readonly signingKey?: SigningKey;
  /** The metadata table the pre-check, finalize and sweeper functions read and write. Required. */
  readonly table: ITableV2;
  /** The table's GSIs, which the adapter queries. Required. */
  readonly gsiNames: readonly string[];
  /** The blob bucket the validator task reads. Required. */
  readonly bucket: IBucket;
  /** The VPC the validator task runs in. Required. */
  readonly vpc: IVpc;
  /** The ECS cluster of the GPU capacity. Required. */
  readonly cluster: ICluster;
  /** The GPU Auto Scaling group's capacity provider the task is placed on. Required. */
  readonly capacityProvider: AsgCapacityProvider;
  /** The validator task definition the state machine runs. Required. */
  readonly validator: ValidatorTask;
  /** Scratch bytes one task offers: the pre-check refuses versions that exceed them. Required. */
  readonly taskDiskBytes: number;
  /** Model memory in bytes one task offers: the pre-check refuses versions that exceed it. Required. */
  readonly taskMemoryBytes: number;
  /** Time limit of one validator task run. Required. */
  readonly taskTimeout: Duration;
  /** Most attempts of the task on infrastructure errors (backoff from 60 s, at most 15 min). Required. */
  readonly infraRetries: number;
  /** Namespace of the EMF metrics the functions write. Required. */
  readonly metricsNamespace: string;
  /** MODELGATE_NODE_CLASSES (schemas/config.schema.ts): JSON of the serving node classes. Required. */
  readonly nodeClassesJson: string;
  /** How long the functions' and the state machine's logs are kept. Required. */
  readonly logRetention: RetentionDays;
}

/**
 * The validation state machine started by SfnValidationQueue with `{model, version}`:
 *
 *   Prepare (adds the execution id, the lease owner) → Precheck (claim; fail early on disk/memory)
 *   → Choice: run → RunValidator (ECS RunTask .sync on GPU capacity, retried with backoff on
 *     infrastructure errors) → Finalize; back off → Wait → Precheck; otherwise → Skipped.
 *   Any error after Prepare is caught into `$.failure` → Finalize, which fails a version still
 *   VALIDATING under this execution's lease with TIMEOUT, and the execution then ends FAILED.
 *
 * Failed, timed-out and aborted executions are copied by EventBridge into a dead-letter queue.
 */
export class ValidationPipeline extends Construct {
  readonly stateMachine: StateMachine;
  readonly precheckFunction: IFunction;
  readonly finalizeFunction: IFunction;
  readonly failedExecutions: IQueue;

  constructor(scope: Construct, id: string, props: ValidationPipelineProps) {
    super(scope, id);
    const common = {
      MODELGATE_TABLE_NAME: props.table.tableName,
      MODELGATE_BUCKET_NAME: props.bucket.bucketName,
      METRICS_NAMESPACE: props.metricsNamespace,
      MODELGATE_NODE_CLASSES: props.nodeClassesJson,
      // One lease for every step that reads it: the pre-check's claim, the sweeper's expiry check, the task.
      MODELGATE_LEASE_MS: String(VALIDATION_LEASE_MS),
    };
    const precheck = new ModelgateFunction(this, 'PrecheckFunction', {
      entry: 'lambdas/aws/validation-precheck.lambda.ts',
      description: 'modelgate validation: claim the version and check that it fits a GPU task',
      logRetention: props.logRetention,
      environment: {
        ...common,
        POWERTOOLS_SERVICE_NAME: 'modelgate-validation-precheck',
        VALIDATOR_DISK_BYTES: String(props.taskDiskBytes),
        VALIDATOR_MEMORY_BYTES: String(props.taskMemoryBytes),
      },
    });
    const finalize = new ModelgateFunction(this, 'FinalizeFunction', {
      entry: 'lambdas/aws/validation-finalize.lambda.ts',
      description: 'modelgate validation: fail a version the validator never settled (TIMEOUT)',
      logRetention: props.logRetention,
      environment: { ...common, POWERTOOLS_SERVICE_NAME: 'modelgate-validation-finalize' },
    });
    // Both only read and conditionally update version records; neither touches blobs.
    for (const fn of [precheck, finalize]) grantTable(fn.role, props.table, props.gsiNames, 'readWrite');
    this.precheckFunction = precheck.fn;
    this.finalizeFunction = finalize.fn;
    // Finalize signs what the validator made VERIFIED: the GPU task, which runs untrusted models, has no key.
    if (props.signingKey) {
      props.signingKey.grantSign(finalize.role);
      finalize.fn.addEnvironment('MODELGATE_SIGNING_KMS_KEY_ID', props.signingKey.key.keyArn);
    }

    const taskSecurityGroup = new SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: props.vpc,
      description: 'gpu-validator tasks: no inbound; outbound to S3, DynamoDB and the container registry',
      allowAllOutbound: true,
    });

    // --- states ---
    const prepare = new Pass(this, 'Prepare', {
      comment: 'Keep only the queue input and add the execution id, which is the lease owner',
      parameters: {
        model: JsonPath.stringAt('$.model'),
        version: JsonPath.stringAt('$.version'),
        executionId: JsonPath.executionId,
      },
    });
    const precheckState = new LambdaInvoke(this, 'Precheck claim', {
      lambdaFunction: precheck.fn,
      // No payload: the function receives the state ({model, version, executionId}) as is.
      payloadResponseOnly: true,
      resultPath: '$.precheck',
    });
    const finalizeState = new LambdaInvoke(this, 'Finalize', {
      lambdaFunction: finalize.fn,
      // The whole state, including `failure` when a Catch led here.
      payloadResponseOnly: true,
      resultPath: '$.finalize',
    });
    // A throttled or briefly failing finalize must not leave the version VALIDATING forever.
    finalizeState.addRetry({
      errors: [Errors.ALL],
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 5,
    });

    const runValidator = new EcsRunTask(this, 'Run validator', {
      integrationPattern: IntegrationPattern.RUN_JOB,
      cluster: props.cluster,
      taskDefinition: props.validator.taskDefinition,
      launchTarget: new EcsEc2LaunchTarget({
        capacityProviderOptions: CapacityProviderOptions.custom([
          { capacityProvider: props.capacityProvider.capacityProviderName, weight: 1 },
        ]),
      }),
      subnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [taskSecurityGroup],
      containerOverrides: [
        {
          containerDefinition: props.validator.container,
          environment: [
            { name: 'MODELGATE_MODEL', value: JsonPath.stringAt('$.model') },
            { name: 'MODELGATE_VERSION', value: JsonPath.stringAt('$.version') },
            { name: 'MODELGATE_LEASE_OWNER', value: JsonPath.stringAt('$.executionId') },
          ],
        },
      ],
      taskTimeout: Timeout.duration(props.taskTimeout),
      // The task description is large and not needed downstream; only success or failure matters.
      resultPath: JsonPath.DISCARD,
    });
    runValidator.addRetry({
      errors: [...INFRASTRUCTURE_ERRORS],
      interval: Duration.seconds(60),
      backoffRate: 2,
      maxAttempts: props.infraRetries,
      maxDelay: Duration.minutes(15),
      jitterStrategy: JitterType.FULL,
    });

    const failed = new Fail(this, 'Validation infrastructure failed', {
      comment: 'The version was settled by Finalize; the execution fails so alarms and the DLQ see it',
      error: 'ValidationInfrastructureFailed',
      causePath: JsonPath.stringAt('$.failure.Error'),
    });
    const unsettled = new Fail(this, 'Validator left version unsettled', {
      error: 'ValidationUnsettled',
      cause: 'the validator exited without recording a result; the version was failed with TIMEOUT',
    });
    const afterFinalize = new Choice(this, 'Settled?')
      .when(Condition.isPresent('$.failure'), failed)
      .when(Condition.booleanEquals('$.finalize.failed', true), unsettled)
      .otherwise(new Succeed(this, 'Validated'));
    finalizeState.next(afterFinalize);

    const catchAll = { errors: [Errors.ALL], resultPath: '$.failure' };
    precheckState.addCatch(finalizeState, catchAll);
    runValidator.addCatch(finalizeState, catchAll);

    const backOff = new Wait(this, 'Back off', { time: WaitTime.timestampPath('$.precheck.waitUntil') });
    backOff.next(precheckState);

    const definition = prepare.next(precheckState).next(
      new Choice(this, 'Run?')
        .when(Condition.booleanEquals('$.precheck.run', true), runValidator.next(finalizeState))
        .when(Condition.isPresent('$.precheck.waitUntil'), backOff)
        .otherwise(
          new Succeed(this, 'Skipped', { comment: 'Not claimable, or failed early by the pre-check' }),
        ),
    );

    const logs = new LogGroup(this, 'StateMachineLogs', { retention: props.logRetention });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      definitionBody: DefinitionBody.fromChainable(definition),
      comment: 'modelgate: validate one model version on GPU capacity',
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: true },
    });

    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecs:DescribeTasks/StopTask (the .sync integration polls and stops a task whose ARN exists only after RunTask), CloudWatch Logs delivery and X-Ray actions do not support resource-level permissions. RunTask itself is limited to the validator task definition.',
    });
    acknowledgeWildcards(
      this.stateMachine.role,
      /^Resource::<Pipeline(Precheck|Finalize)Function[0-9A-F]{8}\.Arn>:\*$/,
      'Qualified ARNs (versions and aliases) of the two task Lambdas of this pipeline, added by LambdaInvoke; no other function.',
    );

    // Dead-letter queue of the pipeline: executions that ended FAILED, TIMED_OUT or ABORTED, kept for
    // 14 days for diagnosis and re-drive (start a new execution with the same input).
    const dlq = new Queue(this, 'FailedExecutions', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the validation state machine; nothing consumes it automatically.',
    });
    new Rule(this, 'FailedExecutionsRule', {
      description: 'Copy failed/timed-out/aborted validation executions to the dead-letter queue',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: [this.stateMachine.stateMachineArn],
        },
      },
      targets: [new SqsQueue(dlq)],
    });
    this.failedExecutions = dlq;

    // Nothing on AWS runs a worker loop: this sweep retries what a dead task or a lost start left behind.
    const sweeper = new ModelgateFunction(this, 'SweeperFunction', {
      entry: 'lambdas/aws/validation-sweeper.lambda.ts',
      description: 'modelgate validation: recover expired leases and restart stalled validations',
      logRetention: props.logRetention,
      environment: {
        ...common,
        POWERTOOLS_SERVICE_NAME: 'modelgate-validation-sweeper',
        STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
      },
    });
    grantTable(sweeper.role, props.table, props.gsiNames, 'readWrite');
    this.stateMachine.grantStartExecution(sweeper.role);
    new Rule(this, 'SweepSchedule', {
      description: 'Run the validation sweeper every five minutes',
      schedule: Schedule.rate(Duration.minutes(5)),
      targets: [new LambdaFunction(sweeper.fn)],
    });
  }
}
