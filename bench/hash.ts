/**
 * Hashing benchmark: `npx tsx bench/hash.ts` (npm run bench:hash).
 *
 * On a 1 GiB file of random bytes, in one run: openssl's sha256 as the baseline, our sha256File (fetch's
 * check of a reused file, the signature check of a folder) and a publish's hashing (`hashAsPublish`: the
 * sha256 pool `modelgate publish` runs; the md5 is the registry's), then the peak RSS of a child process
 * doing a publish hash and of one doing installVersion from a bare local HTTP server. Prints a table and,
 * last, the ratios against their targets; exits 1 if one is missed.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { sha256File } from '../cli/files/hash-file.js';
import { serveFile } from './lib/blob-server.js';
import { measureCli } from './lib/cli-peak-rss.js';
import { best, mbPerSecond, type Timed, timed, timedCommand } from './lib/measure.js';
import { hashAsPublish } from './lib/publish-hash.js';

const SIZE = 1024 * 1024 * 1024;
const ROUNDS = 5;
const TARGETS = { verifyRatio: 0.85, publishRatio: 1.2, peakRssMiB: 150 };
const CHILD_SOURCE = join(import.meta.dirname, 'lib', 'peak-rss-child.ts');
const CHILD_CACHE = join(import.meta.dirname, '..', 'node_modules', '.cache', 'modelgate-bench');

/** Writes SIZE random bytes 4 MiB at a time and fsyncs, so no write-back runs during the timings. */
async function writeRandomFile(path: string): Promise<void> {
  const fh = await open(path, 'wx');
  const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
  try {
    for (let written = 0; written < SIZE; written += chunk.length) await fh.write(randomFillSync(chunk));
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const opensslDigest = (algorithm: 'sha256' | 'md5', path: string) =>
  timedCommand('openssl', ['dgst', `-${algorithm}`, '-r', path]).then(({ ms, value }) => ({
    ms,
    value: value.split(' ')[0] ?? '',
  }));

interface Timings {
  opensslSha256: Timed<string>;
  sha256File: Timed<string>;
  publish: Timed<string>;
}

/** Interleaves the three measurements round by round, so a burst of load elsewhere hits all of them. */
async function measureTimings(path: string): Promise<Timings> {
  const runs: { [K in keyof Timings]: Timings[K][] } = { opensslSha256: [], sha256File: [], publish: [] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.opensslSha256.push(await opensslDigest('sha256', path));
    runs.sha256File.push(await timed(async () => (await sha256File(path)).sha256));
    runs.publish.push(await timed(async () => (await hashAsPublish(path)).sha256));
  }
  return {
    opensslSha256: best(runs.opensslSha256),
    sha256File: best(runs.sha256File),
    publish: best(runs.publish),
  };
}

/**
 * The child runs as compiled JavaScript, as the `modelgate` CLI does from dist/: under tsx the loader
 * alone adds ~38 MiB of RSS, which would measure tsx and not the code. esbuild bundles the project's own
 * code in ~0.1 s; packages stay imports (better-sqlite3, behind the store lock, is a native addon that
 * cannot be bundled), so the bundle is written under node_modules/.cache, where they resolve.
 */
async function bundleChild(): Promise<string> {
  const outfile = join(CHILD_CACHE, `peak-rss-child-${process.pid}.mjs`);
  await build({
    entryPoints: [CHILD_SOURCE],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  return outfile;
}

/** Runs the bundled child and returns its self-reported VmHWM and duration. */
function runChild(childScript: string, args: string[]): Promise<{ vmHwmKiB: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => {
      stdout += data;
    });
    child.stderr.on('data', (data) => {
      stderr += data;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'));
      else reject(new Error(`peak-rss child ${args[0]} exited with ${code}: ${stderr}`));
    });
  });
}

async function measureInstallChild(
  childScript: string,
  path: string,
  dir: string,
  sha256: string,
  md5: string,
) {
  const server = await serveFile(path, SIZE);
  try {
    const manifest = JSON.stringify({ path: 'model.bin', size: SIZE, sha256, md5, format: 'other' });
    return await runChild(childScript, ['install', server.url, join(dir, 'dest'), manifest]);
  } finally {
    await server.close();
  }
}

function assertSameDigests(t: Timings): void {
  const same = t.sha256File.value === t.opensslSha256.value && t.publish.value === t.opensslSha256.value;
  if (!same) throw new Error(`digests differ from openssl's: ${JSON.stringify(t)}`);
}

const row = (name: string, ms: number, extra = '') =>
  `${name.padEnd(44)} ${(ms / 1000).toFixed(3).padStart(8)} s ${mbPerSecond(SIZE, ms).toFixed(0).padStart(7)} MiB/s  ${extra}`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'modelgate-bench-hash-'));
  try {
    const path = join(dir, 'random-1GiB.bin');
    await writeRandomFile(path);
    await sha256File(path); // warms the page cache (and the JIT)
    const t = await measureTimings(path);
    assertSameDigests(t);
    const childScript = await bundleChild();
    const publishChild = await runChild(childScript, ['publish', path]);
    // The install's manifest names both digests, as a VERIFIED version's does.
    const md5 = (await opensslDigest('md5', path)).value;
    const installChild = await measureInstallChild(childScript, path, dir, t.opensslSha256.value, md5);

    const realCli = await measureCli(path, dir);

    console.log(`1 GiB random file in ${tmpdir()}, best of ${ROUNDS}, page cache warm\n`);
    console.log(row('openssl dgst -sha256', t.opensslSha256.ms));
    console.log(row('sha256File', t.sha256File.ms));
    console.log(row('publish hashing (sha256 pool, one thread)', t.publish.ms));
    console.log(
      row(
        'child: publish hashing',
        publishChild.ms,
        `peak RSS ${(publishChild.vmHwmKiB / 1024).toFixed(1)} MiB`,
      ),
    );
    console.log(
      row(
        'child: installVersion over local HTTP',
        installChild.ms,
        `peak RSS ${(installChild.vmHwmKiB / 1024).toFixed(1)} MiB`,
      ),
    );

    console.log(
      row(
        'modelgate publish --wait (real CLI + server)',
        realCli.publish.ms,
        `max RSS ${(realCli.publish.maxRssKiB / 1024).toFixed(1)} MiB`,
      ),
    );
    console.log(
      row(
        'modelgate fetch (real CLI + server)',
        realCli.fetch.ms,
        `max RSS ${(realCli.fetch.maxRssKiB / 1024).toFixed(1)} MiB`,
      ),
    );

    const verifyRatio = t.opensslSha256.ms / t.sha256File.ms;
    const publishRatio = t.publish.ms / t.opensslSha256.ms;
    const checks = [
      [
        '(a) sha256File throughput / openssl sha256 throughput',
        verifyRatio,
        `>= ${TARGETS.verifyRatio}`,
        verifyRatio >= TARGETS.verifyRatio,
      ],
      [
        '(b) publish hashing time / openssl sha256 time',
        publishRatio,
        `<= ${TARGETS.publishRatio}`,
        publishRatio <= TARGETS.publishRatio,
      ],
      [
        '(c) peak RSS, publish child (MiB)',
        publishChild.vmHwmKiB / 1024,
        `< ${TARGETS.peakRssMiB}`,
        publishChild.vmHwmKiB / 1024 < TARGETS.peakRssMiB,
      ],
      [
        '(d) peak RSS, install child (MiB)',
        installChild.vmHwmKiB / 1024,
        `< ${TARGETS.peakRssMiB}`,
        installChild.vmHwmKiB / 1024 < TARGETS.peakRssMiB,
      ],
      [
        '(e) max RSS, `modelgate publish` process (MiB)',
        realCli.publish.maxRssKiB / 1024,
        `< ${TARGETS.peakRssMiB}`,
        realCli.publish.maxRssKiB / 1024 < TARGETS.peakRssMiB,
      ],
      [
        '(f) max RSS, `modelgate fetch` process (MiB)',
        realCli.fetch.maxRssKiB / 1024,
        `< ${TARGETS.peakRssMiB}`,
        realCli.fetch.maxRssKiB / 1024 < TARGETS.peakRssMiB,
      ],
    ] as const;
    console.log('');
    for (const [name, value, target, ok] of checks)
      console.log(
        `${name.padEnd(56)} ${value.toFixed(2).padStart(8)}  target ${target.padEnd(7)} ${ok ? 'OK' : 'MISSED'}`,
      );
    if (checks.some(([, , , ok]) => !ok)) process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(join(CHILD_CACHE, `peak-rss-child-${process.pid}.mjs`), { force: true });
  }
}

await main();
