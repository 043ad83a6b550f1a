import type { FieldReportRequest, LoadReport } from '../schemas/load-report.schema.js';
import type { LoadError } from '../schemas/report.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { notFound, RegistryError } from './errors.js';
import { eventsOf } from './events.js';
import type { LoadTally, RegistryDeps, TalliedLoad, VersionRef } from './ports.js';
import { operationsSettings } from './ports.js';
import { rollBackRamp } from './providers.js';
import { transitionCondition } from './version-state.js';

/**
 * Load reports: what nodes in the field (and the validator) saw when they loaded a version. A failed
 * field report can quarantine a VERIFIED version (N distinct nodes within a window) and rolls back a
 * provider's ramp; every report feeds the health score and the metrics.
 */

const isConflict = (e: unknown) => e instanceof RegistryError && e.code === 'CONFLICT';

/**
 * Who sent a field report, as the transport authenticated it: `principal` is a token's id or an IAM
 * principal's ARN, null on an open loopback server (no tokens: it trusts its own machine, so the node id a
 * report names is taken as its identity). `fleet` marks a principal that speaks for many nodes (a
 * `node`-role token): the node id of its report is a sub-identity of it.
 */
export interface ReportSender {
  readonly principal: string | null;
  readonly fleet: boolean;
}

/** The sender on a server without tokens (loopback only): the node id a report names is believed. */
export const TRUSTED_MACHINE: ReportSender = { principal: null, fleet: false };

/**
 * The identity a report counts as, and the credential behind it. A reader token (or any non-fleet
 * principal) is one reporter whatever node ids it names; a fleet token's reporters are principal/node.
 */
export function reporterOf(sender: ReportSender, node: string): { principal: string; reporter: string } {
  if (sender.principal === null) return { principal: `node:${node}`, reporter: `node:${node}` };
  return {
    principal: sender.principal,
    reporter: sender.fleet ? `${sender.principal}/${node}` : sender.principal,
  };
}

/**
 * The reporters and credentials of a tally (LoadTally, core/ports.ts) whose latest failure is at or
 * after `since` and after `after` (both ISO; failures before a version was (re)verified do not count):
 * the distinct reporters and credentials of the failed field reports of that window. Validator runs are
 * never tallied.
 */
export function tallyFailures(
  tally: LoadTally,
  since: string,
  after = '',
): { reporters: number; principals: number } {
  const counts = (map: Readonly<Record<string, string>>) =>
    Object.values(map).filter((at) => at >= since && at > after).length;
  return { reporters: counts(tally.failedReporters), principals: counts(tally.failedPrincipals) };
}

/**
 * Whether the tallied failures of the window reach a threshold of `n` reporters. At least two distinct
 * credentials are needed as well (when n ≥ 2): one token, whatever node ids it names, never acts alone.
 */
export function enoughTalliedFailures(tally: LoadTally, n: number, since: string, after = ''): boolean {
  const count = tallyFailures(tally, since, after);
  return count.reporters >= n && count.principals >= Math.min(2, n);
}

/** Loaded somewhere, from a tally: a node whose latest field load, at or after `since`, was ok. */
export const tallyLoaded = (tally: LoadTally, since: string): boolean =>
  Object.values(tally.okNodes).some((at) => at >= since);

/**
 * How many entries each map of a tally keeps: the decisions above stay exact while this is at least
 * every reporter threshold and 2 (ports.ts LoadTally); more only makes "loaded somewhere" survive more
 * nodes turning bad at once.
 */
export const TALLY_KEEP = 32;
const tallyKeep = (deps: Pick<RegistryDeps, 'settings'>) => {
  const s = operationsSettings(deps);
  return Math.max(TALLY_KEEP, s.quarantineNodes, s.rampRollbackReporters, 2);
};

/** Loaded somewhere: some node's latest field report (reports are newest first) is ok. */
export function isLoadedSomewhere(reports: readonly LoadReport[]): boolean {
  const latest = new Map<string, LoadReport>();
  for (const r of reports) if (r.source === 'field' && !latest.has(r.node)) latest.set(r.node, r);
  return [...latest.values()].some((r) => r.outcome === 'ok');
}

