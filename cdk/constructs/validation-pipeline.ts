import { Duration, Validations } from 'aws-cdk-lib';
import type { IJobQueue } from 'aws-cdk-lib/aws-batch';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
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
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { BatchSubmitJob, LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { acknowledgeWildcards } from '../nag.js';
import { grantTable } from './data-access.js';
import { ModelgateFunction } from './modelgate-function.js';
import type { SigningKey } from './signing-key.js';
import type { ValidatorJob } from './validator-job.js';

/**
 * Errors of the Batch API itself (throttling, a service error) when Step Functions submits the job or
 * polls it: retried by the state machine. A job that failed is `States.TaskFailed` and is not retried
 * here: its attempts were already spent by the job's own retry strategy (validator-job.ts).
 */
export const BATCH_API_ERRORS = ['Batch.AWSBatchException', 'Batch.ServerException'] as const;

export interface ValidationPipelineProps {
  /** The key the finalize step signs VERIFIED versions with; none: versions stay unsigned. */
  readonly signingKey?: SigningKey;
  /** The metadata table the pre-check, finalize and sweeper functions read and write. Required. */
  readonly table: ITableV2;
  /** The table's GSIs, which the adapter queries. Required. */
  readonly gsiNames: readonly string[];
  /** The blob bucket (its name is part of the functions' shared settings). Required. */
  readonly bucket: IBucket;
  /** The Batch job queue of the GPU capacity. Required. */
  readonly jobQueue: IJobQueue;
  /** The validator job definition the state machine submits. Required. */
  readonly validator: ValidatorJob;
  /** Scratch bytes one job offers: the pre-check refuses versions that exceed them. Required. */
  readonly taskDiskBytes: number;
  /** Model memory in bytes one job offers: the pre-check refuses versions that exceed it. Required. */
  readonly taskMemoryBytes: number;
  /**
   * How long a job may take from submission: its time blocked in the queue plus every attempt. The
   * execution's limit is this plus a margin, and the pre-check reserves the version that long. Required.
   */
  readonly jobTimeout: Duration;
  /** The registry settings the functions share with the validator (MODELGATE_LEASE_MS …). Required. */
  readonly sharedEnvironment: Readonly<Record<string, string>>;
  /** Namespace of the EMF metrics the functions write. Required. */
  readonly metricsNamespace: string;
  /** MODELGATE_NODE_CLASSES (schemas/config.schema.ts): JSON of the serving node classes. Required. */
  readonly nodeClassesJson: string;
  /** How long the functions' and the state machine's logs are kept. Required. */
  readonly logRetention: RetentionDays;
}

/** Margin of the state machine's own limit over the job's: the pre-check, backoff waits and Finalize. */
const EXECUTION_MARGIN = Duration.hours(1);

/**
 * The validation state machine started by SfnValidationQueue with `{model, version}`:
 *
 *   Prepare (adds the execution id, the owner) → Precheck (reserve for the queue; fail early on
 *   disk/memory) → Choice: run → Run validator (`batch:submitJob.sync`: the job waits in the queue
 *   holding no lease, takes it when it starts; Batch retries host failures and infrastructure exits)
 *   → Finalize; back off → Wait → Precheck; otherwise → Skipped.
 *   Any error after Prepare is caught into `$.failure` → Finalize, which fails a version its job started
 *   but never settled (TIMEOUT) or releases one whose job never started, and the execution ends FAILED.
 *
 * The execution's time limit (`executionTimeout`) is how long the pre-check reserves the version for it.
 * Failed, timed-out and aborted executions are copied by EventBridge into a dead-letter queue.
 */
export class ValidationPipeline extends Construct {
  readonly stateMachine: StateMachine;
  readonly precheckFunction: IFunction;
  readonly finalizeFunction: IFunction;
  readonly failedExecutions: IQueue;
  /** The state machine's own time limit: the job's plus a margin. */
  readonly executionTimeout: Duration;

  constructor(scope: Construct, id: string, props: ValidationPipelineProps) {
    super(scope, id);
    this.executionTimeout = props.jobTimeout.plus(EXECUTION_MARGIN);
    const common = {
      MODELGATE_TABLE_NAME: props.table.tableName,
      MODELGATE_BUCKET_NAME: props.bucket.bucketName,
      MODELGATE_METRICS_NAMESPACE: props.metricsNamespace,
      MODELGATE_NODE_CLASSES: props.nodeClassesJson,
      // One lease for every step that reads it: the sweeper's expiry check and the validator job.
      ...props.sharedEnvironment,
    };
    const precheck = new ModelgateFunction(this, 'PrecheckFunction', {
      entry: 'lambdas/aws/validation-precheck.lambda.ts',
      description: 'modelgate validation: reserve the version and check that it fits a GPU job',
      logRetention: props.logRetention,
      environment: {
        ...common,
        POWERTOOLS_SERVICE_NAME: 'modelgate-validation-precheck',
        // The reservation outlives the execution that holds it.
        MODELGATE_QUEUE_HOLD_MS: String(this.executionTimeout.toMilliseconds()),
        MODELGATE_VALIDATOR_DISK_BYTES: String(props.taskDiskBytes),
        MODELGATE_VALIDATOR_MEMORY_BYTES: String(props.taskMemoryBytes),
      },
    });
    const finalize = new ModelgateFunction(this, 'FinalizeFunction', {
      entry: 'lambdas/aws/validation-finalize.lambda.ts',
      description:
        'modelgate validation: fail a started version never settled (TIMEOUT), release one never started',
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

    // --- states ---
    const prepare = new Pass(this, 'Prepare', {
      comment: 'Keep only the queue input and add the execution id, which owns the reservation and the lease',
      parameters: {
        model: JsonPath.stringAt('$.model'),
        version: JsonPath.stringAt('$.version'),
        executionId: JsonPath.executionId,
      },
    });
    const precheckState = new LambdaInvoke(this, 'Precheck reserve', {
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

    const runValidator = new BatchSubmitJob(this, 'Run validator', {
      integrationPattern: IntegrationPattern.RUN_JOB,
      jobName: 'modelgate-validate',
      jobQueueArn: props.jobQueue.jobQueueArn,
      jobDefinitionArn: props.validator.jobDefinition.jobDefinitionArn,
      containerOverrides: {
        environment: {
          MODELGATE_MODEL: JsonPath.stringAt('$.model'),
          MODELGATE_VERSION: JsonPath.stringAt('$.version'),
          MODELGATE_LEASE_OWNER: JsonPath.stringAt('$.executionId'),
        },
      },
      // No task timeout: BatchSubmitJob would pass it to Batch as every attempt's time limit, replacing
      // the job definition's. The execution's own limit (executionTimeout) bounds the wait instead.
      // The job description is large and not needed downstream; only success or failure matters.
      resultPath: JsonPath.DISCARD,
    });
    runValidator.addRetry({
      errors: [...BATCH_API_ERRORS],
      interval: Duration.seconds(30),
      backoffRate: 2,
      maxAttempts: 4,
      maxDelay: Duration.minutes(5),
      jitterStrategy: JitterType.FULL,
    });

    const failed = new Fail(this, 'Validation infrastructure failed', {
      comment: 'The version was settled by Finalize; the execution fails so alarms and the DLQ see it',
      error: 'ValidationInfrastructureFailed',
      causePath: JsonPath.stringAt('$.failure.Error'),
    });
    const unsettled = new Fail(this, 'Validator left version unsettled', {
      error: 'ValidationUnsettled',
      cause:
        'the validator started but exited without recording a result; the version was failed with TIMEOUT, or INSUFFICIENT_MEMORY when its container was killed for memory',
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
      timeout: this.executionTimeout,
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: true },
    });

    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'batch:DescribeJobs/TerminateJob (the .sync integration polls and stops a job whose id exists only after SubmitJob), CloudWatch Logs delivery and X-Ray actions do not support resource-level permissions. SubmitJob itself is limited to the validator job definition and queue.',
    });
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job-definition/*]',
      reason:
        "BatchSubmitJob grants batch:SubmitJob on job definitions by name or name:revision; SubmitJob also needs the job queue, which is limited to this pipeline's queue, and only this pipeline submits to it.",
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

    // Nothing on AWS runs a worker loop: this sweep retries what a dead execution or a lost start left behind.
    const sweeper = new ModelgateFunction(this, 'SweeperFunction', {
      entry: 'lambdas/aws/validation-sweeper.lambda.ts',
      description: 'modelgate validation: recover expired leases and restart stalled validations',
      logRetention: props.logRetention,
      environment: {
        ...common,
        POWERTOOLS_SERVICE_NAME: 'modelgate-validation-sweeper',
        MODELGATE_STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
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
