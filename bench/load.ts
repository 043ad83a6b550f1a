/**
 * Alias resolution under load: `npx tsx bench/load.ts` (npm run bench:load). Needs `npm run build`
 * first: the server under test is the real `modelgate serve` from dist/, in its own process.
 *
 * Seeds a data folder (real SQLite) with one model, one VERIFIED version and the alias `production`,
 * starts `modelgate serve` on 127.0.0.1 with it, and runs autocannon (50 connections, 30 s by default)
 * against `GET /api/v1/models/det/resolve/production`. The baseline is a bare `node:http` server, also in
 * its own process, answering the very same JSON body, loaded the same way in the same run. Prints both
 * runs, the target check, and last the ratio of the two throughputs. Exits 1 if the target is missed.
 *
 * Environment: BENCH_DURATION_S (default 30), BENCH_CONNECTIONS (default 50).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { openDatabase } from '../adapters/sqlite/database.js';
import { SqliteMetadataStore } from '../adapters/sqlite/sqlite-metadata-store.js';
import { listeningUrl } from '../test/helpers/listening-url.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 30);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PATH = '/api/v1/models/det/resolve/production';
/** The resolve bar of BENCHMARKS.md, measured on the 2-core development machine. */
const TARGET = { requestsPerSecond: 9000, p99Ms: 15 };

async function seed(dataDir: string): Promise<void> {
  const db = openDatabase(join(dataDir, 'registry.db'));
  const metadata = new SqliteMetadataStore(db);
  const now = new Date().toISOString();
  await metadata.createModel({
    name: 'det',
    provider: 'paddle',
    description: 'load benchmark',
    tags: [],
    createdAt: now,
  });
  await metadata.createVersion({
    model: 'det',
    version: '1.0.0',
    provider: 'paddle',
    status: 'VERIFIED',
    files: [{ path: 'det.onnx', size: 1000, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), format: 'onnx' }],
    totalSize: 1000,
    inputShapes: {},
    publisher: 'bench',
    createdAt: now,
    updatedAt: now,
    validation: { attempts: 1 },
  });
  await metadata.setAlias({ model: 'det', alias: 'production', version: '1.0.0', updatedAt: now });
  db.close();
}

/** Spawns a server process and resolves with its URL once it printed `listening on URL` on stderr. */
function startProcess(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  return listeningUrl(child).then((url) => ({ url: url.replace(/\/$/, ''), child }));
}

/** The baseline: node:http answering a fixed body, nothing else. */
const BARE_SERVER = `
const body = Buffer.from(process.argv[1]);
require('node:http')
  .createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body))
  .listen(0, '127.0.0.1', function () { console.error('listening on http://127.0.0.1:' + this.address().port); });
`;

interface Figures {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly total: number;
  readonly failed: number;
}

async function load(url: string): Promise<Figures> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S });
  return {
    requestsPerSecond: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    total: r.requests.total,
    failed: r.errors + r.timeouts + r.non2xx,
  };
}

const line = (name: string, f: Figures) =>
  `${name.padEnd(30)} ${f.requestsPerSecond.toFixed(0).padStart(7)} req/s   p50 ${f.p50Ms.toFixed(1).padStart(5)} ms   p99 ${f.p99Ms.toFixed(1).padStart(5)} ms   ${f.total} requests, ${f.failed} failed`;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'modelgate-bench-load-'));
  const children: ChildProcess[] = [];
  try {
    await seed(dataDir);
    const registry = await startProcess([
      CLI,
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--workers',
      '0',
    ]);
    children.push(registry.child);
    const sample = await fetch(`${registry.url}${PATH}`);
    const body = await sample.text();
    if (sample.status !== 200) throw new Error(`resolve answered ${sample.status}: ${body}`);
    const bare = await startProcess(['-e', BARE_SERVER, body]);
    children.push(bare.child);

    console.log(
      `autocannon ${CONNECTIONS} connections × ${DURATION_S} s, GET ${PATH} (${body.length} bytes of JSON)`,
    );
    const baseline = await load(`${bare.url}${PATH}`);
    console.log(line('bare node:http (baseline)', baseline));
    const measured = await load(`${registry.url}${PATH}`);
    console.log(line('modelgate serve, alias resolve', measured));

    const met =
      measured.failed === 0 &&
      measured.requestsPerSecond >= TARGET.requestsPerSecond &&
      measured.p99Ms <= TARGET.p99Ms;
    console.log(
      `target ≥ ${TARGET.requestsPerSecond} req/s, p99 ≤ ${TARGET.p99Ms} ms, no failures: ${met ? 'met' : 'MISSED'}`,
    );
    console.log(
      `ratio modelgate / baseline throughput: ${(measured.requestsPerSecond / baseline.requestsPerSecond).toFixed(2)}`,
    );
    process.exitCode = met ? 0 : 1;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
    );
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
