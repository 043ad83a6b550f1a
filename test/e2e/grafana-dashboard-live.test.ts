import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel, truncate } from '../fixtures/onnx-writer.js';
import { type PrometheusHandle, startPrometheus } from '../helpers/prometheus-server.js';
import { needs } from '../helpers/system-programs.js';
import { cli, removeDir, type ServerHandle, startServer, tempDir } from './harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RULES = join(ROOT, 'deploy', 'prometheus', 'modelgate-rules.yml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'dashboards', 'modelgate-observability.json');

interface Panel {
  type: string;
  title: string;
  targets?: { refId: string; expr: string }[];
}

/** Series another exporter provides (node_exporter's memory): valid PromQL here, but no series from modelgate. */
const OTHER_EXPORTERS = /\bnode_memory_/;

const need = needs(['prometheus']);

/**
 * Every PromQL expression of the provisioned Grafana dashboard, run by a real Prometheus scraping a real
 * modelgate (with the shipped recording rules loaded) after a verified publish, a refused candidate, a
 * failed and a good field load: each must parse and answer at least one series, so no panel of the
 * runbook's dashboard is empty for want of a metric or a label.
 */
describe.skipIf(need.skip)(need.title('Grafana dashboard queries against a live modelgate'), () => {
  let server: ServerHandle;
  let prometheus: PrometheusHandle;
  let work: string;
  const run = (...args: string[]) => cli(args, server.env, work);

  beforeAll(async () => {
    work = tempDir();
    server = await startServer({ env: { MODELGATE_METRICS_REFRESH_MS: '1000' } });
    prometheus = await startPrometheus({ dir: work, target: new URL(server.url).host, ruleFiles: [RULES] });
    const model = buildMlpModel({ layers: 2, dim: 16 });
    writeFileSync(join(work, 'good.onnx'), model);
    writeFileSync(join(work, 'truncated.onnx'), truncate(model, Math.floor(model.length / 2)));
    expect((await run('publish', 'det@1', 'good.onnx', '--provider', 'paddle', '--wait')).code).toBe(0);
    expect((await run('publish', 'det@2', 'truncated.onnx', '--provider', 'paddle', '--wait')).code).toBe(3);
    expect((await run('report', 'det@1', '--outcome', 'ok', '--node', 'node-a')).code).toBe(0);
    const failed = ['report', 'det@1', '--outcome', 'failed', '--code', 'INSUFFICIENT_MEMORY'];
    expect((await run(...failed, '--node', 'node-b')).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await prometheus?.stop();
    await server?.stop();
    if (work) removeDir(work);
    if (server) removeDir(server.dataDir);
  });

  it('answers at least one series for every expression of every panel', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
    expect(targets.length).toBeGreaterThanOrEqual(14);
    const empty = new Map(targets.map((t) => [`${t.panel} [${t.refId}] ${t.expr}`, t.expr]));
    const deadline = Date.now() + 60_000;
    while (empty.size > 0 && Date.now() < deadline) {
      for (const [key, expr] of empty) {
        const series = await prometheus.query(expr); // throws on a query Prometheus cannot parse
        if (series.length > 0 || OTHER_EXPORTERS.test(expr)) empty.delete(key);
      }
      if (empty.size > 0) await new Promise((r) => setTimeout(r, 1000));
    }
    expect([...empty.keys()]).toEqual([]);
  }, 90_000);
});
