/**
 * End-to-end benchmark: `npx tsx bench/e2e.ts` (npm run bench:e2e; `npm run build` first, the CLI runs
 * from `dist/`). Options: `--size N` (MiB of the single file, default 1024), `--files N` and `--file-size N`
 * (the version of many files, default 10 × 100 MiB; `--files 0` leaves it out), `--rounds N` (default 3),
 * `--backend embedded|aws|both` (default both; aws needs Java for DynamoDB Local), `--idle S` (seconds the
 * server sits idle before the first round, default 10).
 *
 * Starts a real `modelgate serve` (its own process group and temporary data folder, the CLI's shebang
 * flags plus `--trace-gc`, whose mark-compacts are counted per publish), lets it idle as a registry does
 * between publishes, then in interleaved rounds times the real CLI against its floor on the same bytes, page cache warm:
 * - `publish --wait` against `openssl dgst -md5` (sha256 and md5 must both be computed; md5 is the slower);
 * - the same bytes published again under another version (`publish --wait`, the registry holds every
 *   blob) against `openssl dgst -sha256`: nothing but the hash should be paid, whatever is sent early;
 * - `fetch` against `openssl dgst -sha256` + `cp` + `sync`;
 * - `verify` against `openssl dgst -sha256`.
 * On the aws wiring each round also times s3rver alone (`curl` PUT and GET of the same bytes to presigned
 * URLs), printed as context: how much of a figure there is the test double's own.
 * Every round publishes new bytes (the first 8 bytes of each file carry the round), so nothing is skipped
 * as "already stored". Peak RSS: the client's from `/usr/bin/time -v`, the server's VmHWM, reset before
 * each command through /proc/PID/clear_refs. Best of the rounds; prints the ratios last and exits 1 on a
 * missed target. Deletes what it writes.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startDynamoDbLocal, startS3rver } from '../test/helpers/aws-local.js';
import { isFullCollection } from '../test/helpers/gc-trace.js';
import { listeningUrl } from '../test/helpers/listening-url.js';
import { writeRandomFile } from '../test/helpers/random-file.js';
import { shebangNodeFlags } from '../test/helpers/shebang-flags.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** The Node flags of the CLI's shebang (read once): the CLI is timed as an installed `modelgate` runs. */
let shebangFlags: Promise<string[]> | undefined;
const cliNodeFlags = () => {
  shebangFlags ??= shebangNodeFlags(CLI);
  return shebangFlags;
};
const MiB = 1024 * 1024;
/**
 * The targets; `republish` guards the early (staged) sends of publish: a re-publish cost ~1.3×
 * its hash before them, and 2.1–2.3× while they still sent the bytes of blobs the registry held.
 */
const TARGETS = { publish: 2.0, republish: 1.5, fetch: 1.15, verify: 1.0, rssMiB: 150 / 1.048576 } as const;

type BackendName = 'embedded' | 'aws';

interface Options {
  singleMiB: number;
  files: number;
  fileMiB: number;
  rounds: number;
  backends: BackendName[];
  /** Seconds the server sits idle after it starts, before the first round. */
  idleS: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1024' },
      files: { type: 'string', default: '10' },
      'file-size': { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
      backend: { type: 'string', default: 'both' },
      idle: { type: 'string', default: '10' },
    },
  });
  const positive = (name: string, v: string, min = 1) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} expects an integer ≥ ${min}, got "${v}"`);
    return n;
  };
  const backend = values.backend;
  if (backend !== 'embedded' && backend !== 'aws' && backend !== 'both')
    throw new Error(`--backend expects embedded, aws or both, got "${backend}"`);
  return {
    singleMiB: positive('size', values.size),
    files: positive('files', values.files, 0),
    fileMiB: positive('file-size', values['file-size']),
    rounds: positive('rounds', values.rounds),
    backends: backend === 'both' ? ['embedded', 'aws'] : [backend],
    idleS: positive('idle', values.idle, 0),
  };
}

/** New bytes for a round: the round number in the first 8 bytes, so the blob is not already stored. */
async function stampRound(paths: readonly string[], round: number): Promise<void> {
  for (const path of paths) {
    const fh = await open(path, 'r+');
    try {
      const stamp = Buffer.alloc(8);
      stamp.writeBigUInt64LE(BigInt(Date.now()) * 1000n + BigInt(round));
      await fh.write(stamp, 0, 8, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

interface Run {
  ms: number;
  /** Client maximum RSS in KiB (`/usr/bin/time -v`), when measured. */
  clientKiB?: number;
  /** Server VmHWM in KiB since the reset before the command, when measured. */
  serverKiB?: number;
  /** Full (mark-compact) garbage collections in the server during the command, when measured. */
  serverMajorGcs?: number;
}

function runCommand(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ ms: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code !== 0)
        reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.slice(-2000)}`));
      else resolve({ ms, stderr });
    });
  });
}

