import type { LoadReport } from '../schemas/load-report.schema.js';
import type { Version, VersionStatus } from '../schemas/version.schema.js';
import { isLoadedSomewhere } from './load-reports.js';
import { versionPeakBytes } from './memory-fit.js';
import { eachItem, modelsOfProvider } from './pages.js';
import { operationsSettings, type RegistryDeps } from './ports.js';
import { servedVersion } from './resolve.js';

/**
 * What the gauges show, read from the store: so a restarted server (or one that missed an event)
 * shows the right state. Counters are not in it: they count events since the process started, as
 * Prometheus expects of counters.
 */
export interface VersionFacts {
  readonly provider: string;
  readonly model: string;
  readonly version: string;
  readonly status: VersionStatus;
  readonly totalSize: number;
  /** Peak resident memory of the latest validation, when it got that far. */
  readonly peakRssBytes?: number | undefined;
}

/**
 * The registry's state for the metrics gauges: providers, every version's facts, what is loaded now,
 * and the count of versions per status.
 */
export interface RegistrySnapshot {
  readonly providers: readonly { readonly name: string; readonly enabled: boolean }[];
  readonly versions: readonly VersionFacts[];
  /** Versions some node has loaded now (isLoadedSomewhere over the loaded window). */
  readonly loaded: readonly VersionFacts[];
  readonly versionsByStatus: Readonly<Record<VersionStatus, number>>;
}

/** A version can still fail a load: its error counters are started at 0 (committed and not retired). */
export const canStillFail = (status: VersionStatus): boolean =>
  status === 'UPLOADED' || status === 'VALIDATING' || status === 'VERIFIED' || status === 'QUARANTINED';

/** The facts about a version the gauges need: identity, status, size, and its peak memory when validated. */
export const factsOf = (v: Version): VersionFacts => ({
  provider: v.provider,
  model: v.model,
  version: v.version,
  status: v.status,
  totalSize: v.totalSize,
  ...(v.report ? { peakRssBytes: versionPeakBytes(v.report) || v.report.totals.peakRssBytes } : {}),
});

/**
 * Reads the whole registry's state from the store: every provider and version, and the load reports of
 * the loaded window (`loadedWindowMs`) to tell which versions some node has loaded.
 */
export async function registrySnapshot(deps: RegistryDeps): Promise<RegistrySnapshot> {
  const versions: VersionFacts[] = [];
  const byKey = new Map<string, VersionFacts>();
  const versionsByStatus = Object.fromEntries(
    (
      ['PENDING_UPLOAD', 'UPLOADED', 'VALIDATING', 'VERIFIED', 'FAILED', 'QUARANTINED', 'DEPRECATED'] as const
    ).map((s) => [s, 0]),
  ) as Record<VersionStatus, number>;
  for await (const m of eachItem((cursor) => deps.metadata.listModels({ limit: 500, cursor })))
    for await (const v of eachItem((cursor) => deps.metadata.listVersions(m.name, { limit: 500, cursor }))) {
      const f = factsOf(v);
      versions.push(f);
      byKey.set(`${v.model}@${v.version}`, f);
      versionsByStatus[v.status]++;
    }

  const since = new Date(deps.clock.now().getTime() - operationsSettings(deps).loadedWindowMs).toISOString();
  const reports = await deps.metadata.listLoadReports({ all: true }, { since, limit: 100_000 });
  const perVersion = new Map<string, LoadReport[]>();
  for (const r of reports) {
    const key = `${r.model}@${r.version}`;
    const list = perVersion.get(key) ?? [];
    list.push(r);
    perVersion.set(key, list);
  }
  const loaded = [...perVersion.entries()]
    .filter(([, list]) => isLoadedSomewhere(list))
    .map(([key]) => byKey.get(key))
    .filter((f): f is VersionFacts => f !== undefined);

  const providers = (await deps.metadata.listProviders()).map((p) => ({
    name: p.name,
    enabled: p.state !== 'disabled',
  }));
  return { providers, versions, loaded, versionsByStatus };
}

/**
 * For each provider: are all files of every version it serves present in the blob store? null when
 * it serves nothing (no VERIFIED version): there are no files to miss. The runbook's ModelFilesMissing.
 */
export async function providerFilesPresent(deps: RegistryDeps): Promise<Record<string, boolean | null>> {
  const out: Record<string, boolean | null> = {};
  for (const p of await deps.metadata.listProviders()) {
    let any = false;
    let present = true;
    for await (const m of modelsOfProvider(deps, p.name)) {
      const served = await servedVersion(deps, m.name);
      if (!served) continue;
      any = true;
      const stats = await Promise.all(served.files.map((f) => deps.blobs.stat(f.sha256)));
      if (stats.some((s, i) => s?.size !== served.files[i]!.size)) present = false;
    }
    out[p.name] = any ? present : null;
  }
  return out;
}
