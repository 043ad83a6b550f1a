import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import { type FileReport, type LoadError, ValidationReport } from '../schemas/report.schema.js';
import type { InputShapes, InputValues, ManifestFile } from '../schemas/version.schema.js';
import { runtimeBaseline } from './baseline.js';
import { checkCompatibility, limitsFor } from './compat.js';
import { verifyIntegrity } from './file-integrity.js';
import { goldenPathFor } from './golden-io.js';
import { inputHintsOf } from './input-consumers.js';
import { checkInputNames } from './input-names.js';
import { type IsolatedLoadResult, isolatedLoad } from './isolated-load.js';
import { LoadFailure } from './load-failure.js';
import { inspectOnnx, type OnnxInspection } from './onnx-inspect.js';
import { findSampleSet, type SampleSet } from './sample-io.js';

/**
 * The validation engine (DESIGN.md "Validation"): for every file of a version, integrity first, then for
 * ONNX files inspection, a compatibility pre-check, and an isolated load with a smoke run. The worker
 * pool (local) and the ECS task call this same function.
 */

export interface ValidationInput {
  /** Laid out under `dir` by manifest path, so external-data references resolve as on a node. */
  files: Array<ManifestFile & { localPath: string }>;
  dir: string;
  /** Input name → dims, applied to every ONNX file having that input. */
  inputShapes: InputShapes;
  /** Input name → fill value (`--input-value`), applied to every ONNX file having that input. */
  inputValues?: InputValues;
  /** Default true: probe other inputs when the first smoke run fails (false: the former single run). */
  probe?: boolean;
  memoryBudgetBytes: number;
  /** Per file: session creation plus the smoke run. */
  timeoutMs: number;
  /** Default ['cpu']. */
  executionProviders?: string[];
  worker: string;
  attempt: number;
}

const RUNTIME_NAME = 'onnxruntime-node';

/** The installed runtime's version, read from its package.json: the parent never loads the runtime itself. */
export function installedRuntimeVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

interface FileOutcome {
  report: FileReport;
  runtimeVersion?: string;
}

/** A file's report before any check has passed (the fields every outcome shares). */
export function baseReport(file: ManifestFile): FileReport {
  return {
    path: file.path,
    sha256: file.sha256,
    size: file.size,
    format: file.format,
    check: file.format === 'onnx' ? 'loaded' : 'integrity-only',
    ok: false,
    inputs: [],
    outputs: [],
  };
}

function failed(report: FileReport, error: unknown): FileReport {
  const failure =
    error instanceof LoadFailure
      ? error
      : new LoadFailure(
          'INFERENCE_FAILED',
          `validator error: ${error instanceof Error ? error.message : String(error)}`,
        );
  return { ...report, ok: false, error: { code: failure.code, message: failure.message, file: report.path } };
}

/**
 * External data must travel with the model: each reference must name a file of the same version (the
 * location is relative to the model's folder) and lie within it.
 */
export function checkExternalData(
  modelPath: string,
  inspection: Pick<OnnxInspection, 'externalData'>,
  files: readonly ManifestFile[],
): LoadFailure | undefined {
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const ref of inspection.externalData) {
    const resolved = posix.normalize(posix.join(posix.dirname(modelPath), ref.location));
    const target = byPath.get(resolved);
    if (!ref.location || resolved.startsWith('..') || posix.isAbsolute(ref.location) || !target) {
      return new LoadFailure(
        'FILE_MISSING',
        `${modelPath}: tensor "${ref.tensor}" keeps its data in "${ref.location}", which is not a file of this version`,
        { tensor: ref.tensor, location: ref.location },
      );
    }
    const end = (ref.offset ?? 0) + (ref.length ?? 0);
    if (end > target.size) {
      return new LoadFailure(
        'MODEL_CORRUPTED',
        `${modelPath}: tensor "${ref.tensor}" reads bytes up to ${end} of ${resolved}, which has ${target.size}`,
        { tensor: ref.tensor, location: ref.location },
      );
    }
  }
  return undefined;
}

