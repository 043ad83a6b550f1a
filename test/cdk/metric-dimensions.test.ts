import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addModelgateStacks, createApp, type ModelgateStacks } from '../../cdk/modelgate-app.js';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { createModel } from '../../core/models.js';
import type { RegistryDeps } from '../../core/ports.js';
import { commitVersion, startVersion } from '../../core/publish.js';
import { registrySettingsOf } from '../../core/registry-settings.js';
import { reserveForQueue, startQueuedValidation } from '../../core/validation-jobs.js';
import { finalizeValidation, precheckValidation } from '../../core/validation-steps.js';
import { readEcsJobEnv, runEcsJob } from '../../gpu-validator/ecs-job.js';
import { createAwsRuntime } from '../../lambdas/aws/aws-deps.js';
import { awsRegistryEvents, validatorJobMetrics } from '../../lambdas/aws/emf-events.js';
import { publishHealthScores } from '../../lambdas/aws/health-metrics.js';
import { METRIC } from '../../lambdas/aws/metric-names.js';
import { RegistryEnv } from '../../schemas/config.schema.js';
import { StartVersionRequest } from '../../schemas/version.schema.js';
import { buildUnknownOpModel } from '../fixtures/onnx-writer.js';
import { manifestEntry } from '../fixtures/version-files.js';
import { aManifestFile, aNewVersion } from '../helpers/builders.js';
import { captureEmf, type Emf } from '../helpers/emf-capture.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

/**
 * Alarms that can fire: every alarm and dashboard query on the registry's namespace must select exactly a
 * dimension set some emitter writes (CloudWatch matches dimension sets exactly; a query for a set nobody
 * writes selects nothing, and with missing data "not breaching" its alarm stays OK forever).
 *
 * The app is synthesized (the queries as deployed), and each emitter runs as deployed: the Lambdas'
 * Powertools Metrics from createAwsRuntime with the environment the CDK app gives each function, the
 * validator job's from its own environment, over the real use cases (SQLite stands in for DynamoDB:
 * the metrics do not depend on the store). Their EMF output is captured from stdout. Each event is also
 * counted exactly once.
 */

type Json = Record<string, unknown>;
/** A query on the registry's namespace: the metric and the dimension set it selects, where it is. */
interface Query {
  readonly where: string;
  readonly metric: string;
  readonly dimensions: string;
}

const NS = 'ocr';
const dimsKey = (dims: readonly string[]) => [...dims].sort().join(',');

let outdir: string;
let stacks: ModelgateStacks;
let observability: Template;
let validationEnv: Record<string, Record<string, string>>;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'modelgate-cdk-dims-'));
  // Lambda bundling is skipped: only the templates matter here.
  const app = createApp({
    outdir,
    context: { validatorImage: 'ecr', validatorImageTag: 'test', 'aws:cdk:bundling-stacks': [] },
  });
  stacks = addModelgateStacks(app);
  app.synth();
  observability = Template.fromStack(stacks.observability);
  const validation = Template.fromStack(stacks.validation).toJSON() as { Resources: Record<string, Json> };
  // Each validation function's environment, by its service name, as deployed.
  validationEnv = {};
  for (const r of Object.values(validation.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const vars = ((r.Properties as Json).Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables;
    const service = vars?.POWERTOOLS_SERVICE_NAME;
    if (typeof service !== 'string') continue;
    validationEnv[service] = Object.fromEntries(
      Object.entries(vars ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : `token-${k}`.toLowerCase()]),
    );
  }
}, 180_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** Every query on the namespace in the alarms' Metrics Insights expressions and the dashboard's searches. */
function queries(): Query[] {
  const out: Query[] = [];
  const schema = /SELECT \w+\((\w+)\) FROM SCHEMA\("([^"]+)"((?:, ?\w+)*)\)/;
  for (const [id, alarm] of Object.entries(observability.findResources('AWS::CloudWatch::Alarm'))) {
    for (const m of (alarm.Properties.Metrics ?? []) as Json[]) {
      const e = schema.exec(String(m.Expression ?? ''));
      if (e && e[2] === NS)
        out.push({
          where: `alarm ${id}`,
          metric: e[1]!,
          dimensions: dimsKey(
            e[3]!
              .split(',')
              .map((d) => d.trim())
              .filter(Boolean),
          ),
        });
    }
    if (alarm.Properties.Namespace === NS)
      throw new Error(`alarm ${id} selects a plain metric: list it here`);
  }
  const dashboard = Object.values(observability.findResources('AWS::CloudWatch::Dashboard'))[0];
  const body = (dashboard!.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]
    .map((p) => (typeof p === 'string' ? p : '"token"'))
    .join('');
  const search = /SEARCH\('\{([^}]+)\} MetricName=\\?"(\w+)\\?"'/g;
  for (const m of body.matchAll(search)) {
    const [ns, ...dims] = m[1]!.split(',');
    if (ns === NS || ns === `\\"${NS}\\"`)
      out.push({ where: 'dashboard SEARCH', metric: m[2]!, dimensions: dimsKey(dims) });
  }
  return out;
}

