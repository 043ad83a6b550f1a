/**
 * What a node pays to move between versions, with the real CLI against a real `modelgate serve` on
 * loopback (run `npm run build` first: the CLI runs from dist/):
 *
 * 1. A multi-file bundle (three 128 MiB weight files and a small config) whose next version changes only
 *    the config: `fetch v2` into a folder holding v1 (the update a `sync` node makes) against `fetch v2`
 *    into an empty folder (a full fetch). Bytes from `fetch --json` (`bytesDownloaded`), best of 3 times.
 * 2. `fetch` of one 1 GiB file against its floor, measured in the same run: `openssl dgst -sha256` of the
 *    file, plus `cp` of it, plus `sync` (read, hash, write and flush the same bytes with the system's tools).
 *
 * Usage: npx tsx bench/node-update.ts [--weights-mib 128] [--floor-mib 1024]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, type ServerHandle, startServer } from '../test/e2e/harness.js';
import { best, type Timed, timed, timedCommand } from './lib/measure.js';

const MIB = 1024 * 1024;
const ROUNDS = 3;

/** Writes `bytes` random bytes 4 MiB at a time and fsyncs, so no write-back runs during the timings. */
async function randomFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < bytes; done += 4 * MIB)
      await fh.write(randomBytes(Math.min(4 * MIB, bytes - done)));
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function modelgate(args: string[], env: Record<string, string>, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`modelgate ${args[0]}: ${code} ${err}`)),
    );
  });
}

interface FetchSummary {
  bytes: number;
  bytesDownloaded: number;
  filesReused: number;
}

async function fetchTimed(
  server: ServerHandle,
  ref: string,
  dest: string,
  cwd: string,
): Promise<Timed<FetchSummary>> {
  return timed(async () =>
    JSON.parse(await modelgate(['fetch', ref, '--dest', dest, '--json'], server.env, cwd)),
  );
}

async function bundleUpdate(server: ServerHandle, dir: string, weightsMiB: number) {
  for (const v of ['1', '2']) {
    const bundle = join(dir, `bundle-${v}`);
    mkdirSync(bundle, { recursive: true });
    writeFileSync(
      join(bundle, 'config.json'),
      JSON.stringify({ version: v, threshold: v === '1' ? 0.5 : 0.6 }),
    );
  }
  for (const name of ['det.bin', 'rec.bin', 'cls.bin']) {
    await randomFile(join(dir, 'bundle-1', name), weightsMiB * MIB);
    await timedCommand('cp', [join(dir, 'bundle-1', name), join(dir, 'bundle-2', name)]);
  }
  await modelgate(['publish', 'bundle@1', join(dir, 'bundle-1'), '--wait'], server.env, dir);
  await modelgate(['publish', 'bundle@2', join(dir, 'bundle-2'), '--wait'], server.env, dir);
  const full: Timed<FetchSummary>[] = [];
  const update: Timed<FetchSummary>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const fresh = join(dir, `full-${round}`, 'models');
    full.push(await fetchTimed(server, 'bundle@2', fresh, dir));
    const node = join(dir, `node-${round}`, 'models');
    await fetchTimed(server, 'bundle@1', node, dir);
    update.push(await fetchTimed(server, 'bundle@2', node, dir));
    rmSync(join(dir, `full-${round}`), { recursive: true, force: true });
    rmSync(join(dir, `node-${round}`), { recursive: true, force: true });
  }
  return { full: best(full), update: best(update) };
}

async function fetchFloor(server: ServerHandle, dir: string, mib: number) {
  const file = join(dir, 'weights.bin');
  await randomFile(file, mib * MIB);
  await modelgate(['publish', 'big@1', file, '--wait'], server.env, dir);
  const floors: number[] = [];
  const fetches: Timed<FetchSummary>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const hash = await timedCommand('openssl', ['dgst', '-sha256', file]);
    const copy = await timedCommand('cp', [file, join(dir, 'copy.bin')]);
    const flush = await timedCommand('sync', []);
    floors.push(hash.ms + copy.ms + flush.ms);
    rmSync(join(dir, 'copy.bin'));
    const dest = join(dir, `floor-${round}`, 'models');
    fetches.push(await fetchTimed(server, 'big@1', dest, dir));
    rmSync(join(dir, `floor-${round}`), { recursive: true, force: true });
  }
  return { floorMs: Math.min(...floors), fetch: best(fetches) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'weights-mib': { type: 'string', default: '128' },
      'floor-mib': { type: 'string', default: '1024' },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'bench-node-update-'));
  let server: ServerHandle | undefined;
  try {
    server = await startServer({ dataDir: join(dir, 'registry') });
    const weightsMiB = Number(values['weights-mib']);
    const { full, update } = await bundleUpdate(server, dir, weightsMiB);
    const floorMiB = Number(values['floor-mib']);
    const { floorMs, fetch } = await fetchFloor(server, dir, floorMiB);
    const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
    console.log(
      `bundle: 3 × ${weightsMiB} MiB + config.json; v2 changes config.json only (best of ${ROUNDS})`,
    );
    console.log(`| fetch v2 | bytes downloaded | files reused | time |`);
    console.log(
      `| full (empty folder) | ${full.value.bytesDownloaded} | ${full.value.filesReused} | ${s(full.ms)} |`,
    );
    console.log(
      `| update (folder holds v1) | ${update.value.bytesDownloaded} | ${update.value.filesReused} | ${s(update.ms)} |`,
    );
    console.log(
      `update/full: bytes ${(update.value.bytesDownloaded / full.value.bytesDownloaded).toExponential(2)}, time ${(update.ms / full.ms).toFixed(3)}`,
    );
    console.log(
      `${floorMiB} MiB: floor (openssl dgst -sha256 + cp + sync) ${s(floorMs)}, fetch ${s(fetch.ms)}, ratio ${(fetch.ms / floorMs).toFixed(2)} (target ≤ 1.15)`,
    );
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