function loadedReport(
  report: FileReport,
  result: IsolatedLoadResult,
  inspection: OnnxInspection,
): FileReport {
  const facts: Partial<FileReport> = {
    loadMs: result.loadMs,
    inferenceMs: result.inferenceMs,
    peakRssBytes: result.peakRssBytes,
    gpuBytes: result.gpuBytes,
    executionProvider: result.executionProvider,
    executionProviderNodes: result.providerNodes,
    executionProviderFallback: result.executionProviderFallback,
    golden: result.golden,
    inputs: result.inputs ?? inspection.inputs,
    outputs: result.outputs ?? inspection.outputs,
    inputShapes: result.inputShapes,
    fedInputs: result.fedInputs,
    probes: result.probes,
    notes: result.notes,
    smokeRun: result.smokeRun,
  };
  const merged = { ...report, ...dropUndefined(facts) } as FileReport;
  if (result.ok) return { ...merged, ok: true };
  return { ...merged, ok: false, error: { code: result.code, message: result.message, file: report.path } };
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The model's golden file (golden-io.ts: `NAME.golden.json` beside `NAME.onnx`), integrity-checked before
 * the child reads it: expected outputs that are not the published ones must not judge the model. It is
 * also validated as a file of its own, so a bad one fails the version either way.
 */
async function goldenCompanion(
  model: ManifestFile,
  files: ValidationInput['files'],
): Promise<{ localPath: string; path: string } | undefined> {
  const goldenPath = goldenPathFor(model.path);
  const golden = files.find((f) => f.path === goldenPath);
  if (!golden) return undefined;
  await verifyIntegrity(golden, golden.localPath);
  return { localPath: golden.localPath, path: golden.path };
}

/**
 * Sample inputs in the ONNX test-data layout beside the model (sample-io.ts), integrity-checked before
 * the child reads them, for the same reason as a golden file.
 */
async function sampleCompanion(
  model: ManifestFile,
  files: ValidationInput['files'],
): Promise<SampleSet | undefined> {
  const set = findSampleSet(model.path, files);
  if (!set) return undefined;
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const f of [...set.inputs, ...set.outputs]) {
    const entry = byPath.get(f.path);
    if (entry) await verifyIntegrity(entry, entry.localPath);
  }
  return set;
}

/** Inspection, the pre-checks and the isolated load of one ONNX file (its integrity is checked alongside). */
async function inspectAndLoad(
  file: ManifestFile & { localPath: string },
  input: ValidationInput,
  report: FileReport,
  runtimeVersion: string,
  signal: AbortSignal,
): Promise<FileOutcome> {
  const inspection = inspectOnnx(file.localPath);
  const withInspection: FileReport = {
    ...report,
    inspection: { ...inspection },
    inputs: inspection.inputs,
    outputs: inspection.outputs,
  };
  const limits = limitsFor(runtimeVersion);
  const refusal =
    checkExternalData(file.path, inspection, input.files) ??
    (limits && checkCompatibility(inspection, limits));
  if (refusal) return { report: failed(withInspection, refusal) };
  const golden = await goldenCompanion(file, input.files);
  const sample = golden ? undefined : await sampleCompanion(file, input.files);
  const result = await isolatedLoad({
    modelPath: file.localPath,
    memoryBudgetBytes: input.memoryBudgetBytes,
    timeoutMs: input.timeoutMs,
    executionProviders: input.executionProviders ?? ['cpu'],
    inputShapes: input.inputShapes,
    inputHints: inputHintsOf(file.localPath),
    ...(input.inputValues ? { inputValues: input.inputValues } : {}),
    ...(input.probe === false ? { probe: false } : {}),
    signal,
    ...(golden ? { golden } : {}),
    ...(sample ? { sample } : {}),
  });
  return {
    report: loadedReport(withInspection, result, inspection),
    ...(result.runtimeVersion ? { runtimeVersion: result.runtimeVersion } : {}),
  };
}

/**
 * An ONNX file is hashed and loaded at the same time: both read the whole file, and the load does not
 * need the digest to start. On a model of hundreds of MB this halves the validation time (BENCHMARKS.md,
 * "Validation"). The integrity verdict still comes first: a file whose bytes are not the published ones
 * fails CHECKSUM_MISMATCH whatever its load said, and an early integrity failure (unreadable, wrong
 * size) kills the load at once. The load runs in its own process, so unverified bytes cannot harm us.
 */
