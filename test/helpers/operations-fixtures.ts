import { createModel } from '../../core/models.js';
import type { RegistryDeps, RegistryEvents } from '../../core/ports.js';
import { claimValidation, completeValidation } from '../../core/validation-jobs.js';
import type { LoadErrorCode } from '../../schemas/error-codes.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { aManifestFile, aNewVersion, aReport } from './builders.js';
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
  const created = await deps.metadata.createVersion(
    aNewVersion({ model, version, provider, files: [aManifestFile({ size })], createdAt: now }),
  );
  const claimed = await claimValidation(deps, created, 'validator-1');
  if (!claimed) throw new Error('could not claim');
  const report = aReport({
    outcome: options.fails ? 'failed' : 'passed',
    ...(options.fails ? { error: { code: options.fails, message: `synthetic ${options.fails}` } } : {}),
    worker: 'validator-1',
    startedAt: now,
    finishedAt: now,
    durationMs: 1500,
    totals: { loadMs: 10, inferenceMs: 1, peakRssBytes: 50 << 20 },
  });
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
