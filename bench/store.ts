/**
 * Version lookups and alias resolution through each metadata adapter, with 1 000 and then 100 000
 * versions stored: the time per lookup must not grow by more than 1.5× (both are key lookups, never
 * scans). Baselines measured in the same run: a bare primary-key SELECT on the same SQLite file, and a
 * bare GetItem on the same DynamoDB Local table, over loopback.
 *
 *
 * Then the fleet figure: the DynamoDB reads one field report costs (requests and read capacity units,
 * as DynamoDB Local charges them) on a version that 10 nodes, and one that 10 000 nodes, have reported:
 * it must stay constant, since every decision reads a bounded tally. For comparison, the same run
 * measures what the query the registry used to run on every report (a version's load reports of the
 * last 24 h, up to 1 000) reads at each fleet size.
 *
 *   npm run bench:store        (tsx bench/store.ts; needs java for DynamoDB Local)
 *   npx tsx bench/store.ts sqlite|dynamodb|fleet    (one part only)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { bulkItems, DynamoDbMetadataStore } from '../adapters/dynamodb/dynamodb-metadata-store.js';
import { openDatabase } from '../adapters/sqlite/database.js';
import { SqliteMetadataStore } from '../adapters/sqlite/sqlite-metadata-store.js';
import { recordFieldReport, TRUSTED_MACHINE } from '../core/load-reports.js';
import type { MetadataStore, RegistryDeps } from '../core/ports.js';
import { defaultSettings, systemClock } from '../core/ports.js';
import { resolveVersion } from '../core/resolve.js';
import type { Model } from '../schemas/model.schema.js';
import type { Alias, Version } from '../schemas/version.schema.js';
import { startDynamoDbLocal } from '../test/helpers/aws-local.js';
import { countingDocClient } from '../test/helpers/dynamodb-reads.js';

const VERSIONS_PER_MODEL = 100;
const SIZES = [1_000, 100_000] as const;
const GROWTH_LIMIT = 1.5;

const model = (i: number): Model => ({
  name: `model-${String(i).padStart(5, '0')}`,
  provider: `provider-${i % 10}`,
  description: 'benchmark model',
  tags: ['bench'],
  createdAt: '2026-01-01T00:00:00.000Z',
});

function versionsOf(m: Model): Version[] {
  return Array.from({ length: VERSIONS_PER_MODEL }, (_, j) => ({
    model: m.name,
    version: `1.${j}.0`,
    seq: j + 1,
    provider: m.provider,
    status: 'VERIFIED',
    files: [
      { path: 'det.onnx', size: 4_000_000, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), format: 'onnx' },
      { path: 'vocab.txt', size: 4096, sha256: 'c'.repeat(64), md5: 'd'.repeat(32), format: 'other' },
    ],
    totalSize: 4_004_096,
    inputShapes: { x: [1, 3, 640, 640] },
    publisher: 'bench',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: `2026-01-01T00:00:00.${String(j).padStart(3, '0')}Z`,
    validation: { attempts: 1 },
  }));
}

const aliasOf = (m: Model): Alias => ({
  model: m.name,
  alias: 'production',
  version: `1.${VERSIONS_PER_MODEL - 7}.0`,
  updatedAt: '2026-01-01T00:00:00.000Z',
});

interface Backend {
  readonly name: string;
  readonly store: () => MetadataStore;
  /** Adds models [from, to) with their versions and a `production` alias. */
  seed(from: number, to: number): Promise<void>;
  /** The bare key lookup this backend's adapter is built on. */
  bareLookup(m: Model, version: string): Promise<unknown>;
  close(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'modelgate-bench-store-'));
  const db = openDatabase(join(dir, 'registry.db'));
  const store = new SqliteMetadataStore(db);
  const bare = db.prepare('SELECT doc FROM versions WHERE model = ? AND version = ?');
  return {
    name: 'sqlite',
    store: () => store,
    async seed(from, to) {
      // Through the adapter itself: each createVersion is its own transaction, as in production.
      for (let i = from; i < to; i++) {
        const m = model(i);
        await store.createModel(m);
        for (const v of versionsOf(m)) await store.createVersion(v);
        await store.setAlias(aliasOf(m));
      }
    },
    bareLookup: async (m, version) => bare.get(m.name, version),
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function dynamoBackend(): Promise<Backend> {
  const local = await startDynamoDbLocal({ heapMb: 2048 });
  const table = await local.createMetadataTable();
  return {
    name: 'dynamodb (DynamoDB Local, loopback)',
    // A fresh adapter per measurement: its version-name cache starts cold, as in a new Lambda.
    store: () => new DynamoDbMetadataStore(local.doc, table),
    async seed(from, to) {
      const items = [];
      for (let i = from; i < to; i++) {
        const m = model(i);
        items.push(...bulkItems(m, versionsOf(m), [aliasOf(m)]));
      }
      const batches = [];
      for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
      await pool(batches, 8, async (batch) => {
        let requests = { [table]: batch.map((Item) => ({ PutRequest: { Item } })) };
        while (requests[table]?.length) {
          const out = await local.doc.send(new BatchWriteCommand({ RequestItems: requests }));
          requests = (out.UnprocessedItems ?? {}) as typeof requests;
        }
      });
    },
    bareLookup: (m, version) =>
      local.doc.send(
        new GetCommand({ TableName: table, Key: { pk: `MODEL#${m.name}`, sk: `VNAME#${version}` } }),
      ),
    close: () => local.stop(),
  };
}

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Deterministic pseudo-random picks, so both sizes are measured on comparable request streams. */
function picks(models: number, count: number): { m: Model; version: string }[] {
  let x = 12345;
  const rand = () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
  return Array.from({ length: count }, () => ({
    m: model(Math.floor(rand() * models)),
    version: `1.${Math.floor(rand() * VERSIONS_PER_MODEL)}.0`,
  }));
}

/** Mean microseconds per call, sequential (latency, as one deploy step sees it), best of 3 rounds. */
async function timePerCall(calls: readonly (() => Promise<unknown>)[]): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    for (const call of calls) await call();
    best = Math.min(best, ((performance.now() - start) * 1000) / calls.length);
  }
  return best;
}