async function validateOnnx(
  file: ManifestFile & { localPath: string },
  input: ValidationInput,
  report: FileReport,
  runtimeVersion: string,
): Promise<FileOutcome> {
  const abort = new AbortController();
  const integrity = verifyIntegrity(file, file.localPath).catch((error: unknown) => {
    abort.abort();
    throw error;
  });
  const load = inspectAndLoad(file, input, report, runtimeVersion, abort.signal);
  const [checked, loaded] = await Promise.allSettled([integrity, load]);
  if (checked.status === 'rejected') return { report: failed(report, checked.reason) };
  if (loaded.status === 'rejected') return { report: failed(report, loaded.reason) };
  return loaded.value;
}

async function validateFile(
  file: ManifestFile & { localPath: string },
  input: ValidationInput,
  runtimeVersion: string,
): Promise<FileOutcome> {
  const report = baseReport(file);
  try {
    if (file.format === 'onnx') return await validateOnnx(file, input, report, runtimeVersion);
    await verifyIntegrity(file, file.localPath);
    return { report: { ...report, ok: true } };
  } catch (error) {
    return { report: failed(report, error) };
  }
}

function totals(files: FileReport[]): ValidationReport['totals'] {
  const gpu = files.flatMap((f) => (f.gpuBytes === undefined ? [] : [f.gpuBytes]));
  return {
    loadMs: files.reduce((a, f) => a + (f.loadMs ?? 0), 0),
    inferenceMs: files.reduce((a, f) => a + (f.inferenceMs ?? 0), 0),
    peakRssBytes: files.reduce((a, f) => Math.max(a, f.peakRssBytes ?? 0), 0),
    ...(gpu.length > 0 ? { gpuBytes: Math.max(...gpu) } : {}),
  };
}

/**
 * The runtime's own memory, so a reader can tell the model's share; absent if it cannot be measured.
 * Measured once per process (baseline.ts caches it) and started before the first load rather than after
 * the last, so that even the first validation of a process does not wait for it.
 */
function baselineBytes(): Promise<number | undefined> {
  return runtimeBaseline().then(
    (b) => b.vmHwmBytes,
    () => undefined,
  );
}

/**
 * The publisher's input names checked against the version's ONNX files before any load (input-names.ts);
 * skipped when a file cannot be inspected, since that file fails on its own cause.
 */
function inputNamesProblem(input: ValidationInput): LoadFailure | undefined {
  const given = { shapes: input.inputShapes, values: input.inputValues ?? {} };
  if (Object.keys(given.shapes).length + Object.keys(given.values).length === 0) return undefined;
  const models = [];
  for (const file of input.files.filter((f) => f.format === 'onnx')) {
    try {
      models.push({ path: file.path, inputs: inspectOnnx(file.localPath).inputs });
    } catch {
      return undefined;
    }
  }
  return models.length > 0 ? checkInputNames(models, given) : undefined;
}

/** Validates every file of a version, one at a time (each load gets the whole memory budget). */
export async function validateFiles(input: ValidationInput): Promise<ValidationReport> {
  const started = new Date();
  const startedMs = performance.now();
  let runtimeVersion = installedRuntimeVersion();
  const baseline = input.files.some((f) => f.format === 'onnx') ? baselineBytes() : undefined;
  const files: FileReport[] = [];
  const namesProblem = inputNamesProblem(input);
  for (const file of input.files) {
    const outcome =
      namesProblem && file.format === 'onnx'
        ? { report: failed(baseReport(file), namesProblem) }
        : await validateFile(file, input, runtimeVersion);
    if (outcome.runtimeVersion) runtimeVersion = outcome.runtimeVersion;
    files.push(outcome.report);
  }
  const baselineRssBytes = await baseline;
  if (baselineRssBytes !== undefined)
    for (const f of files) if (f.peakRssBytes !== undefined) f.baselineRssBytes = baselineRssBytes;
  const firstError: LoadError | undefined = files.find((f) => f.error)?.error;
  const requested = input.executionProviders ?? ['cpu'];
  return ValidationReport.parse({
    outcome: files.every((f) => f.ok) ? 'passed' : 'failed',
    ...(firstError ? { error: firstError } : {}),
    runtime: { name: RUNTIME_NAME, version: runtimeVersion },
    executionProvider: files.find((f) => f.executionProvider)?.executionProvider ?? requested[0] ?? 'cpu',
    worker: input.worker,
    attempt: input.attempt,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: performance.now() - startedMs,
    memoryBudgetBytes: input.memoryBudgetBytes,
    files,
    totals: totals(files),
    nodeClasses: [],
  });
}
