import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { PrometheusMetrics } from '../adapters/metrics/prometheus-metrics.js';
import { fanOutEvents } from '../core/events.js';
import { listProviderSummaries, registryHealth } from '../core/health.js';
import type { RegistryDeps, RegistryEvents } from '../core/ports.js';
import { applyDisabledProvidersList } from '../core/providers.js';
import { providerFilesPresent, registrySnapshot } from '../core/registry-state.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';
import { dashboardData, embeddedDataScript } from './dashboard/dashboard-data.js';
import { matchRoute } from './http-event.js';
import type { Logger } from './log.js';
import { logEvents } from './log-events.js';
import { PACKAGE_VERSION, packageRoot } from './package-info.js';

const DASHBOARD_DIR = join(packageRoot(), 'local', 'dashboard');
const DASHBOARD_FILE = /^\/dashboard\/([a-z0-9-]+\.(js|css|svg))$/;
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/**
 * What the local server shows of itself: events to metrics and logs, /metrics, /health and the dashboard.
 * ("Operations" is the runbook's provider, field-report and quarantine rules in core/; this only observes.)
 */
export class LocalObservability {
  readonly metrics: PrometheusMetrics;
  readonly events: RegistryEvents;
  private deps: RegistryDeps | null = null;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly config: LocalServerConfig,
    private readonly log: Logger,
  ) {
    this.metrics = new PrometheusMetrics({
      namespace: config.MODELGATE_METRICS_NAMESPACE,
      queueCounts: async () => ({
        waiting: await this.count('UPLOADED'),
        validating: await this.count('VALIDATING'),
      }),
    });
    // State gauges follow events at once where they can; a refresh from the store shortly after keeps
    // the rest (versions by status, files present, health scores) in step.
    const refreshSoon: Partial<RegistryEvents> = {
      validationFinished: () => this.refreshSoon(),
      fieldReportReceived: () => this.refreshSoon(),
      versionQuarantined: () => this.refreshSoon(),
      versionReleased: () => this.refreshSoon(),
      providerChanged: () => this.refreshSoon(),
    };
    this.events = fanOutEvents([this.metrics, logEvents(log), refreshSoon], (e) =>
      log('event_sink_error', { level: 'error', error: String(e) }),
    );
  }

  /** Applies DISABLED_PROVIDERS, rebuilds the gauges from the store, and starts the periodic refresh. */
  async start(deps: RegistryDeps): Promise<void> {
    this.deps = deps;
    await applyDisabledProvidersList(deps, this.config.DISABLED_PROVIDERS);
    await this.refresh();
    this.timer = setInterval(() => this.refresh(), this.config.MODELGATE_METRICS_REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    await this.refreshing;
    this.deps = null;
  }

  /**
   * Serves /metrics, /health, / and /dashboard/*; false for any other request. `ready`: the server has
   * started; `embedData`: the dashboard page may carry the registry's data (a server without tokens);
   * `healthDetails`: /health may name the providers (else only its status and version).
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    { ready, embedData, healthDetails }: { ready: boolean; embedData: boolean; healthDetails: boolean },
  ): Promise<boolean> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.pathname === '/metrics') {
      const text = await this.metrics.render();
      res.writeHead(200, { 'content-type': this.metrics.contentType }).end(text);
      return true;
    }
    if (url.pathname === '/health') {
      if (!ready || !this.deps) {
        sendJson(res, 503, { status: 'starting', version: PACKAGE_VERSION, providers: {} });
        return true;
      }
      const { status, providers } = await registryHealth(this.deps);
      sendJson(res, 200, { status, version: PACKAGE_VERSION, ...(healthDetails ? { providers } : {}) });
      return true;
    }
    if (url.pathname === '/' || url.pathname === '/dashboard' || url.pathname === '/dashboard/') {
      await this.sendDashboard(res, embedData);
      return true;
    }
    const file = DASHBOARD_FILE.exec(url.pathname);
    if (file) {
      await this.sendFile(res, file[1]!, file[2]!);
      return true;
    }
    return false;
  }

  /** The route template of a request, as the http metrics label it (bounded: never a raw path). */
  routeLabel(method: string, pathname: string): string {
    if (pathname === '/metrics' || pathname === '/health' || pathname === '/') return pathname;
    if (pathname.startsWith('/dashboard')) return '/dashboard';
    if (pathname.startsWith('/blobs/uploads/')) return '/blobs/uploads/{uploadId}';
    if (pathname.startsWith('/blobs/')) return '/blobs/sha256/{sha256}';
    try {
      return matchRoute(method, pathname)?.route.path ?? 'unmatched';
    } catch {
      return 'unmatched';
    }
  }

  /** index.html with the data of its first paint embedded (app.js renders it at once, then polls the API). */
  private async sendDashboard(res: ServerResponse, embedData: boolean): Promise<void> {
    const html = await readFile(join(DASHBOARD_DIR, 'index.html'), 'utf8');
    const data = this.deps && embedData ? embeddedDataScript(await dashboardData(this.deps)) : '';
    res
      .writeHead(200, { 'content-type': CONTENT_TYPES.html!, 'cache-control': 'no-cache' })
      .end(html.replace('<!-- dashboard-data -->', data));
  }

  private async sendFile(res: ServerResponse, name: string, ext: string): Promise<void> {
    try {
      const body = await readFile(join(DASHBOARD_DIR, name));
      res
        .writeHead(200, {
          'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
          'cache-control': 'no-cache',
        })
        .end(body);
    } catch {
      sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no dashboard file ${name}` } });
    }
  }

  private async count(status: 'UPLOADED' | 'VALIDATING'): Promise<number> {
    if (!this.deps) return 0;
    return (await this.deps.metadata.listVersionsByStatus(status, { limit: 1000 })).items.length;
  }

  private refreshSoon(): void {
    if (this.soon || !this.deps) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.refresh();
    }, 250);
    this.soon.unref();
  }

  /** Gauges from the store: one refresh at a time; a failed one is logged and retried on the next tick. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const deps = this.deps;
      if (!deps) return;
      try {
        this.metrics.applySnapshot(await registrySnapshot(deps));
        this.metrics.setFilesPresent(await providerFilesPresent(deps));
        const summaries = await listProviderSummaries(deps);
        this.metrics.setHealthScores(Object.fromEntries(summaries.map((s) => [s.name, s.healthScore])));
      } catch (e) {
        this.log('metrics_refresh_error', { level: 'error', error: String((e as Error)?.stack ?? e) });
      }
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
