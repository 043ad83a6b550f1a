/**
 * `modelgate verify` against `openssl dgst -sha256`: `npm run build && npx tsx bench/verify.ts`.
 *
 * Writes two installed folders in os.tmpdir() (one 1 GiB file; ten 100 MiB files), each with the
 * `.modelgate.json` and `SHA256SUMS` fetch writes, then in interleaved rounds times, page cache warm:
 * the floor the end-to-end benchmark uses (`find … | xargs -0 openssl dgst -sha256` in the folder) and
 * the built CLI's `verify` (`dist/cli/main.js`; `--baseline PATH` adds another build's main.js, e.g. of
 * the parent commit, measured in the same rounds). Peak RSS from `/usr/bin/time`. Options: `--rounds N`
 * (default 5), `--keep DIR` (reuse/keep the folders there). Prints the best of the rounds and, last, the
 * ratios; exits 1 if verify is slower than its floor or over 143 MiB.
 */
import { execFile } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const MiB = 1024 * 1024;
const TARGET = { ratio: 1.0, rssMiB: 150 / 1.048576 };
const CASES = [
  { label: '1 × 1 GiB', dir: 'one', files: [['model.onnx', 1024]] as const },
  {
    label: '10 × 100 MiB',
    dir: 'ten',
    files: Array.from({ length: 10 }, (_, i) => [`part-${i}.onnx`, 100] as const),
  },
];

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    baseline: { type: 'string' },
    keep: { type: 'string' },
  },
});
const rounds = Number(values.rounds);

/** Random files, fsynced, and the metadata fetch would write for them. */
async function writeFolder(dir: string, files: ReadonlyArray<readonly [string, number]>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = [];
  const chunk = Buffer.allocUnsafe(4 * MiB);
  for (const [path, mib] of files) {
    const sha256 = createHash('sha256');
    const md5 = createHash('md5');
    const fh = await open(join(dir, path), 'w');
    for (let i = 0; i < mib / 4; i++) {
      randomFillSync(chunk);
      sha256.update(chunk);
      md5.update(chunk);
      await fh.write(chunk);
    }
    await fh.sync();
    await fh.close();
    entries.push({
      path,
      size: mib * MiB,
      sha256: sha256.digest('hex'),
      md5: md5.digest('hex'),
      format: 'onnx',
    });
  }
  const metadata = { model: 'bench-verify', version: '1.0.0', seq: 1, provider: 'bench', files: entries };
  await writeFile(
    join(dir, '.modelgate.json'),
    JSON.stringify({ ...metadata, fetchedAt: new Date().toISOString() }),
  );
  await writeFile(join(dir, 'SHA256SUMS'), entries.map((e) => `${e.sha256}  ${e.path}\n`).join(''));
}

interface Run {
  ms: number;
  rssKiB: number;
}

/** Wall time and peak RSS of a shell command run under /usr/bin/time (its own start-up included). */
function timedShell(command: string): Promise<Run> {
  return new Promise((done, fail) => {
    const started = performance.now();
    execFile('/usr/bin/time', ['-f', '%M', 'sh', '-c', command], (err, _stdout, stderr) => {
      const ms = performance.now() - started;
      if (err) fail(new Error(`${command} failed: ${stderr}`));
      else done({ ms, rssKiB: Number(stderr.trim().split('\n').at(-1)) });
    });
  });
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const floorOf = (dir: string) =>
  `cd ${quote(dir)} && find . -type f ! -name checksums.txt ! -name '.*' -print0 | xargs -0 openssl dgst -sha256 > /dev/null`;
const verifyWith = (main: string, dir: string) => `node ${quote(main)} verify ${quote(dir)} > /dev/null`;

const root = values.keep ? resolve(values.keep) : await mkdtemp(join(tmpdir(), 'bench-verify-'));
const builds: Array<readonly [string, string]> = [['verify', resolve('dist/cli/main.js')]];
if (values.baseline) builds.push(['baseline', resolve(values.baseline)]);
try {
  for (const c of CASES)
    if (!existsSync(join(root, c.dir, '.modelgate.json'))) await writeFolder(join(root, c.dir), c.files);
  const runs = new Map<string, Run[]>();
  const add = (key: string, run: Run) => runs.set(key, [...(runs.get(key) ?? []), run]);
  for (const c of CASES) await timedShell(floorOf(join(root, c.dir))); // page cache warm
  for (let round = 0; round < rounds; round++)
    for (const c of CASES) {
      const dir = join(root, c.dir);
      add(`${c.label}|floor`, await timedShell(floorOf(dir)));
      for (const [name, main] of builds) add(`${c.label}|${name}`, await timedShell(verifyWith(main, dir)));
    }
  const bestMs = (key: string) => Math.min(...(runs.get(key) ?? []).map((r) => r.ms));
  const maxRss = (key: string) => Math.max(...(runs.get(key) ?? []).map((r) => r.rssKiB)) / 1024;
  console.log(`\nbest of ${rounds} round(s), ms; peak RSS is the maximum (MiB)\n`);
  console.log('| case | command | best | all rounds | peak RSS |\n| --- | --- | ---: | --- | ---: |');
  for (const c of CASES)
    for (const name of ['floor', ...builds.map(([n]) => n)]) {
      const key = `${c.label}|${name}`;
      const all = (runs.get(key) ?? []).map((r) => r.ms.toFixed(0)).join(', ');
      console.log(
        `| ${c.label} | ${name} | ${bestMs(key).toFixed(0)} | ${all} | ${maxRss(key).toFixed(1)} |`,
      );
    }
  console.log('');
  let ok = true;
  for (const c of CASES)
    for (const [name] of builds) {
      const ratio = bestMs(`${c.label}|${name}`) / bestMs(`${c.label}|floor`);
      const rss = maxRss(`${c.label}|${name}`);
      const pass = ratio <= TARGET.ratio && rss < TARGET.rssMiB;
      if (name === 'verify') ok &&= pass;
      console.log(
        `${pass ? 'ok  ' : 'MISS'} ${c.label} ${name} / openssl dgst -sha256: ${ratio.toFixed(3)}× (≤ ${TARGET.ratio}), peak RSS ${rss.toFixed(1)} MiB`,
      );
    }
  process.exitCode = ok ? 0 : 1;
} finally {
  if (!values.keep) await rm(root, { recursive: true, force: true });
}
