/**
 * `npm run bench:corpus`: the validator's verdicts against bare onnxruntime-node over ONNX's conformance
 * suite (Debian's `libonnx-testdata`: every `data/<kind>/<case>/model.onnx` with its official inputs and
 * expected outputs in `test_data_set_0/*.pb`) and any real models given with `--extra DIR`.
 *
 * For every case bare onnxruntime-node runs with its official inputs, the engine without options must say
 * passed or SAMPLE_INPUTS_REQUIRED (anything else is a false rejection), and with the sample inputs
 * beside the model it must pass with outputs compared. For cases bare onnxruntime cannot load, the
 * engine's code is recorded. The median validation time of cases that pass at once (no probe) is
 * compared with the same engine with probing off (`probe: false`: one run, as before the ladder).
 *
 * Runs the built engine (`npm run build` first), so the loader child is plain node as in production.
 * Options: --limit N, --baseline-every K (default 3), --concurrency C (default 2), --extra DIR
 * (repeatable), --json PATH (all results).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { ValidationInput } from '../gpu-validator/engine.js';
import type { ValidationReport } from '../schemas/report.schema.js';

const ROOT = process.env.ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';
const ENGINE = new URL('../dist/gpu-validator/engine.js', import.meta.url);

const { values: opts } = parseArgs({
  options: {
    limit: { type: 'string' },
    'baseline-every': { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '2' },
    extra: { type: 'string', multiple: true, default: [] },
    json: { type: 'string' },
  },
});

interface Bare {
  dir: string;
  load: 'ok' | 'failed' | 'crashed';
  run?: 'ok' | 'failed' | 'unfeedable';
  /** Bare onnxruntime's outputs equal the expected ones (the same rule as the validator's). */
  matches?: boolean;
  error?: string;
}

interface Verdict {
  outcome: string;
  code?: string;
  message?: string;
  ms: number;
  probes: number;
  smokeRun?: string;
}

interface CaseResult {
  dir: string;
  bare: Bare;
  plain: Verdict;
  sample?: Verdict;
  baseline?: Verdict;
}

function listCases(root: string): string[] {
  const dirs: string[] = [];
  for (const kind of readdirSync(root).sort())
    for (const name of readdirSync(join(root, kind)).sort()) {
      const dir = join(root, kind, name);
      if (existsSync(join(dir, 'model.onnx'))) dirs.push(dir);
    }
  return dirs;
}

/** Bare runs in one long-lived worker; a crash marks the case and a new worker takes the rest. */
async function bareRuns(dirs: string[]): Promise<Map<string, Bare>> {
  const results = new Map<string, Bare>();
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const worker = new URL('./lib/bare-ort-worker.ts', import.meta.url).pathname;
  let pending = [...dirs];
  while (pending.length > 0) {
    const child: ChildProcess = spawn(process.execPath, ['--import', tsx, worker], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const r = JSON.parse(line) as Bare;
      results.set(r.dir, r);
    });
    child.stdin?.end(`${pending.join('\n')}\n`);
    await done;
    const next = pending.findIndex((d) => !results.has(d));
    if (next < 0) break;
    const crashed = pending[next] as string;
    results.set(crashed, { dir: crashed, load: 'crashed' });
    pending = pending.slice(next + 1);
  }
  return results;
}

function manifestEntry(dir: string, path: string) {
  const localPath = join(dir, path);
  const bytes = readFileSync(localPath);
  return {
    path,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
    format: path.endsWith('.onnx') ? ('onnx' as const) : ('other' as const),
    localPath,
  };
}

type Validate = (input: ValidationInput) => Promise<ValidationReport>;

async function verdict(validate: Validate, dir: string, paths: string[], probe = true): Promise<Verdict> {
  const started = performance.now();
  const report = await validate({
    files: paths.map((p) => manifestEntry(dir, p)),
    dir,
    inputShapes: {},
    memoryBudgetBytes: 4 * 1024 ** 3,
    timeoutMs: 60_000,
    worker: 'bench-corpus',
    attempt: 1,
    probe,
  });
  const file = report.files.find((f) => f.format === 'onnx');
  return {
    outcome: report.outcome,
    ...(report.error ? { code: report.error.code, message: report.error.message.slice(0, 300) } : {}),
    ms: performance.now() - started,
    probes: file?.probes?.length ?? 0,
    ...(file?.smokeRun ? { smokeRun: file.smokeRun } : {}),
  };
}

function samplePaths(dir: string): string[] {
  const set = join(dir, 'test_data_set_0');
  if (!existsSync(set)) return [];
  return readdirSync(set)
    .filter((n) => n.endsWith('.pb'))
    .map((n) => `test_data_set_0/${n}`);
}

async function pool<T>(items: T[], concurrency: number, work: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const runners = Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i] as T, i);
    }
  });
  await Promise.all(runners);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
};

function countBy<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

const verdictKey = (v: Verdict | undefined) =>
  v ? (v.outcome === 'passed' ? 'passed' : (v.code ?? 'failed')) : '-';

