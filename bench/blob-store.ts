/**
 * Folder blob store benchmark: `npx tsx bench/blob-store.ts`. Options: `--size N` (MiB, default 1024),
 * `--rounds N` (default 3), `--slot-kib N` / `--slots N` (upload staging layout, default the store's),
 * `--skip-buffered` (leave out the direct-I/O-off store), `--legacy PATH` (a module exporting another `FsBlobStore`, e.g. an untracked copy of the previous
 * version, timed in the same rounds), `--onnx N` (MiB of the ONNX model of the side-effect check; 0 skips).
 *
 * In one run, interleaved rounds on the same random bytes (page cache warm for openssl's file):
 * - `openssl dgst -md5` of the file (the floor: the store must compute sha256 and md5);
 * - `FsBlobStore.write` of the same bytes from memory in 64 KiB chunks (as a socket delivers them),
 *   with O_DIRECT, then with direct I/O off (buffered), then the legacy store if given; wall time and
 *   the process's user + system CPU seconds;
 * - a full `readChunks` of the blob just written (O_DIRECT reads; the blob is not in the page cache).
 * Then the side effect of direct writes: `InferenceSession.create` of an ONNX model stored with O_DIRECT
 * (read from the disk) against the same model stored buffered (read from the page cache).
 * Best of the rounds; ratios last. Deletes what it writes.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FsBlobStore, UPLOAD_STAGING } from '../adapters/fs-blobs/fs-blob-store.js';
import { UrlSigner } from '../adapters/fs-blobs/url-signer.js';
import { systemClock } from '../core/ports.js';
import { writeLargeModel } from '../test/fixtures/onnx-writer.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

interface Timing {
  wall: number;
  user: number;
  sys: number;
}

type WriteStore = Pick<FsBlobStore, 'write' | 'pathOf' | 'verifiedPath' | 'init' | 'readChunks'>;

async function timed(fn: () => Promise<unknown>): Promise<Timing> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  return { wall, user: used.user / 1e6, sys: used.system / 1e6 };
}

function* chunks(bytes: Buffer): Iterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += CHUNK) yield bytes.subarray(at, at + CHUNK);
}

function md5Floor(path: string): number {
  const t0 = performance.now();
  const r = spawnSync('openssl', ['dgst', '-md5', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

async function forget(store: WriteStore, sha256: string): Promise<void> {
  await rm(store.pathOf(sha256), { force: true });
  await rm(store.verifiedPath(sha256), { force: true });
}

async function readAll(store: WriteStore, sha256: string): Promise<number> {
  let n = 0;
  for await (const c of store.readChunks(sha256)) n += c.length;
  return n;
}

const best = (xs: Timing[]) => xs.reduce((a, b) => (b.wall < a.wall ? b : a));
const fmt = (t: Timing) => `${t.wall.toFixed(2)} s (cpu ${t.user.toFixed(2)} user + ${t.sys.toFixed(2)} sys)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1024' },
      rounds: { type: 'string', default: '3' },
      'slot-kib': { type: 'string' },
      slots: { type: 'string' },
      legacy: { type: 'string' },
      onnx: { type: 'string', default: '200' },
      'skip-buffered': { type: 'boolean', default: false },
    },
  });
  const size = Number(values.size) * MiB;
  const rounds = Number(values.rounds);
  const layout = {
    ...UPLOAD_STAGING,
    ...(values['slot-kib'] ? { slotBytes: Number(values['slot-kib']) * 1024 } : {}),
    ...(values.slots ? { slots: Number(values.slots) } : {}),
  };
  const dir = await mkdtemp(join(tmpdir(), 'bench-blob-store-'));
  const signer = new UrlSigner(Buffer.alloc(32, 1));
  const make = async (name: string, directIo: boolean, Store: typeof FsBlobStore = FsBlobStore) => {
    const store = new Store({
      root: join(dir, name),
      signer,
      publicUrl: () => 'http://127.0.0.1:1',
      clock: systemClock,
      directIo,
      uploadStaging: layout,
    });
    await store.init();
    return store as WriteStore;
  };
  try {
    const bytes = Buffer.allocUnsafe(size);
    randomFillSync(bytes);
    const file = join(dir, 'source.bin');
    await writeFile(file, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const stores: Array<[string, WriteStore]> = [['direct', await make('direct', true)]];
    if (!values['skip-buffered']) stores.push(['buffered', await make('buffered', false)]);
    if (values.legacy) {
      const mod = (await import(values.legacy)) as { FsBlobStore: typeof FsBlobStore };
      stores.push(['legacy', await make('legacy', true, mod.FsBlobStore)]);
    }
    const floor: number[] = [];
    const writes = new Map<string, Timing[]>(stores.map(([n]) => [n, []]));
    const reads: Timing[] = [];
    console.log(
      `${values.size} MiB, ${rounds} rounds, staging ${layout.slots} × ${layout.slotBytes / 1024} KiB`,
    );
    for (let round = 1; round <= rounds; round += 1) {
      floor.push(md5Floor(file));
      for (const [name, store] of stores) {
        await forget(store, sha256);
        const t = await timed(() => store.write(sha256, size, chunks(bytes)));
        writes.get(name)!.push(t);
        if (name === 'direct') {
          const r = await timed(async () => {
            if ((await readAll(store, sha256)) !== size) throw new Error('short read');
          });
          reads.push(r);
        }
        console.log(`round ${round}: ${name} write ${fmt(t)}`);
      }
      console.log(
        `round ${round}: openssl md5 ${floor.at(-1)!.toFixed(2)} s, direct read ${fmt(reads.at(-1)!)}`,
      );
      for (const [, store] of stores) await forget(store, sha256);
    }

    const onnxMiB = Number(values.onnx);
    const loads = new Map<string, number[]>();
    if (onnxMiB > 0) {
      const ort = await import('onnxruntime-node');
      const model = join(dir, 'model.onnx');
      writeLargeModel(model, onnxMiB * MiB);
      const modelBytes = await readFile(model);
      const modelSha = createHash('sha256').update(modelBytes).digest('hex');
      for (let round = 1; round <= rounds; round += 1)
        for (const [name, store] of stores.slice(0, 2)) {
          await forget(store, modelSha);
          await store.write(modelSha, modelBytes.length, chunks(modelBytes));
          const t0 = performance.now();
          const session = await ort.InferenceSession.create(store.pathOf(modelSha));
          const s = (performance.now() - t0) / 1000;
          await session.release();
          loads.set(name, [...(loads.get(name) ?? []), s]);
          console.log(
            `round ${round}: ONNX ${onnxMiB} MiB stored ${name}: InferenceSession.create ${s.toFixed(2)} s`,
          );
          await forget(store, modelSha);
        }
    }

    const md5 = Math.min(...floor);
    console.log('\nbest of the rounds');
    console.log(`openssl dgst -md5: ${md5.toFixed(2)} s`);
    for (const [name, ts] of writes) console.log(`${name} write: ${fmt(best(ts))}`);
    console.log(`direct read (readChunks, uncached): ${fmt(best(reads))}`);
    for (const [name, ts] of loads)
      console.log(`ONNX load after a ${name} write: ${Math.min(...ts).toFixed(2)} s`);
    console.log('\nratios');
    for (const [name, ts] of writes)
      console.log(`${name} write / openssl md5: ${(best(ts).wall / md5).toFixed(2)}×`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
