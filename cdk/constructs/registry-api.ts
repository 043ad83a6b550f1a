import { CfnOutput } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, type HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { S3KeyLayout } from '../../adapters/s3/s3-key-layout.js';
import { GROUP_ACCESS } from '../../lambdas/aws/group-access.js';
import { ROUTE_GROUPS, ROUTES, type RouteGroup } from '../../lambdas/routes.js';
import { grantBlobRead, grantBlobWrite, grantTable } from './data-access.js';
import { ModelgateFunction } from './modelgate-function.js';
import type { SigningKey } from './signing-key.js';

export interface RegistryApiProps {
  /** The metadata table the route functions read and write (each only as its route group needs). Required. */
  readonly table: ITableV2;
  /** The table's GSIs, which the adapter queries. Required. */
  readonly gsiNames: readonly string[];
  /** The blob bucket presigned uploads and downloads point at. Required. */
  readonly bucket: IBucket;
  /** Where the store keeps blobs and marks: access is granted per prefix. Required. */
  readonly keyLayout: S3KeyLayout;
  /** The state machine a committed version starts. Required. */
  readonly validationStateMachine: IStateMachine;
  /** Namespace of the EMF metrics the functions write. Required. */
  readonly metricsNamespace: string;
  /** MODELGATE_NODE_CLASSES (schemas/config.schema.ts): JSON of the serving node classes. Required. */
  readonly nodeClassesJson: string;
  /** How long the functions' logs are kept. Required. */
  readonly logRetention: RetentionDays;
  /** The signing key whose public key GET /api/v1/signing-key serves (read only: these functions never sign). */
  readonly signingKey?: SigningKey;
}

/**
 * The registry's HTTP API: one route per entry of lambdas/routes.ts, each SigV4/IAM-authorized, sent
 * to one Lambda per route group. A group with no routes gets no function: nothing could invoke it.
 */
export class RegistryApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly functions: ReadonlyMap<RouteGroup, IFunction>;

  constructor(scope: Construct, id: string, props: RegistryApiProps) {
    super(scope, id);
    // Every route defaults to IAM and is also given it explicitly below: no route can be created open.
    const iam = new HttpIamAuthorizer();
    this.api = new HttpApi(this, 'Api', {
      description:
        'modelgate registry API (SigV4; see the ModelPublisher/ModelReader/RegistryAdmin policies)',
      defaultAuthorizer: iam,
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            routeKey: '$context.routeKey',
            status: '$context.status',
            caller: '$context.identity.userArn',
            sourceIp: '$context.identity.sourceIp',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const functions = new Map<RouteGroup, IFunction>();
    for (const group of ROUTE_GROUPS) {
      const routes = ROUTES.filter((r) => r.group === group);
      if (routes.length === 0) continue;
      const access = GROUP_ACCESS[group];
      const fn = new ModelgateFunction(this, `${pascal(group)}Routes`, {
        entry: `lambdas/aws/${group}.lambda.ts`,
        description: `modelgate API: ${group} routes`,
        logRetention: props.logRetention,
        environment: {
          MODELGATE_TABLE_NAME: props.table.tableName,
          MODELGATE_BUCKET_NAME: props.bucket.bucketName,
          MODELGATE_METRICS_NAMESPACE: props.metricsNamespace,
          MODELGATE_NODE_CLASSES: props.nodeClassesJson,
          POWERTOOLS_SERVICE_NAME: `modelgate-${group}`,
          ...(access.startsValidation
            ? { MODELGATE_STATE_MACHINE_ARN: props.validationStateMachine.stateMachineArn }
            : {}),
        },
      });
      // Least privilege per group (lambdas/aws/group-access.ts): e.g. `downloads` only reads.
      grantTable(fn.role, props.table, props.gsiNames, access.table);
      if (props.signingKey && routes.some((r) => r.path === SIGNING_KEY_PATH)) {
        props.signingKey.grantPublicKey(fn.role);
        fn.fn.addEnvironment('MODELGATE_SIGNING_KMS_KEY_ID', props.signingKey.key.keyArn);
      }
      if (access.readBlobs) grantBlobRead(fn.role, props.bucket, props.keyLayout);
      if (access.writeBlobs) grantBlobWrite(fn.role, props.bucket, props.keyLayout);
      if (access.startsValidation) {
        fn.role.addToPrincipalPolicy(
          new PolicyStatement({
            actions: ['states:StartExecution'],
            resources: [props.validationStateMachine.stateMachineArn],
          }),
        );
      }

      const integration = new HttpLambdaIntegration(`${pascal(group)}Integration`, fn.fn);
      for (const route of routes) {
        this.api.addRoutes({
          path: route.path,
          methods: [HttpMethod[route.method]],
          integration,
          authorizer: iam,
        });
      }
      functions.set(group, fn.fn);
    }
    this.functions = functions;

    new CfnOutput(this, 'ApiUrl', {
      value: this.stage.url,
      description: 'Base URL of the registry API (SigV4, service execute-api)',
    });
  }
}

const SIGNING_KEY_PATH = '/api/v1/signing-key';
const pascal = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
