import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RegistryEvents } from '../../core/ports.js';
import {
  canStillFail,
  factsOf,
  type RegistrySnapshot,
  type VersionFacts,
} from '../../core/registry-state.js';
import { LOAD_ERROR_FAMILY, LoadErrorCode } from '../../schemas/error-codes.schema.js';
import { ZeroFirstCounter } from './zero-first-counter.js';

const REASONS = LoadErrorCode.options;
const VERSION_LABELS = ['provider', 'model', 'version'] as const;
const ERROR_LABELS = ['code', 'reason', 'provider', 'model', 'version'] as const;
const REFUSAL_LABELS = ['provider', 'model', 'code'] as const;

export interface QueueCounts {
  readonly waiting: number;
  readonly validating: number;
}

/**
 * The Prometheus side of the registry's events: the runbook's metric names (so its PromQL works as
 * written) under a configurable namespace, plus the registry's own. Gauges are rebuilt from the store
 * (`applySnapshot`) so a restart shows the right state; counters count events since start.
 *
 * Two meanings are kept apart (DESIGN.md "What the runbook's signals mean"):
 * - serving: `<ns>_errors_total{code="MODEL_LOAD_ERROR"}` and `<ns>_provider_initialization_failed_total`
 *   count only loads that failed on serving nodes (field reports, `fetch --report`): they page on-call;
 * - gating: `<ns>_validation_failures_total{provider,model,code}` counts candidates the registry refused.
 *   Nothing reached a node, so nothing in the runbook's family moves.
 */
export class PrometheusMetrics implements RegistryEvents {
  readonly registry = new Registry();
  private readonly errors: ZeroFirstCounter<(typeof ERROR_LABELS)[number]>;
  private readonly initFailed: ZeroFirstCounter<'provider'>;
  private readonly refused: ZeroFirstCounter<(typeof REFUSAL_LABELS)[number]>;
  private readonly modelSize: Gauge<'provider' | 'model' | 'version' | 'state'>;
  private readonly filesPresent: Gauge<'provider'>;
  private readonly validationDuration: Histogram<'provider' | 'outcome'>;
  private readonly validationPeak: Gauge<'provider' | 'model' | 'version'>;
  private readonly versions: Gauge<'status'>;
  private readonly fieldReports: Counter<'provider' | 'outcome'>;
  private readonly quarantined: Counter<'provider'>;
  private readonly providerEnabled: Gauge<'provider'>;
  private readonly healthScore: Gauge<'provider'>;
  private readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'route' | 'method'>;