/**
 * What recording a field report did: the stored report, the version it was about, and whether it
 * quarantined the version or rolled back a provider's ramp.
 */
export interface FieldReportResult {
  readonly report: LoadReport;
  readonly version: Version;
  readonly quarantined: boolean;
  readonly rampRolledBack: boolean;
}

/**
 * Stores a node's report of loading a version. A failure counts towards quarantine of a VERIFIED
 * version (`quarantineNodes` distinct reporters within the window) and towards rolling back the
 * provider's ramp (`rampRollbackReporters` distinct reporters since the ramp started); see
 * `enoughTalliedFailures` for who counts as distinct.
 */
export async function recordFieldReport(
  deps: RegistryDeps,
  ref: VersionRef,
  req: FieldReportRequest,
  sender: ReportSender,
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
    ...reporterOf(sender, req.node),
    source: 'field',
    outcome: req.outcome,
    ...(req.code ? { code: req.code } : {}),
    ...(req.message ? { message: req.message } : {}),
    at: now.toISOString(),
  };
  await deps.metadata.appendLoadReport(report);
  // Every decision below reads this bounded tally, never the reports themselves: a report costs the same
  // few reads whether ten nodes or ten thousand report the version.
  const load: TalliedLoad = {
    reporter: report.reporter!,
    principal: report.principal!,
    node: report.node,
    outcome: report.outcome,
    at: report.at,
  };
  const tally = await deps.metadata.tallyFieldLoad({ ref }, load, tallyKeep(deps));

  let quarantined = false;
  let rampRolledBack = false;
  if (report.outcome === 'failed') {
    const why = `node ${report.node} reported ${report.code} loading ${version.model}@${version.version}`;
    rampRolledBack = await rollBackRampOnFailures(deps, version.provider, load, why);
    if (version.status === 'VERIFIED') {
      // Failures from before the version was (re)verified do not count: a released version starts afresh.
      const since = new Date(now.getTime() - settings.quarantineWindowMs).toISOString();
      const verifiedAt = version.updatedAt;
      if (enoughTalliedFailures(tally, settings.quarantineNodes, since, verifiedAt)) {
        const reporters = tallyFailures(tally, since, verifiedAt).reporters;
        const minutes = Math.round(settings.quarantineWindowMs / 60_000);
        const q = await quarantine(
          deps,
          version,
          {
            code: report.code!,
            message: `quarantined: ${reporters} distinct nodes (authenticated reporters) reported load failures within ${minutes} min (latest: node ${report.node}: ${report.code}${report.message ? `: ${report.message}` : ''})`,
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
  const loaded = tallyLoaded(tally, new Date(now.getTime() - settings.loadedWindowMs).toISOString());
  eventsOf(deps).fieldReportReceived({ version, report, loaded });
  return { report, version, quarantined, rampRolledBack };
}

/**
 * Rolls back the provider's ramp once enough distinct reporters failed since it started; true if it did.
 * Failures are tallied per provider only while it ramps: a provider's tally counts from its ramp's start.
 */
async function rollBackRampOnFailures(
  deps: RegistryDeps,
  provider: string,
  load: TalliedLoad,
  why: string,
): Promise<boolean> {
  const record = await deps.metadata.getProvider(provider);
  if (record?.state !== 'ramping' || !record.ramp) return false;
  const tally = await deps.metadata.tallyFieldLoad({ provider }, load, tallyKeep(deps));
  if (!enoughTalliedFailures(tally, operationsSettings(deps).rampRollbackReporters, record.ramp.startedAt))
    return false;
  return (await rollBackRamp(deps, provider, why)) !== null;
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

/** Load reports, newest first: of one provider, or of every provider; at most `query.limit`. */
export function listLoadReports(
  deps: RegistryDeps,
  query: { provider?: string | undefined; limit: number },
): Promise<LoadReport[]> {
  return deps.metadata.listLoadReports(query.provider ? { provider: query.provider } : { all: true }, {
    limit: query.limit,
  });
}