interface Figures {
  lookupUs: number;
  aliasUs: number;
  bareUs: number;
}

async function measure(backend: Backend, models: number, count: number): Promise<Figures> {
  const sample = picks(models, count);
  const store = backend.store();
  const deps: RegistryDeps = {
    metadata: store,
    blobs: undefined as never, // lookups never touch blobs
    queue: undefined as never,
    clock: systemClock,
    settings: defaultSettings,
  };
  for (const { m, version } of sample.slice(0, 20)) await store.getVersion({ model: m.name, version }); // warm-up
  const lookupUs = await timePerCall(
    sample.map(({ m, version }) => async () => {
      if (!(await backend.store().getVersion({ model: m.name, version })))
        throw new Error(`lost ${m.name}@${version}`);
    }),
  );
  const aliasUs = await timePerCall(
    sample.map(({ m }) => async () => {
      const v = await resolveVersion(deps, m.name, 'production');
      if (v.version !== aliasOf(m).version) throw new Error(`alias of ${m.name} resolved to ${v.version}`);
    }),
  );
  const bareUs = await timePerCall(
    sample.map(
      ({ m, version }) =>
        () =>
          backend.bareLookup(m, version),
    ),
  );
  return { lookupUs, aliasUs, bareUs };
}

async function run(make: () => Promise<Backend>, count: number) {
  const backend = await make();
  try {
    const results: Record<number, Figures> = {};
    let seeded = 0;
    for (const size of SIZES) {
      const models = size / VERSIONS_PER_MODEL;
      const t0 = performance.now();
      await backend.seed(seeded, models);
      seeded = models;
      console.error(
        `${backend.name}: ${size} versions stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      results[size] = await measure(backend, models, count);
    }
    return { name: backend.name, results };
  } finally {
    await backend.close();
  }
}

const FLEETS = [10, 10_000] as const;
/** Reports measured at each fleet size: half ok (new nodes), half failed (two nodes: no quarantine). */
const MEASURED_REPORTS = 40;

interface FleetFigures {
  readonly okRequests: number;
  readonly okUnits: number;
  readonly failedRequests: number;
  readonly failedUnits: number;
  /** Read units of the former per-report query (24 h of the version's load reports, up to 1 000). */
  readonly formerQueryUnits: number;
  readonly seedSeconds: number;
}

async function fleetFigures(): Promise<Record<number, FleetFigures>> {
  const local = await startDynamoDbLocal({ heapMb: 1024 });
  const counting = countingDocClient(local.endpoint);
  try {
    const table = await local.createMetadataTable();
    // As the operations Lambda builds it: strongly consistent reads.
    const store = new DynamoDbMetadataStore(counting.doc, table);
    const deps: RegistryDeps = {
      metadata: store,
      blobs: undefined as never,
      queue: undefined as never,
      clock: systemClock,
      settings: defaultSettings,
    };
    const m = model(0);
    await store.createModel(m);
    await store.createProviderIfAbsent({
      name: m.provider,
      state: 'enabled',
      revision: 0,
      createdAt: m.createdAt,
      updatedAt: m.createdAt,
    });
    const results: Record<number, FleetFigures> = {};
    for (const fleet of FLEETS) {
      const [version] = versionsOf(m).slice(0, 1);
      const ref = { model: m.name, version: `fleet-${fleet}` };
      await store.createVersion({ ...version!, version: ref.version, updatedAt: new Date(0).toISOString() });
      const report = (node: string, outcome: 'ok' | 'failed') =>
        recordFieldReport(
          deps,
          ref,
          outcome === 'ok' ? { outcome, node } : { outcome, node, code: 'INSUFFICIENT_MEMORY' },
          TRUSTED_MACHINE,
        );
      const t0 = performance.now();
      const nodes = Array.from({ length: fleet }, (_, i) => `node-${i}`);
      await pool(nodes, 4, async (node) => {
        await report(node, 'ok');
      });
      const seedSeconds = (performance.now() - t0) / 1000;
      const measure = async (outcome: 'ok' | 'failed') => {
        counting.reset();
        for (let i = 0; i < MEASURED_REPORTS / 2; i++)
          await report(outcome === 'ok' ? `new-node-${i}` : `bad-node-${i % 2}`, outcome);
        return {
          requests: counting.reads.requests / (MEASURED_REPORTS / 2),
          units: counting.reads.readUnits / (MEASURED_REPORTS / 2),
        };
      };
      const ok = await measure('ok');
      const failed = await measure('failed');
      counting.reset();
      const since = new Date(Date.now() - 24 * 3600_000).toISOString();
      await store.listLoadReports({ ref }, { since, limit: 1000 });
      results[fleet] = {
        okRequests: ok.requests,
        okUnits: ok.units,
        failedRequests: failed.requests,
        failedUnits: failed.units,
        formerQueryUnits: counting.reads.readUnits,
        seedSeconds,
      };
      console.error(`fleet of ${fleet}: reported in ${seedSeconds.toFixed(1)} s`);
    }
    return results;
  } finally {
    counting.destroy();
    await local.stop();
  }
}

// `npx tsx bench/store.ts sqlite` (or dynamodb, or fleet) runs one part only.
const only = process.argv[2];
const rows = [];
if (!only || only === 'sqlite') rows.push(await run(sqliteBackend, 5000));
if (!only || only === 'dynamodb') rows.push(await run(dynamoBackend, 1000));
const fleet = !only || only === 'fleet' ? await fleetFigures() : undefined;

if (rows.length) console.log('\nper lookup, mean of sequential calls (best of 3 rounds)\n');
if (rows.length)
  console.log(
    `${'adapter'.padEnd(38)} ${'versions'.padStart(8)} ${'getVersion'.padStart(12)} ${'alias resolve'.padStart(14)} ${'bare key read'.padStart(14)} ${'lookups/s'.padStart(10)} ${'aliases/s'.padStart(10)}`,
  );
for (const { name, results } of rows)
  for (const size of SIZES) {
    const f = results[size]!;
    console.log(
      `${name.padEnd(38)} ${String(size).padStart(8)} ${`${f.lookupUs.toFixed(1)} µs`.padStart(12)} ${`${f.aliasUs.toFixed(1)} µs`.padStart(14)} ${`${f.bareUs.toFixed(1)} µs`.padStart(14)} ${Math.round(
        1e6 / f.lookupUs,
      )
        .toString()
        .padStart(10)} ${Math.round(1e6 / f.aliasUs)
        .toString()
        .padStart(10)}`,
    );
  }

console.log('');
let missed = false;
for (const { name, results } of rows) {
  const small = results[SIZES[0]]!;
  const large = results[SIZES[1]]!;
  for (const [what, a, b] of [
    ['getVersion', small.lookupUs, large.lookupUs],
    ['alias resolve', small.aliasUs, large.aliasUs],
  ] as const) {
    const growth = b / a;
    missed ||= growth > GROWTH_LIMIT;
    console.log(
      `${name} ${what}: 100k / 1k time per lookup = ${growth.toFixed(2)} (limit ${GROWTH_LIMIT}) ${growth > GROWTH_LIMIT ? 'MISSED' : 'OK'}`,
    );
  }
  console.log(`${name} getVersion / bare key read at 100k = ${(large.lookupUs / large.bareUs).toFixed(2)}`);
}

if (fleet) {
  console.log(
    '\nDynamoDB reads per field report (DynamoDB Local, strongly consistent as the operations Lambda)\n',
  );
  console.log(
    `${'reporting nodes'.padEnd(16)} ${'ok: requests'.padStart(13)} ${'ok: RCU'.padStart(9)} ${'failed: requests'.padStart(17)} ${'failed: RCU'.padStart(12)} ${'former 24 h query: RCU'.padStart(23)}`,
  );
  for (const n of FLEETS) {
    const f = fleet[n]!;
    console.log(
      `${String(n).padEnd(16)} ${f.okRequests.toFixed(2).padStart(13)} ${f.okUnits.toFixed(2).padStart(9)} ${f.failedRequests.toFixed(2).padStart(17)} ${f.failedUnits.toFixed(2).padStart(12)} ${f.formerQueryUnits.toFixed(1).padStart(23)}`,
    );
  }
  const [small, large] = [fleet[FLEETS[0]]!, fleet[FLEETS[1]]!];
  // Requests must be equal; units may differ only by the tally item's bounded growth (its 32 entries).
  const growth = Math.max(large.okUnits / small.okUnits, large.failedUnits / small.failedUnits);
  const constant =
    large.okRequests === small.okRequests &&
    large.failedRequests === small.failedRequests &&
    growth <= GROWTH_LIMIT;
  missed ||= !constant;
  console.log(
    `\nfield report reads at ${FLEETS[1]} / ${FLEETS[0]} nodes: requests equal ${large.okRequests === small.okRequests && large.failedRequests === small.failedRequests}, read units × ${growth.toFixed(2)} (limit ${GROWTH_LIMIT}) ${constant ? 'OK' : 'MISSED'}`,
  );
}
if (missed) process.exitCode = 1;
