import type { FieldReportRequest, LoadReport } from '../schemas/load-report.schema.js';
import type { LoadError } from '../schemas/report.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { notFound, RegistryError } from './errors.js';
import { eventsOf } from './events.js';
import type { RegistryDeps, VersionRef } from './ports.js';
import { operationsSettings } from './ports.js';
import { rollBackRamp } from './providers.js';
import { transitionCondition } from './version-state.js';

/**
 * Load reports: what nodes in the field (and the validator) saw when they loaded a version. A failed
 * field report can quarantine a VERIFIED version (N distinct nodes within a window) and rolls back a
 * provider's ramp; every report feeds the health score and the metrics.
 */

const isConflict = (e: unknown) => e instanceof RegistryError && e.code === 'CONFLICT';

/** Nodes whose field reports in `reports` failed: the quarantine count. Validator runs do not count. */
export function distinctFailingNodes(reports: readonly LoadReport[]): Set<string> {
  return new Set(reports.filter((r) => r.source === 'field' && r.outcome === 'failed').map((r) => r.node));
}

/** Loaded somewhere: some node's latest field report (reports are newest first) is ok. */
export function isLoadedSomewhere(reports: readonly LoadReport[]): boolean {
  const latest = new Map<string, LoadReport>();
  for (const r of reports) if (r.source === 'field' && !latest.has(r.node)) latest.set(r.node, r);
  return [...latest.values()].some((r) => r.outcome === 'ok');
}

export interface FieldReportResult {
  readonly report: LoadReport;
  readonly version: Version;
  readonly quarantined: boolean;
  readonly rampRolledBack: boolean;
}

export async function recordFieldReport(
  deps: RegistryDeps,
  ref: VersionRef,
  req: FieldReportRequest,
): Promise<FieldReportResult> {
  const settings = operationsSettings(deps);
  let version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  if (version.status === 'PENDING_UPLOAD')
    throw new RegistryError(
      'CONFLICT',
      `${ref.model}@${ref.version} was never committed: no node can have loaded it`,
      {
        status: version.status,
      },
    );
  const now = deps.clock.now();
  const report: LoadReport = {
    model: version.model,
    version: version.version,
    provider: version.provider,
    node: req.node,
    source: 'field',
    outcome: req.outcome,
    ...(req.code ? { code: req.code } : {}),
    ...(req.message ? { message: req.message } : {}),
    at: now.toISOString(),
  };
  await deps.metadata.appendLoadReport(report);

  let quarantined = false;
  let rampRolledBack = false;
  if (report.outcome === 'failed') {
    const why = `node ${report.node} reported ${report.code} loading ${version.model}@${version.version}`;
    rampRolledBack = (await rollBackRamp(deps, version.provider, why)) !== null;
    if (version.status === 'VERIFIED') {
      // Failures from before the version was (re)verified do not count: a released version starts afresh.
      const since = new Date(now.getTime() - settings.quarantineWindowMs).toISOString();
      const recent = await deps.metadata.listLoadReports({ ref }, { since, limit: 1000 });
      const verifiedAt = version.updatedAt;
      const nodes = distinctFailingNodes(recent.filter((r) => r.at > verifiedAt));
      if (nodes.size >= settings.quarantineNodes) {
        const minutes = Math.round(settings.quarantineWindowMs / 60_000);
        const q = await quarantine(
          deps,
          version,
          {
            code: report.code!,
            message: `quarantined: ${nodes.size} distinct nodes reported load failures within ${minutes} min (latest: node ${report.node}: ${report.code}${report.message ? `: ${report.message}` : ''})`,
          },
          'field-reports',
        );
        if (q) {
          version = q;
          quarantined = true;
        }
      }
    }
  }
  const loadedSince = new Date(now.getTime() - settings.loadedWindowMs).toISOString();
  const loaded = isLoadedSomewhere(
    await deps.metadata.listLoadReports({ ref }, { since: loadedSince, limit: 1000 }),
  );
  eventsOf(deps).fieldReportReceived({ version, report, loaded });
  return { report, version, quarantined, rampRolledBack };
}

/** VERIFIED → QUARANTINED, conditionally; null if another writer changed the version first. */
async function quarantine(
  deps: RegistryDeps,
  version: Version,
  reason: LoadError,
  by: 'field-reports' | 'operator',
): Promise<Version | null> {
  try {
    const updated = await deps.metadata.updateVersion(
      version,
      transitionCondition(['VERIFIED'], 'QUARANTINED'),
      {
        status: 'QUARANTINED',
        statusReason: reason,
        updatedAt: deps.clock.now().toISOString(),
      },
    );
    eventsOf(deps).versionQuarantined({ version: updated, by, reason: reason.message });
    return updated;
  } catch (e) {
    if (isConflict(e)) return null;
    throw e;
  }
}

/** QUARANTINED → VERIFIED by an operator. Field failures reported before the release no longer count. */
export async function releaseVersion(deps: RegistryDeps, ref: VersionRef): Promise<Version> {
  const version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  if (version.status !== 'QUARANTINED')
    throw new RegistryError(
      'CONFLICT',
      `${ref.model}@${ref.version} is ${version.status}: only a QUARANTINED version can be released`,
      {
        status: version.status,
      },
    );
  const released = await deps.metadata.updateVersion(ref, transitionCondition(['QUARANTINED'], 'VERIFIED'), {
    status: 'VERIFIED',
    statusReason: undefined,
    updatedAt: deps.clock.now().toISOString(),
  });
  eventsOf(deps).versionReleased({ version: released, by: 'operator' });
  return released;
}

/**
 * Records what a validation concluded, as a load by the validator (it counts in the health score), and
 * emits validationFinished. Called by the validation job lifecycle once the version is settled.
 */
export async function recordValidationOutcome(
  deps: RegistryDeps,
  version: Version,
  worker: string,
  detail: {
    error?: LoadError | undefined;
    durationMs?: number | undefined;
    peakRssBytes?: number | undefined;
  },
): Promise<void> {
  await deps.metadata.appendLoadReport({
    model: version.model,
    version: version.version,
    provider: version.provider,
    node: worker,
    source: 'validation',
    outcome: detail.error ? 'failed' : 'ok',
    ...(detail.error ? { code: detail.error.code, message: detail.error.message.slice(0, 2000) } : {}),
    at: deps.clock.now().toISOString(),
  });
  eventsOf(deps).validationFinished({ version, ...detail });
}

export function listLoadReports(
  deps: RegistryDeps,
  query: { provider?: string | undefined; limit: number },
): Promise<LoadReport[]> {
  return deps.metadata.listLoadReports(query.provider ? { provider: query.provider } : { all: true }, {
    limit: query.limit,
  });
}
