/**
 * Metrics scrape benchmark: `npx tsx bench/metrics.ts` (npm run bench:metrics).
 *
 * Fills a registry (real SQLite, the local server's own wiring) with 1 000 models × 10 VERIFIED
 * versions, starts the local server on it, and times GET /metrics over HTTP: rebuilding the gauges
 * from the store happens at start, not per scrape. The baseline is a bare prom-client Registry holding
 * the very same series (same names, labels and values, parsed from the scrape) rendered in-process in
 * the same run. Prints the figures and, last, the ratio; exits 1 if it is above 2.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { openDatabase } from '../adapters/sqlite/database.js';
import { SqliteMetadataStore } from '../adapters/sqlite/sqlite-metadata-store.js';
import { createModel } from '../core/models.js';
import { defaultSettings, systemClock } from '../core/ports.js';
import { silentLogger } from '../local/log.js';
import { startLocalServer } from '../local/server.js';
import { parseLocalServerConfig } from '../schemas/config.schema.js';

const MODELS = 1000;
const VERSIONS = 10;
const PROVIDERS = 10;
const ROUNDS = 9;
const TARGET = 2;

async function fill(dataDir: string): Promise<void> {
  const db = openDatabase(join(dataDir, 'registry.db'));
  const metadata = new SqliteMetadataStore(db);
  const deps = {
    metadata,
    blobs: null as never,
    queue: { enqueue: async () => {} },
    clock: systemClock,
    settings: defaultSettings,
  };
  const now = new Date().toISOString();
  for (let m = 0; m < MODELS; m++) {
    const name = `model-${String(m).padStart(4, '0')}`;
    await createModel(deps, { name, provider: `provider-${m % PROVIDERS}`, description: '', tags: [] });
    db.transaction(() => {
      for (let v = 1; v <= VERSIONS; v++)
        void metadata.createVersion({
          model: name,
          version: `${v}.0.0`,
          provider: `provider-${m % PROVIDERS}`,
          status: 'VERIFIED',
          files: [
            {
              path: 'model.onnx',
              size: 1_000_000 + v,
              sha256: 'a'.repeat(64),
              md5: 'b'.repeat(32),
              format: 'onnx',
            },
          ],
          totalSize: 1_000_000 + v,
          inputShapes: {},
          publisher: 'bench',
          createdAt: now,
          updatedAt: now,
          validation: { attempts: 1 },
          report: {
            outcome: 'passed',
            runtime: { name: 'onnxruntime-node', version: 'bench' },
            executionProvider: 'cpu',
            worker: 'bench',
            attempt: 1,
            startedAt: now,
            finishedAt: now,
            durationMs: 100,
            memoryBudgetBytes: 1 << 30,
            files: [],
            totals: { loadMs: 1, inferenceMs: 1, peakRssBytes: 80_000_000 + v },
            nodeClasses: [],
          },
        });
    })();
  }
  db.close();
}

/** The same series in a bare prom-client registry: one Gauge per metric name, every sample set. */
function bareRegistryOf(exposition: string): { registry: Registry; series: number } {
  const registry = new Registry();
  const gauges = new Map<string, Gauge<string>>();
  let series = 0;
  for (const line of exposition.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsed sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!;
    const name = `bare_${m[1]}`;
    let gauge = gauges.get(name);
    if (!gauge) {
      gauge = new Gauge({ name, help: 'baseline', labelNames: Object.keys(labels), registers: [registry] });
      gauges.set(name, gauge);
    }
    gauge.set(labels, Number(m[3]));
    series++;
  }
  return { registry, series };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'modelgate-bench-metrics-'));
  try {
    const filled = await time(() => fill(dataDir));
    console.log(
      `filled ${MODELS} models × ${VERSIONS} versions (${PROVIDERS} providers) in ${(filled / 1000).toFixed(1)} s`,
    );
    const config = parseLocalServerConfig({
      MODELGATE_DATA_DIR: dataDir,
      MODELGATE_PORT: '0',
      MODELGATE_WORKERS: '0',
      MODELGATE_METRICS_REFRESH_MS: String(3600_000),
    });
    let server: Awaited<ReturnType<typeof startLocalServer>> | undefined;
    const started = await time(async () => {
      server = await startLocalServer(config, silentLogger);
    });
    console.log(`server start (gauges rebuilt from the store): ${(started / 1000).toFixed(2)} s`);
    // A fresh connection per scrape: the in-process baseline render blocks the event loop for seconds on
    // a busy machine, the server's keep-alive timer fires meanwhile, and a reused socket is reset.
    const scrape = () =>
      new Promise<string>((resolve, reject) => {
        get(`${server!.url}/metrics`, { agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
    const text = await scrape(); // warm-up; also shows every new series at 0 once
    const { registry: bare, series } = bareRegistryOf(await scrape());
    const bytes = Buffer.byteLength(text);
    await bare.metrics();

    const ours: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // interleaved, so load from other processes on the machine hits both alike
      ours.push(await time(scrape));
      baseline.push(await time(() => bare.metrics()));
    }
    await server!.close();
    const ratio = median(ours) / median(baseline);
    console.log(`series in one scrape: ${series} (${(bytes / 1024 / 1024).toFixed(1)} MiB of text)`);
    console.log(
      `GET /metrics over HTTP, median of ${ROUNDS}: ${median(ours).toFixed(1)} ms (min ${Math.min(...ours).toFixed(1)})`,
    );
    console.log(
      `bare prom-client registry.metrics(), same series, median of ${ROUNDS}: ${median(baseline).toFixed(1)} ms (min ${Math.min(...baseline).toFixed(1)})`,
    );
    console.log(`ratio scrape / bare render: ${ratio.toFixed(2)} (target ≤ ${TARGET})`);
    if (ratio > TARGET) process.exitCode = 1;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