/** Runs the built CLI under `/usr/bin/time -v`, resetting and reading the server's peak RSS around it. */
async function timedCli(args: string[], server: Server): Promise<Run> {
  await resetPeak(server.pid);
  const gcsBefore = server.majorGcs();
  const { ms, stderr } = await runCommand(
    '/usr/bin/time',
    ['-v', process.execPath, ...(await cliNodeFlags()), CLI, ...args],
    server.env,
  );
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!m) throw new Error(`no maximum RSS in the output of modelgate ${args[0]}`);
  return {
    ms,
    clientKiB: Number(m[1]),
    serverKiB: await peakKiB(server.pid),
    serverMajorGcs: server.majorGcs() - gcsBefore,
  };
}

const shell = (script: string) => runCommand('sh', ['-c', script]);
const quote = (paths: readonly string[]) => paths.map((p) => `'${p}'`).join(' ');

/** Writing 5 to clear_refs resets the process's VmHWM to its current RSS (proc(5)). */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

async function peakKiB(pid: number): Promise<number> {
  const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for process ${pid}`);
  return Number(m[1]);
}

interface Server {
  pid: number;
  env: Record<string, string>;
  dataDir: string;
  /** Full collections the server has run so far, on any of its threads (`--trace-gc`, see gc-trace). */
  majorGcs(): number;
  /** Deletes every stored blob, so the disk stays bounded across rounds (past rounds' blobs are not needed). */
  dropBlobs(): Promise<void>;
  /**
   * The aws wiring only: the storage alone, without modelgate. `curl` PUTs the files to presigned URLs
   * of the bucket, one after the other, then GETs them back: what s3rver itself takes for these bytes.
   */
  storageAlone?(files: readonly string[]): Promise<{ put: Run; get: Run }>;
  /**
   * The embedded wiring only: the disk alone for a fetch, without modelgate. `dd` reads the stored blobs
   * with O_DIRECT (as the folder store serves them) while another `dd` writes the same bytes with O_DIRECT
   * (as fetch writes them) and `sync`s: registry and node share this machine's one disk.
   */
  diskAlone?(files: readonly string[]): Promise<Run>;
  stop(): Promise<void>;
}

/**
 * `modelgate serve` in its own process group (setsid), on a free loopback port; the aws wiring runs
 * DynamoDB Local and s3rver (in this process) beside it.
 */
async function startServer(backend: BackendName, dataDir: string): Promise<Server> {
  let awsEnv: Record<string, string> = {};
  let stopAws = async () => {};
  let storageAlone: Server['storageAlone'];
  let diskAlone: Server['diskAlone'];
  let dropBlobs = async () => {
    await rm(join(dataDir, 'blobs', 'sha256'), { recursive: true, force: true });
    await mkdir(join(dataDir, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  };
  if (backend === 'aws') {
    const dynamo = await startDynamoDbLocal();
    const s3 = await startS3rver();
    const table = await dynamo.createMetadataTable();
    awsEnv = {
      MODELGATE_BACKEND: 'aws',
      MODELGATE_TABLE_NAME: table,
      MODELGATE_BUCKET_NAME: s3.bucket,
      MODELGATE_DYNAMODB_ENDPOINT: dynamo.endpoint,
      MODELGATE_S3_ENDPOINT: s3.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    };
    stopAws = async () => {
      await s3.stop();
      await dynamo.stop();
    };
    storageAlone = async (files) => {
      const signed = (verb: 'put' | 'get', i: number) => {
        const key = { Bucket: s3.bucket, Key: `bench-baseline/${i}` };
        return getSignedUrl(
          s3.client,
          verb === 'put' ? new PutObjectCommand(key) : new GetObjectCommand(key),
          {
            expiresIn: 600,
          },
        );
      };
      const puts = await Promise.all(files.map((_, i) => signed('put', i)));
      const gets = await Promise.all(files.map((_, i) => signed('get', i)));
      const curl = (args: string) => `curl -sS --fail -o /dev/null ${args}`;
      const put = await shell(files.map((f, i) => curl(`-T '${f}' '${puts[i]}'`)).join(' && '));
      const get = await shell(gets.map((u) => curl(`'${u}'`)).join(' && '));
      return { put, get };
    };
    dropBlobs = async () => {
      const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
      for (const o of listed.Contents ?? [])
        await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: o.Key! }));
    };
  }
  if (backend === 'embedded') {
    diskAlone = async (files) => {
      const shards = join(dataDir, 'blobs', 'sha256');
      const blobs: string[] = [];
      for (const dir of await readdir(shards))
        for (const b of await readdir(join(shards, dir))) blobs.push(join(shards, dir, b));
      const out = `${dataDir}.disk-alone`;
      await mkdir(out, { recursive: true });
      const dd = (args: string) => `dd bs=1M status=none ${args}`;
      const reads = blobs.map((b) => dd(`if='${b}' of=/dev/null iflag=direct`)).join(' && ');
      const writes = files.map((f, i) => dd(`if='${f}' of='${out}/${i}' oflag=direct`)).join(' && ');
      const run = await shell(`(${reads}) & (${writes}) && wait && sync`);
      await rm(out, { recursive: true, force: true });
      return run;
    };
  }
  const child = spawn(
    process.execPath,
    [...(await cliNodeFlags()), '--trace-gc', CLI, 'serve', '--port', '0', '--data-dir', dataDir],
    {
      env: { ...process.env, ...awsEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // setsid: its own process group, stopped as a whole
    },
  );
  const url = await listeningUrl(child, 60_000).catch(async (e: unknown) => {
    killGroup(child, 'SIGKILL');
    await stopAws();
    throw e;
  });
  // Counted per line, so a line split across two reads is still seen once.
  let majorGcs = 0;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (isFullCollection(line)) majorGcs += 1;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    dataDir,
    majorGcs: () => majorGcs,
    dropBlobs,
    ...(storageAlone ? { storageAlone } : {}),
    ...(diskAlone ? { diskAlone } : {}),
    env: { MODELGATE_REGISTRY: url, MODELGATE_PROVIDER: 'bench', NO_COLOR: '1' },
    async stop() {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await stopAws();
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

interface Case {
  label: string;
  /** The model's name in the registry. */
  model: string;
  /** What `publish` is given: one file or a folder. */
  publishPath: string;
  /** The files themselves, for the openssl and cp floors. */
  files: string[];
  bytes: number;
}

interface CaseRuns {
  /** The embedded wiring only: the fetch's disk work alone (Server.diskAlone). */
  diskAlone: Run[];
  /** The aws wiring only: s3rver's own PUT and GET of the same bytes (Server.storageAlone). */
  storagePut: Run[];
  storageGet: Run[];
  publish: Run[];
  publishFloor: Run[];
  republish: Run[];
  republishFloor: Run[];
  fetch: Run[];
  fetchFloor: Run[];
  verify: Run[];
  verifyFloor: Run[];
}

/** One round of one case: each command right after its floor, on the same bytes. */
async function round(c: Case, server: Server, work: string, n: number, runs: CaseRuns): Promise<void> {
  await stampRound(c.files, n);
  const name = c.model;
  const version = `1.0.${n}`;
  runs.publishFloor.push(await shell(`openssl dgst -md5 ${quote(c.files)} > /dev/null`));
  runs.publish.push(await timedCli(['publish', `${name}@${version}`, c.publishPath, '--wait'], server));
  runs.republishFloor.push(await shell(`openssl dgst -sha256 ${quote(c.files)} > /dev/null`));
  runs.republish.push(await timedCli(['publish', `${name}@2.0.${n}`, c.publishPath, '--wait'], server));

  const floorDir = join(work, 'floor');
  await mkdir(floorDir, { recursive: true });
  runs.fetchFloor.push(
    await shell(
      `openssl dgst -sha256 ${quote(c.files)} > /dev/null && cp ${quote(c.files)} '${floorDir}' && sync`,
    ),
  );
  await rm(floorDir, { recursive: true, force: true });

  const dest = join(work, 'node');
  runs.fetch.push(await timedCli(['fetch', `${name}@${version}`, '--dest', dest], server));
  const installed = dest;
  if (!existsSync(join(installed, 'checksums.txt')))
    throw new Error(`fetch did not install into ${installed}`);
  runs.verifyFloor.push(
    await shell(
      `cd '${installed}' && find . -type f ! -name checksums.txt ! -name '.*' -print0 | xargs -0 openssl dgst -sha256 > /dev/null`,
    ),
  );
  runs.verify.push(await timedCli(['verify', installed], server));
  await rm(dest, { recursive: true, force: true });
  if (server.diskAlone) runs.diskAlone.push(await server.diskAlone(c.files));
  if (server.storageAlone) {
    const alone = await server.storageAlone(c.files);
    runs.storagePut.push(alone.put);
    runs.storageGet.push(alone.get);
  }
  await server.dropBlobs();
}

const bestMs = (runs: readonly Run[]) => Math.min(...runs.map((r) => r.ms));
const maxOf = (runs: readonly Run[], key: 'clientKiB' | 'serverKiB') =>
  Math.max(...runs.map((r) => r[key] ?? 0)) / 1024;

interface Result {
  backend: BackendName;
  c: Case;
  runs: CaseRuns;
}

function printResults(results: readonly Result[], rounds: number): boolean {
  console.log(`\nbest of ${rounds} round(s); RSS is the maximum over the rounds (MiB)\n`);
  console.log('| backend | case | command | time | floor | ratio | target | client RSS | server RSS |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  let ok = true;
  const ratios: string[] = [];
  for (const { backend, c, runs } of results) {
    for (const [cmd, target] of [
      ['publish', TARGETS.publish],
      ['republish', TARGETS.republish],
      ['fetch', TARGETS.fetch],
      ['verify', TARGETS.verify],
    ] as const) {
      const mine = runs[cmd];
      const floor = runs[`${cmd}Floor`];
      const ratio = bestMs(mine) / bestMs(floor);
      const client = maxOf(mine, 'clientKiB');
      const server = maxOf(mine, 'serverKiB');
      const pass = ratio <= target && client < TARGETS.rssMiB && server < TARGETS.rssMiB;
      ok &&= pass;
      console.log(
        `| ${backend} | ${c.label} | ${cmd} | ${(bestMs(mine) / 1000).toFixed(3)} s | ${(bestMs(floor) / 1000).toFixed(3)} s | ${ratio.toFixed(2)} | ≤ ${target} | ${client.toFixed(1)} | ${server.toFixed(1)} |`,
      );
      ratios.push(
        `${pass ? 'ok  ' : 'MISS'} ${backend} ${c.label} ${cmd}: ${ratio.toFixed(2)}× (≤ ${target}), RSS client ${client.toFixed(1)} MiB, server ${server.toFixed(1)} MiB (< ${TARGETS.rssMiB.toFixed(1)} MiB)`,
      );
    }
  }
  const disk = results.filter((r) => r.runs.diskAlone.length > 0);
  if (disk.length > 0)
    console.log(
      '\nthe disk alone for a fetch (dd reads the blobs with O_DIRECT while dd writes the bytes with O_DIRECT, then sync; no modelgate), per fetch floor',
    );
  for (const { backend, c, runs } of disk) {
    const floor = bestMs(runs.fetchFloor);
    console.log(
      `${backend} ${c.label}: ${(bestMs(runs.diskAlone) / 1000).toFixed(2)} s (${(bestMs(runs.diskAlone) / floor).toFixed(2)}× the fetch floor)`,
    );
  }
  const alone = results.filter((r) => r.runs.storagePut.length > 0);
  if (alone.length > 0)
    console.log('\nthe storage alone (curl to presigned URLs of s3rver, no modelgate), per md5 floor');
  for (const { backend, c, runs } of alone) {
    const md5 = bestMs(runs.publishFloor);
    console.log(
      `${backend} ${c.label}: PUT ${(bestMs(runs.storagePut) / 1000).toFixed(2)} s (${(bestMs(runs.storagePut) / md5).toFixed(2)}× md5), GET ${(bestMs(runs.storageGet) / 1000).toFixed(2)} s (${(bestMs(runs.storageGet) / md5).toFixed(2)}× md5)`,
    );
  }
  console.log('\nratios');
  for (const line of ratios) console.log(line);
  return ok;
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const work = await mkdtemp(join(tmpdir(), 'modelgate-bench-e2e-'));
  const results: Result[] = [];
  try {
    const single = join(work, 'src', 'single', 'weights.bin');
    const many = join(work, 'src', 'many');
    await mkdir(join(work, 'src', 'single'), { recursive: true });
    await mkdir(many, { recursive: true });
    await writeRandomFile(single, options.singleMiB * MiB);
    const manyFiles = Array.from({ length: options.files }, (_, i) =>
      join(many, `shard-${String(i).padStart(2, '0')}.bin`),
    );
    for (const f of manyFiles) await writeRandomFile(f, options.fileMiB * MiB);
    const cases: Case[] = [
      {
        label: `1 × ${options.singleMiB} MiB`,
        model: 'bench-single',
        publishPath: single,
        files: [single],
        bytes: options.singleMiB * MiB,
      },
      ...(options.files > 0
        ? [
            {
              label: `${options.files} × ${options.fileMiB} MiB`,
              model: 'bench-many',
              publishPath: many,
              files: manyFiles,
              bytes: options.files * options.fileMiB * MiB,
            },
          ]
        : []),
    ];
    for (const backend of options.backends) {
      const server = await startServer(backend, join(work, `registry-${backend}`));
      try {
        // A registry spends most of its life waiting for the next publish; V8 sizes the heap limits a
        // server's first uploads meet from what it saw then (a server measured right after its start
        // met 0 full collections per GiB uploaded, one idle for 10 s first ~60 before the fix).
        await sleep(options.idleS * 1000);
        const perCase = cases.map((c) => ({
          backend,
          c,
          runs: {
            storagePut: [],
            storageGet: [],
            publish: [],
            publishFloor: [],
            republish: [],
            republishFloor: [],
            fetch: [],
            fetchFloor: [],
            diskAlone: [],
            verify: [],
            verifyFloor: [],
          } as CaseRuns,
        }));
        for (let n = 0; n < options.rounds; n++)
          for (const r of perCase) {
            await round(r.c, server, work, n, r.runs);
            console.error(
              `${backend} ${r.c.label} round ${n + 1}: publish ${(r.runs.publish.at(-1)!.ms / 1000).toFixed(2)} s, ${r.runs.publish.at(-1)!.serverMajorGcs} full GCs in the server (md5 ${(r.runs.publishFloor.at(-1)!.ms / 1000).toFixed(2)} s), again ${(r.runs.republish.at(-1)!.ms / 1000).toFixed(2)} s (sha256 ${(r.runs.republishFloor.at(-1)!.ms / 1000).toFixed(2)} s), fetch ${(r.runs.fetch.at(-1)!.ms / 1000).toFixed(2)} s (floor ${(r.runs.fetchFloor.at(-1)!.ms / 1000).toFixed(2)} s), verify ${(r.runs.verify.at(-1)!.ms / 1000).toFixed(2)} s (sha256 ${(r.runs.verifyFloor.at(-1)!.ms / 1000).toFixed(2)} s)`,
            );
          }
        results.push(...perCase);
      } finally {
        await server.stop();
        await rm(server.dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  if (!printResults(results, options.rounds)) process.exitCode = 1;
}

await main();