describe('metric dimensions: emitters and alarms agree', () => {
  let deps: TestDeps;
  let emf: Emf[];

  beforeAll(async () => {
    // Powertools writes EMF to stdout: read what it wrote.
    emf = captureEmf();
    deps = await localTestDeps();
  });
  afterAll(() => {
    vi.restoreAllMocks();
    deps?.cleanup();
  });

  /** The deps of the Lambda whose service is `service`: its own Powertools metrics and events, as deployed. */
  const lambdaDeps = (service: string, required: Parameters<typeof createAwsRuntime>[0] = []) => {
    const env = validationEnv[service];
    expect(env, service).toBeDefined();
    const runtime = createAwsRuntime(required, {
      ...env,
      MODELGATE_TABLE_NAME: 'registry-table',
      MODELGATE_BUCKET_NAME: 'registry-bucket',
      MODELGATE_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:validation',
      ...(env?.MODELGATE_SIGNING_KMS_KEY_ID
        ? {
            MODELGATE_SIGNING_KMS_KEY_ID:
              'arn:aws:kms:eu-west-1:123456789012:key/0d8a3c1e-9f5b-4c2a-8e7d-1b2c3d4e5f60',
          }
        : {}),
      AWS_REGION: 'eu-west-1',
    });
    const composed: RegistryDeps = { ...deps, events: runtime.deps.events };
    return { deps: composed, runtime };
  };

  /** EMF documents written while `work` runs. */
  const emitted = async (work: () => Promise<unknown>): Promise<Emf[]> => {
    const before = emf.length;
    await work();
    return emf.slice(before);
  };

  const series = (docs: Emf[]) =>
    docs.flatMap((d) =>
      d._aws.CloudWatchMetrics.flatMap((c) =>
        c.Metrics.flatMap((m) =>
          c.Dimensions.map((dims) => ({ ns: c.Namespace, metric: m.Name, dimensions: dimsKey(dims) })),
        ),
      ),
    );

  it('each emitter counts its event once, and every query selects a dimension set an emitter writes', async () => {
    const all: Emf[] = [];

    // The pre-check Lambda refuses a version too big for a job: one validation_failures.
    const precheck = lambdaDeps('modelgate-validation-precheck', [
      'MODELGATE_VALIDATOR_DISK_BYTES',
      'MODELGATE_VALIDATOR_MEMORY_BYTES',
      'MODELGATE_QUEUE_HOLD_MS',
    ]);
    await createModel(deps, { name: 'big', provider: 'paddle', description: '', tags: [] });
    await deps.metadata.createVersion(
      aNewVersion({
        model: 'big',
        provider: 'paddle',
        files: [aManifestFile({ path: 'a.onnx', size: 2 ** 45 })],
        createdAt: deps.clock.now().toISOString(),
      }),
    );
    const refused = await emitted(() =>
      precheckValidation(
        precheck.deps,
        {
          diskBytes: precheck.runtime.config.MODELGATE_VALIDATOR_DISK_BYTES,
          memoryBytes: precheck.runtime.config.MODELGATE_VALIDATOR_MEMORY_BYTES,
        },
        { model: 'big', version: '1', executionId: 'exec-big' },
        precheck.runtime.config.MODELGATE_QUEUE_HOLD_MS,
      ),
    );
    expect(series(refused)).toEqual([
      { ns: NS, metric: METRIC.validationFailures, dimensions: 'code,service' },
    ]);
    expect(refused[0]).toMatchObject({ code: 'INSUFFICIENT_DISK', service: 'modelgate-validation-precheck' });
    all.push(...refused);

    // Finalize fails a version whose job started and never settled: one validation_failures (TIMEOUT).
    const finalize = lambdaDeps('modelgate-validation-finalize');
    const hung = await deps.metadata.createVersion(
      aNewVersion({
        model: 'big',
        provider: 'paddle',
        version: '2',
        files: [aManifestFile({ path: 'a.onnx', size: 10 })],
        createdAt: deps.clock.now().toISOString(),
      }),
    );
    await reserveForQueue(deps, hung, 'exec-hung', 3600_000);
    await startQueuedValidation(deps, hung, 'exec-hung');
    const timedOut = await emitted(() =>
      finalizeValidation(finalize.deps, { model: 'big', version: '2', executionId: 'exec-hung' }),
    );
    expect(series(timedOut)).toEqual([
      { ns: NS, metric: METRIC.validationFailures, dimensions: 'code,service' },
    ]);
    expect(timedOut[0]).toMatchObject({ code: 'TIMEOUT', service: 'modelgate-validation-finalize' });
    all.push(...timedOut);

    // A serving node's failed load, recorded by the API's Lambda: one `errors`.
    const api = createAwsRuntime([], {
      MODELGATE_TABLE_NAME: 'registry-table',
      MODELGATE_BUCKET_NAME: 'registry-bucket',
      POWERTOOLS_SERVICE_NAME: 'modelgate-api-versions',
    });
    await validated(deps, 'det@1', { provider: 'paddle' });
    const fieldError = await emitted(() =>
      recordFieldReport(
        { ...deps, events: api.deps.events },
        { model: 'det', version: '1' },
        { outcome: 'failed', code: 'GPU_UNAVAILABLE', node: 'gpu-7' },
        TRUSTED_MACHINE,
      ),
    );
    expect(series(fieldError)).toEqual([{ ns: NS, metric: METRIC.fieldErrors, dimensions: 'code,service' }]);
    all.push(...fieldError);

    // The sweeper's provider health scores: one document per provider.
    const sweeper = lambdaDeps('modelgate-validation-sweeper', ['MODELGATE_STATE_MACHINE_ARN']);
    const health = await emitted(() => publishHealthScores(deps, sweeper.runtime.metrics));
    expect(series(health).length).toBeGreaterThan(0);
    for (const s of series(health))
      expect(s).toEqual({ ns: NS, metric: METRIC.providerHealthScore, dimensions: 'provider,service' });
    all.push(...health);

    // The validator job, with the environment its job definition sets: a model it refuses, counted once.
    const jobEnv = (Template.fromStack(stacks.validation).toJSON() as { Resources: Record<string, Json> })
      .Resources;
    const jobDefinition = Object.values(jobEnv).find((r) => r.Type === 'AWS::Batch::JobDefinition')!;
    const containerEnv = Object.fromEntries(
      (
        jobDefinition.Properties as {
          ContainerProperties: { Environment: { Name: string; Value: unknown }[] };
        }
      ).ContainerProperties.Environment.map((e) => [e.Name, typeof e.Value === 'string' ? e.Value : 'token']),
    );
    const bytes = buildUnknownOpModel();
    const entry = manifestEntry('model.onnx', bytes, 'onnx');
    await startVersion(deps, 'det', StartVersionRequest.parse({ version: '2', files: [entry] }));
    await deps.blobs.write(
      entry.sha256,
      entry.size,
      (async function* () {
        yield bytes;
      })(),
    );
    const committed = await commitVersion(deps, { model: 'det', version: '2' });
    await reserveForQueue(deps, committed, 'exec-job', 3600_000);
    const logger = { info: () => {}, error: () => {} };
    const jobDeps: RegistryDeps = {
      ...deps,
      // The settings as the job reads them (ecs-task.ts): its lease and heartbeat, from the job definition.
      settings: registrySettingsOf(RegistryEnv.parse(containerEnv)),
      events: awsRegistryEvents(validatorJobMetrics(containerEnv), logger),
    };
    const verdict = await emitted(() =>
      runEcsJob(
        jobDeps,
        readEcsJobEnv({
          ...containerEnv,
          MODELGATE_TABLE_NAME: 'registry-table',
          MODELGATE_BUCKET_NAME: 'registry-bucket',
          MODELGATE_MODEL: 'det',
          MODELGATE_VERSION: '2',
          MODELGATE_LEASE_OWNER: 'exec-job',
          MODELGATE_EXECUTION_PROVIDERS: 'cpu',
        }),
      ),
    );
    expect(series(verdict)).toEqual([
      { ns: NS, metric: METRIC.validationFailures, dimensions: 'code,service' },
    ]);
    expect(verdict[0]).toMatchObject({ code: 'UNSUPPORTED_MODEL', service: 'modelgate-gpu-validator' });
    all.push(...verdict);

    // Every query selects a set that was written; every written registry metric is watched by some query.
    const written = new Set(series(all).map((s) => `${s.metric} {${s.dimensions}}`));
    const qs = queries();
    expect(qs.length).toBeGreaterThanOrEqual(5);
    for (const q of qs)
      expect([...written], `${q.where}: ${q.metric} {${q.dimensions}}`).toContain(
        `${q.metric} {${q.dimensions}}`,
      );
    const watched = new Set(qs.map((q) => `${q.metric} {${q.dimensions}}`));
    for (const w of written) expect([...watched], w).toContain(w);
    // Both alarms on the registry's own metrics are among them.
    expect(
      qs
        .filter((q) => q.where.startsWith('alarm'))
        .map((q) => q.metric)
        .sort(),
    ).toEqual([METRIC.fieldErrors, METRIC.validationFailures]);
  }, 120_000);
});
