import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbMetadataStore } from '../../adapters/dynamodb/dynamodb-metadata-store.js';
import { createModel } from '../../core/models.js';
import { type RegistryDeps, systemClock } from '../../core/ports.js';
import { reserveForQueue, startQueuedValidation } from '../../core/validation-jobs.js';
import { METRIC } from '../../lambdas/aws/metric-names.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../helpers/aws-local.js';
import { aManifestFile, aNewVersion } from '../helpers/builders.js';
import { captureEmf, type Emf } from '../helpers/emf-capture.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/**
 * The validation pre-check and finalize Lambdas, their real entry points (middy, Powertools logger,
 * metrics and tracer, the AWS SDK) over DynamoDB Local: a refusal and an infrastructure TIMEOUT are each
 * counted once, as `validation_failures` with the `code` and `service` dimensions, in the EMF the
 * handler writes to stdout, its end-of-invocation flush included.
 */

let dynamo: DynamoDbLocal;
let deps: RegistryDeps;
let local: TestDeps;
let emf: Emf[];
const HOLD_MS = 26 * 3600_000;

const context = (name: string): Context =>
  ({
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: `req-${name}`,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 30_000,
  }) as Context;

beforeAll(async () => {
  dynamo = await startDynamoDbLocal();
  const table = await dynamo.createMetadataTable();
  // Seeding goes through the same store and use cases, on the wall clock the Lambdas use.
  local = await localTestDeps();
  deps = { ...local, metadata: new DynamoDbMetadataStore(dynamo.doc, table), clock: systemClock };
  // The environment the CDK app gives the functions (test/cdk checks it), pointed at DynamoDB Local.
  Object.assign(process.env, {
    MODELGATE_TABLE_NAME: table,
    MODELGATE_BUCKET_NAME: 'registry-bucket',
    MODELGATE_METRICS_NAMESPACE: 'ocr',
    MODELGATE_VALIDATOR_DISK_BYTES: String(10 * 1024 ** 3),
    MODELGATE_VALIDATOR_MEMORY_BYTES: String(13 * 1024 ** 3),
    MODELGATE_QUEUE_HOLD_MS: String(HOLD_MS),
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'modelgate',
    AWS_SECRET_ACCESS_KEY: 'modelgate',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  await createModel(deps, { name: 'm', provider: 'paddle', description: '', tags: [] });
  emf = captureEmf();
}, 90_000);

afterAll(async () => {
  vi.restoreAllMocks();
  local?.cleanup();
  await dynamo?.stop();
});

/** The `validation_failures` documents among `docs`, with their dimension sets. */
const failures = (docs: Emf[]) =>
  docs.flatMap((d) =>
    d._aws.CloudWatchMetrics.filter((c) => c.Metrics.some((m) => m.Name === METRIC.validationFailures)).map(
      (c) => ({
        dimensions: c.Dimensions,
        code: d.code,
        service: d.service,
        value: d[METRIC.validationFailures],
      }),
    ),
  );

const createVersion = (version: string, size: number) =>
  deps.metadata.createVersion(
    aNewVersion({
      model: 'm',
      version,
      provider: 'paddle',
      files: [aManifestFile({ path: 'a.onnx', size })],
      createdAt: new Date().toISOString(),
    }),
  );

describe('the validation Lambdas on DynamoDB Local', () => {
  it('pre-check: reserves a version that fits, and counts a refusal once', async () => {
    process.env.POWERTOOLS_SERVICE_NAME = 'modelgate-validation-precheck';
    const { handler } = await import('../../lambdas/aws/validation-precheck.lambda.js');
    await createVersion('fits', 1000);
    await createVersion('big', 11 * 1024 ** 3);
    const before = emf.length;
    const reserved = await handler(
      { model: 'm', version: 'fits', executionId: 'exec-1' },
      context('precheck'),
    );
    expect(reserved).toMatchObject({ run: true, reason: 'reserved' });
    expect(await deps.metadata.getVersion({ model: 'm', version: 'fits' })).toMatchObject({
      status: 'UPLOADED',
      validation: { leaseOwner: 'exec-1', attempts: 0 },
    });
    const refused = await handler({ model: 'm', version: 'big', executionId: 'exec-2' }, context('precheck'));
    expect(refused).toMatchObject({ run: false, reason: 'INSUFFICIENT_DISK' });
    expect(failures(emf.slice(before))).toEqual([
      {
        dimensions: [['service', 'code']],
        code: 'INSUFFICIENT_DISK',
        service: 'modelgate-validation-precheck',
        value: 1,
      },
    ]);
  }, 60_000);

  it('finalize: fails a started version its job never settled with TIMEOUT, counted once', async () => {
    const v = await createVersion('hung', 1000);
    await reserveForQueue(deps, v, 'exec-3', HOLD_MS);
    await startQueuedValidation(deps, v, 'exec-3');
    vi.resetModules();
    process.env.POWERTOOLS_SERVICE_NAME = 'modelgate-validation-finalize';
    const { handler } = await import('../../lambdas/aws/validation-finalize.lambda.js');
    const before = emf.length;
    const result = await handler(
      {
        model: 'm',
        version: 'hung',
        executionId: 'exec-3',
        failure: {
          Error: 'States.TaskFailed',
          Cause: JSON.stringify({ StatusReason: 'Job attempt duration exceeded timeout' }),
        },
      },
      context('finalize'),
    );
    expect(result).toEqual({ failed: true });
    expect(await deps.metadata.getVersion({ model: 'm', version: 'hung' })).toMatchObject({
      status: 'FAILED',
      statusReason: { code: 'TIMEOUT' },
    });
    expect(failures(emf.slice(before))).toEqual([
      {
        dimensions: [['service', 'code']],
        code: 'TIMEOUT',
        service: 'modelgate-validation-finalize',
        value: 1,
      },
    ]);
  }, 60_000);
});
