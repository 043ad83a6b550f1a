import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../../adapters/metrics/prometheus-metrics.js';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { commitVersion } from '../../core/publish.js';
import { registrySnapshot } from '../../core/registry-state.js';
import { LoadErrorCode } from '../../schemas/error-codes.schema.js';
import { aNewVersion } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';
import { promtool } from '../helpers/promtool.js';
import { needs } from '../helpers/system-programs.js';

const need = needs(['promtool']);

const sample = (text: string, name: string, labels: Record<string, string>): number | undefined => {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.split(' ').pop());
  }
  return undefined;
};

describe('Prometheus metrics from registry events', () => {
  let deps: TestDeps;
  let metrics: PrometheusMetrics;
  beforeEach(async () => {
    metrics = new PrometheusMetrics({ namespace: 'ocr' });
    deps = Object.assign(await localTestDeps(), { events: metrics });
  });
  afterEach(() => deps.cleanup());

  it('shows a new series at 0 in one scrape before it counts the first failure (so rate() sees it)', async () => {
    await validated(deps, 'det@1', { provider: 'paddle', fails: 'MODEL_CORRUPTED' });
    const labels = { provider: 'paddle', model: 'det', code: 'MODEL_CORRUPTED' };
    const first = await metrics.render();
    expect(sample(first, 'ocr_validation_failures_total', labels)).toBe(0);
    const second = await metrics.render();
    expect(sample(second, 'ocr_validation_failures_total', labels)).toBe(1);
    // once shown, a series counts at once
    await validated(deps, 'det@2', { provider: 'paddle', fails: 'MODEL_CORRUPTED' });
    expect(sample(await metrics.render(), 'ocr_validation_failures_total', labels)).toBe(2);

    await validated(deps, 'rec@1', { provider: 'tesseract' });
    await recordFieldReport(
      deps,
      { model: 'rec', version: '1' },
      { outcome: 'failed', code: 'INSUFFICIENT_MEMORY', node: 'n1' },
      TRUSTED_MACHINE,
    );
    const serving = { reason: 'INSUFFICIENT_MEMORY', provider: 'tesseract', model: 'rec', version: '1' };
    const third = await metrics.render();
    expect(sample(third, 'ocr_errors_total', serving)).toBe(0);
    expect(sample(third, 'ocr_provider_initialization_failed_total', { provider: 'tesseract' })).toBe(0);
    const fourth = await metrics.render();
    expect(sample(fourth, 'ocr_errors_total', { ...serving, code: 'MODEL_LOAD_ERROR' })).toBe(1);
    expect(sample(fourth, 'ocr_provider_initialization_failed_total', { provider: 'tesseract' })).toBe(1);
  });

  it('counts a refused candidate in validation_failures only: the serving signals stay at 0', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await metrics.render();
    await validated(deps, 'det@2', { provider: 'paddle', fails: 'MODEL_INVALID' });
    await metrics.render();
    const text = await metrics.render();
    expect(sample(text, 'ocr_validation_failures_total', { model: 'det', code: 'MODEL_INVALID' })).toBe(1);
    const serving = text
      .split('\n')
      .filter((l) => /^ocr_(errors_total|provider_initialization_failed_total)\{/.test(l));
    expect(serving.length).toBeGreaterThan(0);
    expect(serving.filter((l) => !l.endsWith(' 0'))).toEqual([]);
  });

  it('counts a failed field load in errors and initialization failures, never in validation_failures', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await metrics.render();
    await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'MODEL_CORRUPTED', node: 'n1' },
      TRUSTED_MACHINE,
    );
    await metrics.render(); // the version's series were born with the report: shown at 0 first
    const text = await metrics.render();
    expect(
      sample(text, 'ocr_errors_total', { code: 'MODEL_LOAD_ERROR', reason: 'MODEL_CORRUPTED', version: '1' }),
    ).toBe(1);
    expect(sample(text, 'ocr_provider_initialization_failed_total', { provider: 'paddle' })).toBe(1);
    const refused = text.split('\n').filter((l) => l.startsWith('ocr_validation_failures_total{'));
    expect(refused.filter((l) => !l.endsWith(' 0'))).toEqual([]);
  });

  it("starts every failure reason of a committed version at 0, and a new provider's counter at 0", async () => {
    await validated(deps, 'rec@1', { provider: 'tesseract' });
    const now = deps.clock.now().toISOString();
    await deps.metadata.createVersion(
      aNewVersion({
        model: 'rec',
        version: '2',
        provider: 'tesseract',
        status: 'PENDING_UPLOAD',
        createdAt: now,
      }),
    );
    await commitVersion(deps, { model: 'rec', version: '2' });
    const text = await metrics.render();
    const series = text
      .split('\n')
      .filter((l) => l.startsWith('ocr_errors_total{') && l.includes('version="2"'));
    expect(series).toHaveLength(LoadErrorCode.options.length);
    expect(series.every((l) => l.endsWith(' 0'))).toBe(true);
    expect(sample(text, 'ocr_provider_initialization_failed_total', { provider: 'tesseract' })).toBe(0);
    const refused = text
      .split('\n')
      .filter((l) => l.startsWith('ocr_validation_failures_total{') && l.includes('model="rec"'));
    expect(refused).toHaveLength(LoadErrorCode.options.length);
    expect(refused.every((l) => l.endsWith(' 0'))).toBe(true);
  });

  it('shows sizes stored (VERIFIED) and loaded (field reports), rebuilt from the store after a restart', async () => {
    await validated(deps, 'det@1', { provider: 'paddle', size: 4096 });
    await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'ok', node: 'n1' },
      TRUSTED_MACHINE,
    );
    const live = await metrics.render();
    expect(sample(live, 'ocr_model_size_bytes', { version: '1', state: 'stored' })).toBe(4096);
    expect(sample(live, 'ocr_model_size_bytes', { version: '1', state: 'loaded' })).toBe(4096);

    const restarted = new PrometheusMetrics({ namespace: 'ocr' });
    restarted.applySnapshot(await registrySnapshot(deps));
    const text = await restarted.render();
    expect(
      sample(text, 'ocr_model_size_bytes', {
        provider: 'paddle',
        model: 'det',
        version: '1',
        state: 'stored',
      }),
    ).toBe(4096);
    expect(sample(text, 'ocr_model_size_bytes', { state: 'loaded' })).toBe(4096);
    expect(sample(text, 'ocr_model_versions', { status: 'VERIFIED' })).toBe(1);
    expect(sample(text, 'ocr_validation_peak_memory_bytes', { version: '1' })).toBe(50 << 20);

    await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'INSUFFICIENT_MEMORY', node: 'n1' },
      TRUSTED_MACHINE,
    );
    expect(sample(await metrics.render(), 'ocr_model_size_bytes', { state: 'loaded' })).toBeUndefined();
  });

  it.skipIf(need.skip)(
    need.title('passes promtool check metrics, under the default and a configured namespace'),
    async () => {
      await validated(deps, 'det@1', { provider: 'paddle' });
      await validated(deps, 'det@2', { provider: 'paddle', fails: 'UNSUPPORTED_MODEL' });
      await recordFieldReport(
        deps,
        { model: 'det', version: '1' },
        { outcome: 'failed', code: 'GPU_UNAVAILABLE', node: 'n1' },
        TRUSTED_MACHINE,
      );
      metrics.setFilesPresent({ paddle: true });
      metrics.observeHttp('/api/v1/models', 'GET', 200, 0.01);
      await metrics.render();
      const text = await metrics.render();
      const r = promtool(['check', 'metrics'], text);
      expect(r.stdout + r.stderr).toBe('');
      expect(r.code).toBe(0);
      for (const name of [
        'ocr_errors_total',
        'ocr_validation_failures_total',
        'ocr_model_files_present',
        'ocr_validation_duration_seconds_bucket',
        'ocr_validation_queue_depth',
        'ocr_http_requests_total',
      ])
        expect(text).toContain(`${name}`);

      const acme = new PrometheusMetrics({ namespace: 'acme' });
      acme.providerSeen({ provider: 'paddle' });
      const other = await acme.render();
      expect(other).toContain('acme_provider_initialization_failed_total{provider="paddle"} 0');
      expect(other).not.toContain('ocr_');
    },
  );
});
