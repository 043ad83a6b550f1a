import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { createModel } from '../../core/models.js';
import { precheckValidation } from '../../core/validation-steps.js';
import { awsRegistryEvents } from '../../lambdas/aws/emf-events.js';
import { METRIC } from '../../lambdas/aws/metric-names.js';
import { aManifestFile, aNewVersion } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

const RUNBOOK_GREP = /MODEL_LOAD_ERROR|Failed to load model|Model initialization failed/;

/** The AWS side of the events: the same meanings as the local server, as EMF documents and log lines. */
describe('registry events on AWS (EMF and log lines)', () => {
  let deps: TestDeps;
  let emf: Record<string, unknown>[];
  let logged: { level: string; message: string; extra: Record<string, unknown> }[];

  beforeEach(async () => {
    emf = [];
    logged = [];
    // Powertools writes EMF to stdout: read what it wrote.
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) emf.push(JSON.parse(line));
      return true;
    });
    const metrics = new Metrics({ namespace: 'ocr', serviceName: 'test' });
    const logger = {
      info: (message: string, extra: Record<string, unknown>) =>
        logged.push({ level: 'info', message, extra }),
      error: (message: string, extra: Record<string, unknown>) =>
        logged.push({ level: 'error', message, extra }),
    };
    deps = Object.assign(await localTestDeps(), { events: awsRegistryEvents(metrics, logger) });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    deps.cleanup();
  });

  const metricNames = () =>
    emf.flatMap((d) =>
      (d._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics.flatMap((c) =>
        c.Metrics.map((m) => m.Name),
      ),
    );

  it('counts a refused candidate in validation_failures only, and logs it at info', async () => {
    await validated(deps, 'det@2', { provider: 'paddle', fails: 'SAMPLE_INPUTS_REQUIRED' });
    expect(metricNames()).toEqual([METRIC.validationFailures]);
    expect(emf[0]).toMatchObject({ code: 'SAMPLE_INPUTS_REQUIRED', [METRIC.validationFailures]: 1 });
    expect(logged).toEqual([
      {
        level: 'info',
        message:
          'Validation refused det@2 (provider paddle) with SAMPLE_INPUTS_REQUIRED: no node received it',
        extra: expect.objectContaining({ event: 'validation_failed', code: 'SAMPLE_INPUTS_REQUIRED' }),
      },
    ]);
    expect(logged.filter((l) => RUNBOOK_GREP.test(JSON.stringify(l)))).toEqual([]);
  });

  it("counts a node's failed load in errors (MODEL_LOAD_ERROR), logged at error with the runbook's words", async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    expect(metricNames()).toEqual([]);
    await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'GPU_UNAVAILABLE', node: 'gpu-7' },
      TRUSTED_MACHINE,
    );
    expect(metricNames()).toEqual([METRIC.fieldErrors]);
    expect(emf[0]).toMatchObject({ code: 'GPU_UNAVAILABLE', [METRIC.fieldErrors]: 1 });
    expect(logged).toEqual([
      {
        level: 'error',
        message: 'Failed to load model det@1 (provider paddle): GPU_UNAVAILABLE: reported by a node',
        extra: expect.objectContaining({
          code: 'MODEL_LOAD_ERROR',
          reason: 'GPU_UNAVAILABLE',
          node: 'gpu-7',
        }),
      },
    ]);
  });

  it('counts a version the pre-check refuses (too big for a validation task) once, as validation_failures', async () => {
    await createModel(deps, { name: 'big', provider: 'paddle', description: '', tags: [] });
    const now = deps.clock.now().toISOString();
    await deps.metadata.createVersion(
      aNewVersion({
        model: 'big',
        provider: 'paddle',
        files: [aManifestFile({ path: 'a.onnx', size: 2 ** 31 })],
        createdAt: now,
      }),
    );
    const r = await precheckValidation(
      deps,
      { diskBytes: 2 ** 30, memoryBytes: 2 ** 34 },
      { model: 'big', version: '1', executionId: 'exec-1' },
      60 * 60_000,
    );
    expect(r).toMatchObject({ run: false, reason: 'INSUFFICIENT_DISK' });
    expect(metricNames()).toEqual([METRIC.validationFailures]);
    expect(emf[0]).toMatchObject({ code: 'INSUFFICIENT_DISK' });
    expect(logged.map((l) => `${l.level} ${l.extra.event}`)).toEqual(['info validation_failed']);
  });
});
