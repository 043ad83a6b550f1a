import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../../adapters/metrics/prometheus-metrics.js';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';
import { promtool } from '../helpers/promtool.js';
import { needs } from '../helpers/system-programs.js';

const need = needs(['promtool']);

const FILE = join(
  import.meta.dirname,
  '..',
  '..',
  'deploy',
  'grafana',
  'dashboards',
  'modelgate-observability.json',
);

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(FILE, 'utf8')) as { title: string; uid: string; panels: Panel[] };
const graphs = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = graphs.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** The provisioned Grafana dashboard the runbook names: valid PromQL over metrics modelgate exposes. */
describe('deploy/grafana dashboard', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'grafana-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is the runbook\'s "CAD ML Platform - Observability" with a "Provider Health Score" panel', () => {
    expect(dashboard.title).toBe('CAD ML Platform - Observability');
    const health = graphs.find((p) => p.title === 'Provider Health Score');
    expect(health?.targets?.[0]?.expr).toBe('ocr_provider_health_score');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });

  // The Classic dashboard JSON model (grafana.com/docs/grafana/latest/.../view-dashboard-json-model): the
  // fields Grafana reads to import and lay out a dashboard and to run its queries.
  it("carries the fields of Grafana's dashboard JSON model that an import needs", () => {
    // biome-ignore lint/suspicious/noExplicitAny: the raw JSON, checked field by field
    const raw = JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, any>;
    expect(raw.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(Number.isInteger(raw.schemaVersion) && raw.schemaVersion >= 36).toBe(true);
    expect(raw.time).toEqual({ from: expect.any(String), to: expect.any(String) });
    expect(Array.isArray(raw.templating?.list)).toBe(true);
    expect(raw.templating.list.map((v: { name: string }) => v.name)).toContain('datasource');
    for (const p of raw.panels) {
      expect(Number.isInteger(p.id), p.title).toBe(true);
      expect(typeof p.type === 'string' && typeof p.title === 'string', p.title).toBe(true);
      for (const k of ['x', 'y', 'w', 'h'])
        expect(Number.isInteger(p.gridPos[k]), `${p.title} ${k}`).toBe(true);
      if (p.type === 'row') continue;
      // Grafana's variable syntax, not a JS template: the dashboard's data source picker
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: ['$', '{datasource}'].join('') });
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      const refIds = p.targets.map((t: { refId: string }) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets) expect(t.expr, p.title).toMatch(/\S/);
    }
    // the panels the runbook's reader looks for
    const titles = graphs.map((p) => p.title).join('\n');
    for (const want of [
      /Runbook detection/,
      /Memory pressure/,
      /files present/,
      /Refused/,
      /Request rate/,
      /latency/,
    ])
      expect(titles).toMatch(want);
  });

  it.skipIf(need.skip)(need.title('has only PromQL that promtool accepts'), () => {
    const rules = [
      'groups:',
      '  - name: grafana-panels',
      '    rules:',
      ...exprs.flatMap((e, i) => [
        `      - record: grafana_panel_${i}`,
        `        expr: ${JSON.stringify(e.expr)}`,
      ]),
    ].join('\n');
    const file = join(dir, 'panels.yml');
    writeFileSync(file, rules);
    const r = promtool(['check', 'rules', file]);
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('reads only metrics modelgate exposes, and keeps refused candidates out of the serving panels', async () => {
    const deps: TestDeps = await localTestDeps();
    try {
      const metrics = new PrometheusMetrics({ namespace: 'ocr' });
      Object.assign(deps, { events: metrics });
      await validated(deps, 'det@1', { provider: 'paddle' });
      await validated(deps, 'det@2', { provider: 'paddle', fails: 'MODEL_CORRUPTED' });
      await recordFieldReport(
        deps,
        { model: 'det', version: '1' },
        { outcome: 'failed', code: 'GPU_UNAVAILABLE', node: 'n1' },
        TRUSTED_MACHINE,
      );
      metrics.observeHttp('/api/v1/models', 'GET', 200, 0.004);
      metrics.setFilesPresent({ paddle: true });
      metrics.setHealthScores({ paddle: 1 });
      const text = await metrics.render();
      const exposed = new Set(text.split('\n').map((l) => /^(ocr_[a-z_]+)[{ ]/.exec(l)?.[1]));
      for (const { panel, expr } of exprs)
        for (const name of expr.match(/\bocr_[a-z_]+/g) ?? [])
          expect(exposed.has(name), `${panel}: ${name}`).toBe(true);
    } finally {
      deps.cleanup();
    }
    const row = (title: string) =>
      dashboard.panels.findIndex((p) => p.type === 'row' && p.title.startsWith(title));
    const gate = row('Gate');
    const serving = dashboard.panels.slice(row('Serving') + 1, gate);
    expect(serving.length).toBeGreaterThan(0);
    expect(
      serving.flatMap((p) => p.targets ?? []).filter((t) => t.expr.includes('validation_failures')),
    ).toEqual([]);
    const refused = dashboard.panels
      .slice(gate + 1)
      .filter((p) => p.targets?.some((t) => t.expr.includes('validation_failures')));
    expect(refused.map((p) => p.title)).toEqual(['Refused candidates by cause (last hour)']);
  });
});
