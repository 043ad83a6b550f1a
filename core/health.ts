import type {
  HealthNote,
  LastError,
  ProviderHealth,
  ProviderStatus,
  ProviderSummary,
} from '../schemas/health.schema.js';
import type { LoadReport } from '../schemas/load-report.schema.js';
import type { Model } from '../schemas/model.schema.js';
import type { ProviderRecord } from '../schemas/provider.schema.js';
import type { Version, VersionStatus } from '../schemas/version.schema.js';
import { notFound } from './errors.js';
import { modelsOfProvider } from './pages.js';
import { type OperationsSettings, operationsSettings, type Page, type RegistryDeps } from './ports.js';
import { rampPosition } from './provider-ramp.js';
import { servedVersion } from './resolve.js';

/**
 * Provider health, the rule in one place (GET /health, GET /api/v1/providers, the dashboard, the AWS
 * health-score metric all call `providerHealthOf`). A provider's health is that of what it serves and of
 * what serving nodes reported about it (DESIGN.md "What the runbook's signals mean"); a candidate the
 * registry refused is a prevented incident, shown as a note, never a status:
 *
 * - served version of a model: its `production` alias target (falling back past a QUARANTINED one),
 *   else its newest VERIFIED version (core/resolve.ts `servedVersion`).
 * - judged models: those that have been released (some version of them passed validation: it is
 *   VERIFIED or QUARANTINED, or a passed report is in its history, as for a version re-validated after it
 *   was VERIFIED, or deprecated). A model whose every version is still a
 *   candidate (pending, validating, refused) has never been served, so its refused first candidate is a
 *   prevented incident and does not make a provider that serves other models unhealthy; it shows as a
 *   note. When no model of the provider has been released, all of them are judged.
 * - healthScore: the share of the field loads (reports from nodes, `fetch --report`) in the health
 *   window (default 1 h) that succeeded; with none in the window, 1 if every judged model has a served
 *   version, else 0 (the runbook: "health score = 0 indicates initialization failure"). Validations do
 *   not count.
 * - status, first match wins:
 *   1. `disabled`: an operator, DISABLED_PROVIDERS or a rolled-back ramp disabled it;
 *   2. `unhealthy`: the provider has no model, or some judged model has no served version, or the score
 *      is below `unhealthyBelow` (default 0.5);
 *   3. `degraded`: some field load in the window failed (score < 1), or a ramp is still admitting only
 *      part of the nodes;
 *   4. `healthy`.
 * - notes: one `candidate-refused` per model whose newest settled version (VERIFIED, FAILED or
 *   QUARANTINED) FAILED validation.
 * - lastError: the newest failed field load in the window, or null.
 * - modelLoaded: not disabled, and every judged model has a served version whose latest load
 *   (validation or field) succeeded.
 */

const SETTLED: readonly VersionStatus[] = ['VERIFIED', 'FAILED', 'QUARANTINED'];

/** Reports of one version read to learn whether it ever passed; a longer history counts as released. */
const REPORTS_READ = 20;

/**
 * Whether some version of the model passed validation once: VERIFIED or QUARANTINED now, or a passed
 * report in a version's history (re-validated after it was VERIFIED, deprecated, …). Beyond the versions
 * and reports read, a release cannot be ruled out: released, so the model is judged.
 */
async function everReleased(deps: RegistryDeps, page: Page<Version>): Promise<boolean> {
  if (page.nextCursor !== undefined) return true;
  if (page.items.some((v) => v.status === 'VERIFIED' || v.status === 'QUARANTINED')) return true;
  for (const v of page.items) {
    if (v.status === 'PENDING_UPLOAD') continue;
    const reports = await deps.metadata.listReports(v, { limit: REPORTS_READ });
    if (reports.nextCursor !== undefined || reports.items.some((r) => r.outcome === 'passed')) return true;
  }
  return false;
}

/** What the health rules need to know about one model of a provider (read once, judged by pure functions). */
export interface ModelFacts {
  readonly model: string;
  readonly served: Version | null;
  /** The newest version that validation settled (VERIFIED, FAILED or QUARANTINED), if any. */
  readonly newestSettled: Version | null;
  /** The latest load of the served version, any source. */
  readonly servedLatestLoad: LoadReport | null;
  /** Some version passed validation once (see the rule above). */
  readonly released: boolean;
}

/** What the health rules need to know about one provider: its record, its models, its recent field loads. */
export interface ProviderFacts {
  readonly provider: ProviderRecord;
  readonly models: readonly ModelFacts[];
  /** Field loads (source `field`) of the provider's versions within the health window, newest first. */
  readonly recentLoads: readonly LoadReport[];
  readonly now: Date;
}

const fieldLoads = (loads: readonly LoadReport[]) => loads.filter((r) => r.source === 'field');

