import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { DynamoDbMetadataStore } from '../../adapters/dynamodb/dynamodb-metadata-store.js';
import { S3_CLIENT_CHECKSUM_SETTINGS, S3BlobStore } from '../../adapters/s3/s3-blob-store.js';
import { SfnValidationQueue } from '../../adapters/sfn-queue/sfn-validation-queue.js';
import { KmsSigner } from '../../adapters/signing/kms-signer.js';
import type { RegistryDeps, ValidationQueue } from '../../core/ports.js';
import { systemClock } from '../../core/ports.js';
import { registrySettingsOf } from '../../core/registry-settings.js';
import { makeRouteGroupHandler } from '../http/make-handler.js';
import type { RouteGroup } from '../routes.js';
import { type AwsConfig, loadAwsConfig, type OptionalAwsVar } from './config.js';
import { awsRegistryEvents } from './emf-events.js';
import { GROUP_ACCESS } from './group-access.js';
import { cachedReads, type ReadCache } from './read-cache.js';

/**
 * The AWS wiring shared by every Lambda entry point (lambdas/aws/*.lambda.ts), so each entry stays a
 * one-liner. Everything here runs once per cold start: config parsing, SDK clients (with their
 * connection pools) and adapters are reused by every invocation of the warm container.
 */

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

export interface AwsRuntime<R extends OptionalAwsVar = never> extends Observability {
  readonly config: AwsConfig<R>;
  readonly deps: RegistryDeps;
  /** The read cache in front of the metadata store, on read-only functions (read-cache.ts). */
  readonly readCache?: ReadCache;
}

/** A queue for functions that never enqueue: calling it is a wiring bug, and says so. */
const noQueue: ValidationQueue = {
  enqueue: async () => {
    throw new Error('this function has no STATE_MACHINE_ARN: it may not start validations');
  },
};

/**
 * `options.readOnly`: the function only reads the table (downloads), so its reads are eventually
 * consistent (half the read units) and served through a short in-memory cache (read-cache.ts).
 */
export function createAwsRuntime<R extends OptionalAwsVar = never>(
  required: readonly R[] = [],
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { readonly readOnly?: boolean } = {},
): AwsRuntime<R> {
  const config = loadAwsConfig(env, required);
  const logger = new Logger({ serviceName: config.POWERTOOLS_SERVICE_NAME });
  const metrics = new Metrics({
    namespace: config.METRICS_NAMESPACE,
    serviceName: config.POWERTOOLS_SERVICE_NAME,
  });
  const tracer = new Tracer({ serviceName: config.POWERTOOLS_SERVICE_NAME });

  // Region and credentials come from the Lambda environment. Tracing the clients puts every
  // DynamoDB/S3/Step Functions call on the X-Ray trace of the request that made it.
  const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
  // The store drops undefined optional fields itself, so the document client needs no marshalling options.
  const docClient = DynamoDBDocumentClient.from(dynamo);
  const s3 = tracer.captureAWSv3Client(new S3Client(S3_CLIENT_CHECKSUM_SETTINGS));
  const stateMachineArn = config.STATE_MACHINE_ARN;
  const queue = stateMachineArn
    ? new SfnValidationQueue(tracer.captureAWSv3Client(new SFNClient({})), stateMachineArn)
    : noQueue;

  const store = new DynamoDbMetadataStore(docClient, config.MODELGATE_TABLE_NAME, {
    consistentReads: options.readOnly !== true,
  });
  const readCache = options.readOnly ? cachedReads(store) : undefined;
  const deps: RegistryDeps = {
    metadata: readCache?.store ?? store,
    blobs: new S3BlobStore(s3, config.MODELGATE_BUCKET_NAME, {
      multipartThresholdBytes: config.MODELGATE_S3_MULTIPART_THRESHOLD_BYTES,
      partSizeBytes: config.MODELGATE_S3_PART_SIZE_BYTES,
    }),
    queue,
    clock: systemClock,
    // Domain events (field reports, validation outcomes) become the EMF metrics the alarms watch and
    // log lines with the local server's meanings (emf-events.ts).
    events: awsRegistryEvents(metrics, logger),
    settings: registrySettingsOf(config),
    // Only the finalize role may kms:Sign; the API functions read the public key with the same signer.
    ...(config.MODELGATE_SIGNING_KMS_KEY_ID
      ? {
          signer: new KmsSigner(
            tracer.captureAWSv3Client(new KMSClient({})),
            config.MODELGATE_SIGNING_KMS_KEY_ID,
          ),
        }
      : {}),
  };
  return { config, deps, logger, metrics, tracer, ...(readCache ? { readCache } : {}) };
}

/** EMF names of the read cache's counts, per invocation (read-cache.ts). */
export const READ_CACHE_METRIC = { hits: 'metadata_cache_hits', misses: 'metadata_cache_misses' } as const;

/** Adds the read cache's hits and misses of this invocation to its metrics, before they are flushed. */
const readCacheMetrics = <TEvent, TResult>(runtime: AwsRuntime): MiddlewareObj<TEvent, TResult> => {
  const emit = () => {
    const stats = runtime.readCache?.takeStats();
    if (!stats) return;
    runtime.metrics.addMetric(READ_CACHE_METRIC.hits, MetricUnit.Count, stats.hits);
    runtime.metrics.addMetric(READ_CACHE_METRIC.misses, MetricUnit.Count, stats.misses);
  };
  return { after: emit, onError: emit };
};

/**
 * Wraps an inner handler with the Powertools middlewares, outermost so that they see everything the
 * inner handler does (including its error mapping): the X-Ray segment, the Lambda context (request id,
 * cold start) on every log line, and one EMF blob of metrics flushed per invocation.
 */
export function withObservability<TEvent, TResult>(
  obs: Observability,
  inner: (event: TEvent, context: Context) => Promise<TResult>,
  extra: MiddlewareObj<TEvent, TResult>[] = [],
) {
  let wrapped = middy<TEvent, TResult>()
    .use(captureLambdaHandler(obs.tracer))
    .use(injectLambdaContext(obs.logger, { resetKeys: true }))
    .use(logMetrics(obs.metrics, { captureColdStartMetric: true }));
  for (const m of extra) wrapped = wrapped.use(m);
  return wrapped.handler((event, context) => inner(event, context));
}

/** Puts API Gateway's request id on every log line, so a client's `x-amzn-requestid` finds its logs. */
const apiRequestId = (
  logger: Logger,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> => ({
  before: (request) => {
    logger.setCorrelationId(request.event.requestContext?.requestId);
  },
});

/** The Lambda handler of one route group of lambdas/routes.ts, with the access GROUP_ACCESS gives it. */
export function routeGroupHandler(group: RouteGroup) {
  const access = GROUP_ACCESS[group];
  const runtime = createAwsRuntime(access.startsValidation ? ['STATE_MACHINE_ARN'] : [], process.env, {
    readOnly: access.table === 'read',
  });
  // Errors the route handlers map to 4xx/5xx go through the Powertools logger, so they carry the
  // Lambda and API Gateway request ids like every other line.
  // A refusal by design (warn) carries its code, never the error object: Powertools would print a stack.
  const inner = makeRouteGroupHandler(group, runtime.deps, ({ level, message, error, routeKey, code }) =>
    level === 'warn'
      ? runtime.logger.warn(message, { routeKey, code })
      : runtime.logger.error(message, { routeKey, error: error instanceof Error ? error : String(error) }),
  );
  return withObservability<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(runtime, inner, [
    apiRequestId(runtime.logger),
    readCacheMetrics(runtime),
  ]);
}
