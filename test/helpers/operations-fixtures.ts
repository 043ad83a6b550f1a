import { createModel } from '../../core/models.js';
import type { RegistryDeps, RegistryEvents } from '../../core/ports.js';
import { claimValidation, completeValidation } from '../../core/validation-jobs.js';
import type { LoadErrorCode } from '../../schemas/error-codes.schema.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import type { TestDeps } from './local-deps.js';

/** A version taken through the real lifecycle (create, claim, complete) with a report of the given outcome. */
export async function validated(
  deps: TestDeps | RegistryDeps,
  ref: string,
  options: { provider?: string; fails?: LoadErrorCode; size?: number } = {},
): Promise<Version> {
  const [model, version] = ref.split('@') as [string, string];
  const provider = options.provider ?? 'p';
  if (!(await deps.metadata.getModel(model)))
    await createModel(deps, { name: model, provider, description: '', tags: [] });
  const now = deps.clock.now().toISOString();
  const size = options.size ?? 1000;
  const created = await deps.metadata.createVersion({
    model,
    version,
    provider,
    status: 'UPLOADED',
    files: [{ path: 'model.onnx', size, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), format: 'onnx' }],
    totalSize: size,
    inputShapes: {},
    publisher: 'test',
    createdAt: now,
    updatedAt: now,
    validation: { attempts: 0 },
  });
  const claimed = await claimValidation(deps, created, 'validator-1');
  if (!claimed) throw new Error('could not claim');
  const report: ValidationReport = {
    outcome: options.fails ? 'failed' : 'passed',
    ...(options.fails ? { error: { code: options.fails, message: `synthetic ${options.fails}` } } : {}),
    runtime: { name: 'onnxruntime-node', version: 'test' },
    executionProvider: 'cpu',
    worker: 'validator-1',
    attempt: 1,
    startedAt: now,
    finishedAt: now,
    durationMs: 1500,
    memoryBudgetBytes: 1 << 30,
    files: [],
    totals: { loadMs: 10, inferenceMs: 1, peakRssBytes: 50 << 20 },
    nodeClasses: [],
  };
  const done = await completeValidation(deps, claimed, 'validator-1', report);
  if ('advance' in deps.clock) (deps.clock as { advance(ms: number): void }).advance(1000);
  return done;
}

/** An events sink that records every event by name. */
export function recordingEvents(): RegistryEvents & { readonly seen: { name: string; event: unknown }[] } {
  const seen: { name: string; event: unknown }[] = [];
  const record = (name: string) => (event: unknown) => seen.push({ name, event });
  return {
    seen,
    providerSeen: record('providerSeen'),
    versionCommitted: record('versionCommitted'),
    validationFinished: record('validationFinished'),
    fieldReportReceived: record('fieldReportReceived'),
    versionQuarantined: record('versionQuarantined'),
    versionReleased: record('versionReleased'),
    providerChanged: record('providerChanged'),
    aliasFellBack: record('aliasFellBack'),
  };
}