function report(results: CaseResult[], extras: { file: string; v: Verdict }[]): void {
  const runs = results.filter((r) => r.bare.load === 'ok' && r.bare.run === 'ok');
  const cannotLoad = results.filter((r) => r.bare.load !== 'ok');
  const loadsNoRun = results.filter((r) => r.bare.load === 'ok' && r.bare.run !== 'ok');
  const falseRejections = runs.filter(
    (r) => r.plain.outcome !== 'passed' && r.plain.code !== 'SAMPLE_INPUTS_REQUIRED',
  );
  const required = runs.filter((r) => r.plain.code === 'SAMPLE_INPUTS_REQUIRED');
  const matching = runs.filter((r) => r.bare.matches);
  const sampleFailed = matching.filter((r) => r.sample && r.sample.outcome !== 'passed');
  const bareMismatch = runs.filter((r) => !r.bare.matches);
  console.log(`\nONNX conformance corpus (${ROOT}): ${results.length} models`);
  console.log('\n| bare onnxruntime-node | models | modelgate, no options | with test_data_set_0 |');
  console.log('| --- | ---: | --- | --- |');
  const row = (label: string, rs: CaseResult[]) =>
    console.log(
      `| ${label} | ${rs.length} | ${JSON.stringify(countBy(rs, (r) => verdictKey(r.plain)))} | ${JSON.stringify(countBy(rs, (r) => verdictKey(r.sample)))} |`,
    );
  row('runs with official inputs', runs);
  row('loads, official inputs fail or unfeedable', loadsNoRun);
  row('cannot load (or crashes)', cannotLoad);
  console.log(
    `\nfalse rejections (bare runs, modelgate blames the model): ${falseRejections.length} of ${runs.length}`,
  );
  for (const r of falseRejections)
    console.log(`  ${relative(ROOT, r.dir)}: ${r.plain.code} ${r.plain.message}`);
  console.log(
    `SAMPLE_INPUTS_REQUIRED: ${required.length} of ${runs.length} (${((100 * required.length) / Math.max(1, runs.length)).toFixed(1)} %)`,
  );
  for (const r of required) console.log(`  ${relative(ROOT, r.dir)}`);
  console.log(
    `with sample inputs, not passed where bare onnxruntime's outputs match the expected ones: ${sampleFailed.length} of ${matching.length}`,
  );
  for (const r of sampleFailed)
    console.log(`  ${relative(ROOT, r.dir)}: ${r.sample?.code} ${r.sample?.message}`);
  console.log(
    `bare onnxruntime's own outputs differ from the expected ones (random ops, known reference differences): ${bareMismatch.length}; modelgate with samples: ${JSON.stringify(countBy(bareMismatch, (r) => verdictKey(r.sample)))}`,
  );
  for (const r of bareMismatch) console.log(`  ${relative(ROOT, r.dir)}: ${verdictKey(r.sample)}`);
  const verifiedUnloadable = cannotLoad.filter((r) => r.plain.outcome === 'passed');
  console.log(`cannot load but VERIFIED: ${verifiedUnloadable.length} of ${cannotLoad.length}`);
  console.log(
    `codes for models bare onnxruntime cannot load: ${JSON.stringify(countBy(cannotLoad, (r) => verdictKey(r.plain)))}`,
  );
  const atOnce = results.filter(
    (r) =>
      r.baseline && r.plain.outcome === 'passed' && r.plain.probes === 0 && r.baseline.outcome === 'passed',
  );
  const withProbe = median(atOnce.map((r) => r.plain.ms));
  const baseline = median(atOnce.map((r) => r.baseline?.ms ?? 0));
  console.log(
    `\nmedian validation time of models that pass at once (${atOnce.length} measured both ways): ${withProbe.toFixed(0)} ms with the probe ladder, ${baseline.toFixed(0)} ms with probing off (ratio ${(withProbe / baseline).toFixed(2)})`,
  );
  if (extras.length > 0) {
    console.log('\nreal models (--extra):');
    for (const e of extras)
      console.log(
        `  ${e.file}: ${verdictKey(e.v)} ${e.v.smokeRun ?? ''} probes ${e.v.probes} ${e.v.message ?? ''}`,
      );
  }
}

function onnxFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => p.endsWith('.onnx') && statSync(join(dir, p)).isFile())
    .sort();
}

async function main(): Promise<void> {
  if (!existsSync(ROOT)) {
    console.log(
      `${ROOT} is absent: install Debian's libonnx-testdata (apt-get install libonnx-testdata) to run this benchmark`,
    );
    return;
  }
  if (!existsSync(ENGINE)) {
    console.error('dist/ is missing: run `npm run build` first (the benchmark runs the built engine)');
    process.exitCode = 1;
    return;
  }
  const { validateFiles } = (await import(ENGINE.href)) as { validateFiles: Validate };
  let dirs = listCases(ROOT);
  if (opts.limit) dirs = dirs.slice(0, Number(opts.limit));
  console.log(`bare onnxruntime-node over ${dirs.length} models…`);
  const bare = await bareRuns(dirs);
  const every = Math.max(1, Number(opts['baseline-every']));
  const results: CaseResult[] = [];
  let done = 0;
  await pool(dirs, Number(opts.concurrency), async (dir, i) => {
    const b = bare.get(dir) ?? { dir, load: 'crashed' };
    const plain = await verdict(validateFiles, dir, ['model.onnx']);
    const runs = b.load === 'ok' && b.run === 'ok';
    const sample = runs ? await verdict(validateFiles, dir, ['model.onnx', ...samplePaths(dir)]) : undefined;
    const baseline = i % every === 0 ? await verdict(validateFiles, dir, ['model.onnx'], false) : undefined;
    results.push({ dir, bare: b, plain, ...(sample ? { sample } : {}), ...(baseline ? { baseline } : {}) });
    if (++done % 100 === 0) console.log(`  ${done} of ${dirs.length}`);
  });
  results.sort((a, b) => a.dir.localeCompare(b.dir));
  const extras: { file: string; v: Verdict }[] = [];
  for (const dir of opts.extra ?? [])
    for (const file of onnxFiles(dir)) extras.push({ file, v: await verdict(validateFiles, dir, [file]) });
  report(results, extras);
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ results, extras }, null, 1));
}

await main();
process.exit(0);
