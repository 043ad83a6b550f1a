/**
 * Validation benchmark: `npx tsx bench/validate.ts` (npm run bench:validate).
 *
 * Writes ONNX models of 10 MB, 100 MB, 500 MB and 1 GB (one MatMul; almost all bytes one initializer) in
 * os.tmpdir(), then, in one run:
 *   (a)/(b) overhead: for 100 MB and 500 MB, best of 3 interleaved rounds of (a) a fresh `node` doing
 *           InferenceSession.create + one run of the same inputs (wall time of the whole process) and
 *           (b) modelgate's total validation of the same file (validateFiles: sha256 + md5, inspection,
 *           child, load, run), bundled JavaScript in a long-lived process as a server's worker runs it;
 *   (c) accuracy: the reported peak (child VmHWM) against `/usr/bin/time -v` of the bare run, all sizes;
 *   (d) inspection of the 1 GB model alone, in a fresh process: bytes read and that process's peak RSS.
 * Prints a table, then the ratios against their targets LAST; exits 1 if a target is missed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile } from '../gpu-validator/file-integrity.js';
import { writeLargeModel } from '../test/fixtures/onnx-writer.js';
import {
  type BareRun,
  bareRuntimeRun,
  bundleValidator,
  type InspectionRun,
  inspectInProcess,
  type ValidationRound,
  ValidatorProcess,
} from './lib/validate-processes.js';

const MB = 1000 * 1000;
const MIB = 1024 * 1024;
const ROUNDS = 3;
const TARGETS = { overhead: 1.25, accuracy: 0.1, inspectReadFraction: 0.01, inspectRssBytes: 100 * MIB };
const SIZES = [
  { label: '10 MB', bytes: 10 * MB, timed: false, inspect: false },
  { label: '100 MB', bytes: 100 * MB, timed: true, inspect: false },
  { label: '500 MB', bytes: 500 * MB, timed: true, inspect: false },
  { label: '1 GB', bytes: 1000 * MB, timed: false, inspect: true },
] as const;

interface SizeResult {
  label: string;
  fileBytes: number;
  bare: BareRun[];
  validations: ValidationRound[];
  inspection?: InspectionRun;
}

const fastest = <T extends { ms: number }>(runs: T[]): T => runs.reduce((a, b) => (b.ms < a.ms ? b : a));

/** Interleaves bare and validator rounds, so a burst of load elsewhere hits both alike. */
async function measureSize(driver: string, dir: string, size: (typeof SIZES)[number]): Promise<SizeResult> {
  const localPath = join(dir, `model-${size.bytes}.onnx`);
  writeLargeModel(localPath, size.bytes);
  const { sha256, md5, size: fileBytes } = await hashFile(localPath); // also warms the page cache
  const validator = new ValidatorProcess(driver, {
    path: 'model.onnx',
    size: fileBytes,
    sha256,
    md5,
    format: 'onnx',
    localPath,
  });
  const result: SizeResult = { label: size.label, fileBytes, bare: [], validations: [] };
  try {
    if (size.inspect) result.inspection = await inspectInProcess(driver, localPath);
    for (let round = 0; round < (size.timed ? ROUNDS : 1); round++) {
      result.bare.push(await bareRuntimeRun(localPath));
      const validation = await validator.round();
      if (validation.outcome !== 'passed') throw new Error(`validation failed: ${validation.error}`);
      result.validations.push(validation);
    }
  } finally {
    await validator.close();
    await rm(localPath, { force: true });
  }
  return result;
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

function printTable(results: SizeResult[]): void {
  console.log(
    `ONNX models in ${tmpdir()} (page cache warm); times: best of ${ROUNDS} for 100 MB and 500 MB\n`,
  );
  console.log(
    `${'model'.padEnd(8)} ${'bare ORT'.padStart(10)} ${'validate'.padStart(10)} ${'(1st run)'.padStart(10)} ${'child load'.padStart(11)} ${'reported peak'.padStart(14)} ${'time -v max RSS'.padStart(16)} ${'baseline'.padStart(10)}`,
  );
  for (const r of results) {
    const bare = fastest(r.bare);
    const v = fastest(r.validations);
    console.log(
      `${r.label.padEnd(8)} ${secs(bare.ms).padStart(10)} ${secs(v.ms).padStart(10)} ${secs(r.validations[0]?.ms ?? 0).padStart(10)} ${secs(v.loadMs ?? 0).padStart(11)} ${mib(v.peakRssBytes ?? 0).padStart(14)} ${mib(bare.maxRssBytes).padStart(16)} ${mib(v.baselineRssBytes ?? 0).padStart(10)}`,
    );
  }
}

type Check = readonly [name: string, value: string, target: string, ok: boolean];

function overheadChecks(results: SizeResult[]): Check[] {
  return results
    .filter((r) => r.validations.length > 1)
    .map((r) => {
      const ratio = fastest(r.validations).ms / fastest(r.bare).ms;
      return [
        `(b)/(a) validation time / bare onnxruntime-node, ${r.label}`,
        ratio.toFixed(2),
        `<= ${TARGETS.overhead}`,
        ratio <= TARGETS.overhead,
      ] as const;
    });
}

function accuracyChecks(results: SizeResult[]): Check[] {
  return results.map((r) => {
    const reported = fastest(r.validations).peakRssBytes ?? 0;
    const reference = fastest(r.bare).maxRssBytes;
    const error = Math.abs(reported - reference) / reference;
    return [
      `(c) |reported peak - time -v max RSS| / time -v, ${r.label}`,
      `${(error * 100).toFixed(1)} %`,
      `<= ${TARGETS.accuracy * 100} %`,
      error <= TARGETS.accuracy,
    ] as const;
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'modelgate-bench-validate-'));
  try {
    const driver = await bundleValidator();
    const results: SizeResult[] = [];
    for (const size of SIZES) results.push(await measureSize(driver, dir, size));
    printTable(results);
    const inspection = results.find((r) => r.inspection)?.inspection;
    if (!inspection) throw new Error('no inspection measured');
    console.log(
      `\ninspection of the 1 GB model: ${inspection.bytesRead} of ${inspection.fileSize} bytes read in ${inspection.ms.toFixed(1)} ms, inspecting process peak RSS ${mib(inspection.vmHwmBytes)}`,
    );
    const readFraction = inspection.bytesRead / inspection.fileSize;
    const checks: Check[] = [
      ...overheadChecks(results),
      ...accuracyChecks(results),
      [
        '(d) inspection bytes read / file size, 1 GB',
        `${(readFraction * 100).toFixed(4)} %`,
        `< ${TARGETS.inspectReadFraction * 100} %`,
        readFraction < TARGETS.inspectReadFraction,
      ],
      [
        '(d) peak RSS of the inspecting process, 1 GB',
        mib(inspection.vmHwmBytes),
        `< ${TARGETS.inspectRssBytes / MIB} MiB`,
        inspection.vmHwmBytes < TARGETS.inspectRssBytes,
      ],
    ];
    console.log('');
    for (const [name, value, target, ok] of checks)
      console.log(
        `${name.padEnd(62)} ${value.padStart(10)}  target ${target.padEnd(10)} ${ok ? 'OK' : 'MISSED'}`,
      );
    if (checks.some(([, , , ok]) => !ok)) process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