/** The models the status rule judges: the released ones, or all when none has been released. */
export function judgedModels(models: readonly ModelFacts[]): readonly ModelFacts[] {
  const released = models.filter((m) => m.released);
  return released.length > 0 ? released : models;
}

/**
 * Share of the provider's recent field loads that succeeded, 0..1. Without loads: 1 when every model
 * serves a version, else 0.
 */
export function healthScore(facts: Pick<ProviderFacts, 'models' | 'recentLoads'>): number {
  const loads = fieldLoads(facts.recentLoads);
  const judged = judgedModels(facts.models);
  if (loads.length === 0) return judged.length > 0 && judged.every((m) => m.served) ? 1 : 0;
  return loads.filter((r) => r.outcome === 'ok').length / loads.length;
}

/**
 * The provider's status by DESIGN.md's health rules, with the reasons in words and the health score:
 * `disabled` (its record says so), `unhealthy` (nothing to serve, or a score under `unhealthyBelow`),
 * `degraded` (some field loads failed, or a ramp is under way), else `healthy`. Pure.
 */
export function providerStatus(
  facts: ProviderFacts,
  settings: Pick<OperationsSettings, 'unhealthyBelow'>,
): { status: ProviderStatus; reasons: string[]; score: number } {
  const score = healthScore(facts);
  const p = facts.provider;
  if (p.state === 'disabled')
    return {
      status: 'disabled',
      reasons: [`disabled by ${p.disabledBy ?? 'operator'}: ${p.reason ?? 'no reason given'}`],
      score,
    };
  const unhealthy: string[] = [];
  if (facts.models.length === 0) unhealthy.push('no model uses this provider');
  for (const m of judgedModels(facts.models))
    if (!m.served) unhealthy.push(`${m.model} has no VERIFIED version to serve`);
  if (score < settings.unhealthyBelow)
    unhealthy.push(`health score ${score.toFixed(2)} is below ${settings.unhealthyBelow}`);
  if (unhealthy.length > 0) return { status: 'unhealthy', reasons: unhealthy, score };
  const degraded: string[] = [];
  const loads = fieldLoads(facts.recentLoads);
  const failed = loads.filter((r) => r.outcome === 'failed').length;
  if (failed > 0) degraded.push(`${failed} of ${loads.length} recent loads on nodes failed`);
  const ramp = rampPosition(p, facts.now);
  if (ramp.percent < 100) degraded.push(`re-enabling gradually: ${ramp.percent}% of nodes admitted`);
  return degraded.length > 0
    ? { status: 'degraded', reasons: degraded, score }
    : { status: 'healthy', reasons: [], score };
}

/** The newest failed field load among the recent ones that carries a code, or null when there is none. */
export function lastErrorOf(facts: Pick<ProviderFacts, 'recentLoads'>): LastError | null {
  const failed = fieldLoads(facts.recentLoads).find((r) => r.outcome === 'failed' && r.code);
  return failed
    ? {
        code: failed.code!,
        message: failed.message ?? '',
        model: failed.model,
        version: failed.version,
        source: failed.source,
        at: failed.at,
      }
    : null;
}

/** A note per model whose newest settled version was refused by validation (see the rule above). */
export function refusedCandidates(facts: Pick<ProviderFacts, 'models'>): HealthNote[] {
  const notes: HealthNote[] = [];
  for (const m of facts.models) {
    const v = m.newestSettled;
    // A FAILED version always carries its reason (core/validation-jobs.ts); without one there is no cause to show.
    const reason = v?.status === 'FAILED' ? (v.statusReason ?? v.report?.error) : undefined;
    if (!v || !reason) continue;
    const code = reason.code;
    const served = m.served ? `${m.served.model}@${m.served.version}` : null;
    notes.push({
      kind: 'candidate-refused',
      model: v.model,
      version: v.version,
      code,
      message: reason.message,
      at: v.updatedAt,
      served,
      text: `${v.model}@${v.version} was refused by validation (${code}); ${
        served
          ? `${served} is still served`
          : m.released
            ? `${v.model} has no VERIFIED version left to serve`
            : `${v.model} has no VERIFIED version yet`
      }`,
    });
  }
  return notes;
}

/**
 * The health part of a provider's summary (status, reasons, score, served version, last error) from its
 * facts. Pure.
 */