  constructor(options: { namespace: string; queueCounts?: () => Promise<QueueCounts> }) {
    const ns = options.namespace;
    const registers = [this.registry];
    this.errors = new ZeroFirstCounter(
      new Counter({
        name: `${ns}_errors_total`,
        help: 'Model loads that failed on serving nodes (field reports); reason is the MODEL_LOAD_ERROR sub-code.',
        labelNames: ERROR_LABELS,
        registers,
      }),
      ERROR_LABELS,
    );
    this.initFailed = new ZeroFirstCounter(
      new Counter({
        name: `${ns}_provider_initialization_failed_total`,
        help: "Loads of one of the provider's versions that failed on serving nodes (field reports).",
        labelNames: ['provider'],
        registers,
      }),
      ['provider'],
    );
    this.refused = new ZeroFirstCounter(
      new Counter({
        name: `${ns}_validation_failures_total`,
        help: 'Candidate versions the registry refused (validation FAILED); code is the cause. No node got them.',
        labelNames: REFUSAL_LABELS,
        registers,
      }),
      REFUSAL_LABELS,
    );
    this.modelSize = new Gauge({
      name: `${ns}_model_size_bytes`,
      help: 'Bytes of a version: state="stored" for every VERIFIED version, state="loaded" for versions nodes report loaded.',
      labelNames: ['provider', 'model', 'version', 'state'],
      registers,
    });
    this.filesPresent = new Gauge({
      name: `${ns}_model_files_present`,
      help: '1 when every file of every version the provider serves is in the blob store, 0 when one is missing.',
      labelNames: ['provider'],
      registers,
    });
    this.validationDuration = new Histogram({
      name: `${ns}_validation_duration_seconds`,
      help: 'Wall time of a validation (fetch, inspect, isolated load, smoke inference).',
      labelNames: ['provider', 'outcome'],
      buckets: [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.validationPeak = new Gauge({
      name: `${ns}_validation_peak_memory_bytes`,
      help: 'Peak resident memory of the latest validation of a version.',
      labelNames: VERSION_LABELS,
      registers,
    });
    this.versions = new Gauge({
      name: `${ns}_model_versions`,
      help: 'Versions by status.',
      labelNames: ['status'],
      registers,
    });
    this.fieldReports = new Counter({
      name: `${ns}_field_reports_total`,
      help: 'Loads reported by serving nodes, by outcome.',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    this.quarantined = new Counter({
      name: `${ns}_versions_quarantined_total`,
      help: 'Versions quarantined (by field failures from distinct nodes, or by an operator).',
      labelNames: ['provider'],
      registers,
    });
    this.providerEnabled = new Gauge({
      name: `${ns}_provider_enabled`,
      help: '1 when the provider is enabled (or ramping), 0 when disabled.',
      labelNames: ['provider'],
      registers,
    });
    this.healthScore = new Gauge({
      name: `${ns}_provider_health_score`,
      help: 'Share of the loads nodes reported in the health window that succeeded (0..1); 1 with none when every model serves a VERIFIED version.',
      labelNames: ['provider'],
      registers,
    });
    this.httpRequests = new Counter({
      name: `${ns}_http_requests_total`,
      help: 'HTTP requests by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: `${ns}_http_request_duration_seconds`,
      help: 'HTTP request latency by route template.',
      labelNames: ['route', 'method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    // Read at scrape time: the queue is the versions table itself, and a bounded count is cheap. Both
    // gauges share one read per scrape.
    const queueCounts = options.queueCounts;
    let inFlight: Promise<QueueCounts> | null = null;
    const read = (): Promise<QueueCounts> =>
      (inFlight ??= (queueCounts ?? (async () => ({ waiting: 0, validating: 0 })))().finally(() => {
        setImmediate(() => {
          inFlight = null;
        });
      }));
    new Gauge({
      name: `${ns}_validation_queue_depth`,
      help: 'Committed versions waiting for validation.',
      registers,
      async collect() {
        this.set((await read()).waiting);
      },
    });
    new Gauge({
      name: `${ns}_validations_in_progress`,
      help: 'Versions being validated now.',
      registers,
      async collect() {
        this.set((await read()).validating);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition. Series created before this call are now shown at 0: their held counts apply. */
  async render(): Promise<string> {
    const done = [this.errors.beginScrape(), this.initFailed.beginScrape(), this.refused.beginScrape()];
    const text = await this.registry.metrics();
    for (const d of done) d();
    return text;
  }

  // ---- events (RegistryEvents) ----

  providerSeen({ provider }: { provider: string }): void {
    this.initFailed.init({ provider });
    this.providerEnabled.set({ provider }, 1);
  }

  versionCommitted({ version }: Parameters<RegistryEvents['versionCommitted']>[0]): void {
    this.initErrors(factsOf(version));
  }

  validationFinished(e: Parameters<RegistryEvents['validationFinished']>[0]): void {
    const v = factsOf(e.version);
    const labels = { provider: v.provider, model: v.model, version: v.version };
    if (e.durationMs !== undefined)
      this.validationDuration.observe(
        { provider: v.provider, outcome: e.error ? 'failed' : 'passed' },
        e.durationMs / 1000,
      );
    if (e.peakRssBytes) this.validationPeak.set(labels, e.peakRssBytes);
    if (e.error) {
      this.refused.inc({ provider: v.provider, model: v.model, code: e.error.code });
      this.modelSize.remove({ ...labels, state: 'stored' });
    } else this.modelSize.set({ ...labels, state: 'stored' }, v.totalSize);
  }

  fieldReportReceived(e: Parameters<RegistryEvents['fieldReportReceived']>[0]): void {
    const v = factsOf(e.version);
    this.fieldReports.inc({ provider: v.provider, outcome: e.report.outcome });
    if (e.report.outcome === 'failed' && e.report.code) this.countServingFailure(v, e.report.code);
    const labels = { provider: v.provider, model: v.model, version: v.version, state: 'loaded' };
    if (e.loaded) this.modelSize.set(labels, v.totalSize);
    else this.modelSize.remove(labels);
  }

  versionQuarantined(e: Parameters<RegistryEvents['versionQuarantined']>[0]): void {
    const v = e.version;
    this.quarantined.inc({ provider: v.provider });
    this.modelSize.remove({ provider: v.provider, model: v.model, version: v.version, state: 'stored' });
  }

  versionReleased(e: Parameters<RegistryEvents['versionReleased']>[0]): void {
    const v = e.version;
    this.modelSize.set(
      { provider: v.provider, model: v.model, version: v.version, state: 'stored' },
      v.totalSize,
    );
  }

  providerChanged(e: Parameters<RegistryEvents['providerChanged']>[0]): void {
    this.providerEnabled.set({ provider: e.provider.name }, e.provider.state === 'disabled' ? 0 : 1);
  }

  aliasFellBack(): void {}

  // ---- state from the store ----

  /** Replaces every gauge that describes state with what the store holds now. */
  applySnapshot(s: RegistrySnapshot): void {
    this.modelSize.reset();
    this.validationPeak.reset();
    for (const v of s.versions) {
      if (v.status === 'VERIFIED') this.modelSize.set({ ...versionLabels(v), state: 'stored' }, v.totalSize);
      if (v.peakRssBytes) this.validationPeak.set(versionLabels(v), v.peakRssBytes);
      if (canStillFail(v.status)) this.initErrors(v);
    }
    for (const v of s.loaded) this.modelSize.set({ ...versionLabels(v), state: 'loaded' }, v.totalSize);
    for (const [status, n] of Object.entries(s.versionsByStatus)) this.versions.set({ status }, n);
    for (const p of s.providers) {
      this.initFailed.init({ provider: p.name });
      this.providerEnabled.set({ provider: p.name }, p.enabled ? 1 : 0);
    }
  }

  /** `null`: the provider serves nothing, so no files can be missing (the series is removed). */
  setFilesPresent(present: Record<string, boolean | null>): void {
    for (const [provider, ok] of Object.entries(present)) {
      if (ok === null) this.filesPresent.remove({ provider });
      else this.filesPresent.set({ provider }, ok ? 1 : 0);
    }
  }

  setHealthScores(scores: Record<string, number>): void {
    for (const [provider, score] of Object.entries(scores)) this.healthScore.set({ provider }, score);
  }

  observeHttp(route: string, method: string, status: number, seconds: number): void {
    this.httpRequests.inc({ route, method, status: String(status) });
    this.httpDuration.observe({ route, method }, seconds);
  }

  // ---- helpers ----

  /** Every reason's serving series of the version, and every code's refusal series of its model, at 0. */
  private initErrors(v: VersionFacts): void {
    for (const reason of REASONS) {
      this.errors.init({ code: LOAD_ERROR_FAMILY, reason, ...versionLabels(v) });
      this.refused.init({ provider: v.provider, model: v.model, code: reason });
    }
  }

  private countServingFailure(v: VersionFacts, reason: string): void {
    this.errors.inc({ code: LOAD_ERROR_FAMILY, reason, ...versionLabels(v) });
    this.initFailed.inc({ provider: v.provider });
  }
}

const versionLabels = (v: VersionFacts) => ({ provider: v.provider, model: v.model, version: v.version });
