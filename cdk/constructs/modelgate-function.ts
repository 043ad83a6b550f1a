import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { repoPath } from '../paths.js';

export interface ModelgateFunctionProps {
  /** The entry file, relative to the repository root (e.g. `lambdas/aws/models.lambda.ts`). Required. */
  readonly entry: string;
  /** The function's description in the console. Required. */
  readonly description: string;
  /** Variables parsed by lambdas/aws/config.ts. Required. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Memory in MiB (Lambda also scales CPU with it).
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Time limit of one invocation: under API Gateway's 30 s integration limit.
   * @default Duration.seconds(29)
   */
  readonly timeout?: Duration;
  /** How long the function's logs are kept. Required. */
  readonly logRetention: RetentionDays;
}

/**
 * One modelgate Lambda with the settings every one of them shares: Node 22 on ARM, bundled by the
 * local esbuild (no Docker), X-Ray active, JSON logs into a log group with a retention, and a role of
 * its own that starts empty: grants are added per function, never by an AWS managed policy.
 */
export class ModelgateFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: IRole;

  constructor(scope: Construct, id: string, props: ModelgateFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      // Logs are evidence for an incident that may be investigated after a redeploy.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.entry}`,
    });
    // In place of AWSLambdaBasicExecutionRole (which allows writing to any log group): this one only.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    this.role = role;

    this.fn = new NodejsFunction(this, 'Function', {
      entry: repoPath(props.entry),
      handler: 'handler',
      projectRoot: repoPath(),
      depsLockFilePath: repoPath('package-lock.json'),
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(29),
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // The AWS SDK is bundled, not taken from the runtime: package.json pins exact SDK versions
        // and the code is tested against those, not against whatever the runtime ships this month.
        externalModules: [],
        mainFields: ['module', 'main'],
        // Some bundled CommonJS dependencies call require() for Node built-ins.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });

    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is the runtime this project is tested on; moving to a newer runtime is a deliberate upgrade, not a synth-time default.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only xray:PutTraceSegments and xray:PutTelemetryRecords (added by Tracing.ACTIVE) use *: X-Ray has no resource-level permissions for them.',
    });
  }
}