export function providerHealthOf(
  facts: ProviderFacts,
  settings: Pick<OperationsSettings, 'unhealthyBelow'>,
): ProviderHealth {
  const { status, reasons, score } = providerStatus(facts, settings);
  const served = facts.models.map((m) => m.served).filter((v): v is Version => v !== null);
  const current = served.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  const modelLoaded =
    facts.provider.state !== 'disabled' &&
    facts.models.length > 0 &&
    judgedModels(facts.models).every((m) => m.served && m.servedLatestLoad?.outcome === 'ok');
  return {
    status,
    healthScore: Math.round(score * 1000) / 1000,
    currentVersion: current ? `${current.model}@${current.version}` : null,
    modelLoaded,
    lastError: lastErrorOf(facts),
    state: facts.provider.state,
    reasons,
    notes: refusedCandidates(facts),
    admitPercent: rampPosition(facts.provider, facts.now).percent,
  };
}

async function modelsOf(deps: RegistryDeps, provider: string): Promise<Model[]> {
  const models: Model[] = [];
  for await (const m of modelsOfProvider(deps, provider)) models.push(m);
  return models;
}

async function modelFacts(deps: RegistryDeps, model: string): Promise<ModelFacts> {
  const [served, newest] = await Promise.all([
    servedVersion(deps, model),
    deps.metadata.listVersions(model, { limit: 20 }),
  ]);
  const servedLatestLoad = served
    ? ((await deps.metadata.listLoadReports({ ref: served }, { limit: 1 }))[0] ?? null)
    : null;
  return {
    model,
    served,
    newestSettled: newest.items.find((v) => SETTLED.includes(v.status)) ?? null,
    servedLatestLoad,
    released: served !== null || (await everReleased(deps, newest)),
  };
}

/**
 * Reads the facts about `provider` from the store: its models, the version each serves, and its field
 * loads within the health window (`healthWindowMs` of the operations settings).
 */
export async function providerFacts(
  deps: RegistryDeps,
  provider: ProviderRecord,
): Promise<ProviderFacts & { modelNames: string[] }> {
  const now = deps.clock.now();
  const since = new Date(now.getTime() - operationsSettings(deps).healthWindowMs).toISOString();
  const models = await modelsOf(deps, provider.name);
  const [facts, recentLoads] = await Promise.all([
    Promise.all(models.map((m) => modelFacts(deps, m.name))),
    deps.metadata.listLoadReports({ provider: provider.name }, { since, limit: 1000 }),
  ]);
  return {
    provider,
    models: facts,
    recentLoads: fieldLoads(recentLoads),
    now,
    modelNames: models.map((m) => m.name),
  };
}

/** The summary `GET /api/v1/providers/{provider}` returns: health, ramp position and models. */
export async function providerSummary(deps: RegistryDeps, record: ProviderRecord): Promise<ProviderSummary> {
  const facts = await providerFacts(deps, record);
  const health = providerHealthOf(facts, operationsSettings(deps));
  const ramp = record.state === 'ramping' && record.ramp ? rampPosition(record, facts.now) : null;
  return {
    name: record.name,
    ...health,
    enabled: record.state !== 'disabled',
    model_loaded: health.modelLoaded,
    ...(record.disabledBy && record.state === 'disabled' ? { disabledBy: record.disabledBy } : {}),
    ...(record.reason && record.state === 'disabled' ? { reason: record.reason } : {}),
    ...(ramp && record.ramp
      ? {
          ramp: {
            steps: record.ramp.steps,
            stepSeconds: record.ramp.stepMs / 1000,
            startedAt: record.ramp.startedAt,
            nextStepAt: ramp.nextStepAt?.toISOString() ?? null,
          },
        }
      : {}),
    models: facts.modelNames,
  };
}

/** The summary of every provider the registry knows (`GET /api/v1/providers`). */
export async function listProviderSummaries(deps: RegistryDeps): Promise<ProviderSummary[]> {
  const records = await deps.metadata.listProviders();
  return Promise.all(records.map((r) => providerSummary(deps, r)));
}

/**
 * The summary of provider `name`.
 * @throws RegistryError NOT_FOUND when no such provider exists.
 */
export async function getProviderSummary(deps: RegistryDeps, name: string): Promise<ProviderSummary> {
  const record = await deps.metadata.getProvider(name);
  if (!record) throw notFound(`provider ${name}`, { provider: name });
  return providerSummary(deps, record);
}

/** GET /health: every provider by name; `degraded` overall when an enabled provider is not healthy. */
export async function registryHealth(
  deps: RegistryDeps,
): Promise<{ status: 'healthy' | 'degraded'; providers: Record<string, ProviderHealth> }> {
  const summaries = await listProviderSummaries(deps);
  const providers: Record<string, ProviderHealth> = {};
  for (const s of summaries) {
    const {
      name: _n,
      enabled: _e,
      model_loaded: _m,
      disabledBy: _d,
      reason: _r,
      ramp: _p,
      models: _ms,
      ...health
    } = s;
    providers[s.name] = health;
  }
  const allWell = summaries.every((s) => s.status === 'healthy' || s.status === 'disabled');
  return { status: allWell ? 'healthy' : 'degraded', providers };
}
