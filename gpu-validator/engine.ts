import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import { ranOnRuntime } from '../core/failure-explanations.js';
import type { ProvenDigests } from '../core/ports.js';
import { type FileReport, type LoadError, ValidationReport } from '../schemas/report.schema.js';
import type { InputShapes, InputValues, ManifestFile } from '../schemas/version.schema.js';
import { runtimeBaseline } from './baseline.js';
import { checkCompatibility, checkElementTypes, limitsFor } from './compat.js';
import { provenFor, verifyIntegrity } from './file-integrity.js';
import { type FileHandling, isModelPath, planFile } from './file-kind.js';
import { readHead, type SniffedFormat, sniffFormat } from './format-sniff.js';
import { goldenPathFor } from './golden-io.js';
import { checkInputNames } from './input-names.js';
import { inspectOffThread, type OffThreadOptions } from './inspect-off-thread.js';
import { type IsolatedLoadResult, isolatedLoad } from './isolated-load.js';
import { LoadFailure } from './load-failure.js';
import type { OnnxInspection } from './onnx-inspect.js';
import { findSampleSet, type SampleSet } from './sample-io.js';
import { checkPytorchZip } from './zip-inspect.js';

/**
 * The validation engine (DESIGN.md "Validation"): for every file of a version, integrity first, then for
 * ONNX files inspection, a compatibility pre-check, and an isolated load with a smoke run. The worker
 * pool (local) and the Batch job call this same function.
 */

export interface ValidationInput {
  /** Laid out under `dir` by manifest path, so external-data references resolve as on a node. */
  /** `proven`: digests the blob store proved for these bytes (see `verifyIntegrity`). */
  files: Array<ManifestFile & { localPath: string; proven?: ProvenDigests }>;
  dir: string;
  /** Input name → dims, applied to every ONNX file having that input. */
  inputShapes: InputShapes;
  /** Input name → fill value (`--input-value`), applied to every ONNX file having that input. */
  inputValues?: InputValues;
  /** Default true: probe other inputs when the first smoke run fails (false: the former single run). */
  probe?: boolean;
  memoryBudgetBytes: number;
  /**
   * What the budget is: `configured` (default), the registry's (publish or serve --memory-budget), where a
   * budget the runtime alone exceeds is CONFIG_INVALID; or `node-memory`, a node's free memory (doctor,
   * sync), where it is the node that lacks memory: INSUFFICIENT_MEMORY.
   */
  budgetSource?: 'configured' | 'node-memory';
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
  /** Whether another path with the same bytes may reuse this report (it depends on nothing but the bytes). */
  reusable?: boolean;
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
  const detail = typeof failure.details?.detail === 'string' ? { detail: failure.details.detail } : {};
  return {
    ...report,
    ok: false,
    error: { code: failure.code, message: failure.message, file: report.path, ...detail },
  };
}

/**
 * A damaged protobuf in plain words (what it means, what to do), the reader's byte-level account kept as
 * the error's `detail`.
 */
function plainCorruption(path: string, error: unknown): unknown {
  if (!(error instanceof LoadFailure) || error.details?.protobuf !== true) return error;
  return new LoadFailure(
    'MODEL_CORRUPTED',
    `${path} is not a readable ONNX model: its contents break off or are damaged (a truncated download or upload, a corrupted copy, or a file that is not ONNX at all)`,
    { detail: error.message },
  );
}

/**
 * External data must travel with the model: each reference must lie in the model's folder or below it
 * (onnxruntime refuses any other path: "External data path escapes model directory") and name a file of
 * the same version whose size covers the bytes it reads.
 */
export function checkExternalData(
  modelPath: string,
  inspection: Pick<OnnxInspection, 'externalData'>,
  files: readonly ManifestFile[],
): LoadFailure | undefined {
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const ref of inspection.externalData) {
    const details = { tensor: ref.tensor, location: ref.location };
    const inside = posix.normalize(ref.location);
    if (!ref.location || posix.isAbsolute(ref.location) || inside === '..' || inside.startsWith('../')) {
      return new LoadFailure(
        'MODEL_INVALID',
        `${modelPath}: tensor "${ref.tensor}" keeps its data in "${ref.location}", outside the model's folder: external data must lie in the model's folder or below it (onnxruntime's rule); move the file there and re-export the model with that location`,
        details,
      );
    }
    const resolved = posix.join(posix.dirname(modelPath), inside);
    const target = byPath.get(resolved);
    if (!target) {
      return new LoadFailure(
        'FILE_MISSING',
        `${modelPath}: tensor "${ref.tensor}" keeps its data in "${ref.location}", which is not a file of this version`,
        details,
      );
    }
    const end = (ref.offset ?? 0) + (ref.length ?? 0);
    if (end > target.size) {
      return new LoadFailure(
        'MODEL_CORRUPTED',
        `${modelPath}: tensor "${ref.tensor}" reads bytes up to ${end} of ${resolved}, which has ${target.size}`,
        details,
      );
    }
  }
  return undefined;
}

function loadedReport(
  report: FileReport,
  result: IsolatedLoadResult,
  inspection: Pick<OnnxInspection, 'inputs' | 'outputs'>,
): FileReport {
  const facts: Partial<FileReport> = {
    loadMs: result.loadMs,
    inferenceMs: result.inferenceMs,
    peakRssBytes: result.peakRssBytes,
    gpuBytes: result.gpuBytes,
    executionProvider: result.executionProvider,
    executionProviderNodes: result.executionProviderNodes,
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
  const inspection = await inspectOffThread('onnx', file.localPath, inspectLimits(input)).catch(
    (error: unknown) => {
      throw plainCorruption(file.path, error);
    },
  );
  const withInspection: FileReport = {
    ...report,
    inspection: { ...inspection },
    inputs: inspection.inputs,
    outputs: inspection.outputs,
  };
  const limits = limitsFor(runtimeVersion);
  const refusal =
    checkExternalData(file.path, inspection, input.files) ??
    checkElementTypes(inspection) ??
    (limits && checkCompatibility(inspection, limits));
  if (refusal) return { report: failed(withInspection, refusal) };
  const golden = await goldenCompanion(file, input.files);
  const sample = golden ? undefined : await sampleCompanion(file, input.files);
  const result = await loadIsolated(file, input, signal, golden, sample);
  return {
    report: loadedReport(withInspection, result, inspection),
    ...(result.runtimeVersion ? { runtimeVersion: result.runtimeVersion } : {}),
    reusable: inspection.externalData.length === 0 && !golden && !sample,
  };
}

async function loadIsolated(
  file: ManifestFile & { localPath: string },
  input: ValidationInput,
  signal: AbortSignal,
  golden?: { localPath: string; path: string },
  sample?: SampleSet,
): Promise<IsolatedLoadResult> {
  const result = await isolatedLoad({
    modelPath: file.localPath,
    memoryBudgetBytes: input.memoryBudgetBytes,
    timeoutMs: input.timeoutMs,
    executionProviders: input.executionProviders ?? ['cpu'],
    inputShapes: input.inputShapes,
    ...(input.inputValues ? { inputValues: input.inputValues } : {}),
    ...(input.probe === false ? { probe: false } : {}),
    signal,
    ...(golden ? { golden } : {}),
    ...(sample ? { sample } : {}),
  });
  if (input.budgetSource === 'node-memory') return result;
  return budgetBelowRuntime(result, input.memoryBudgetBytes) ?? result;
}

/**
 * The registry judges a version at a configured budget (publish or serve --memory-budget): a load killed
 * while the runtime itself was still being imported had read no byte of the model, so the budget is what
 * is wrong, not the model's size.
 */
function budgetBelowRuntime(result: IsolatedLoadResult, budgetBytes: number): IsolatedLoadResult | undefined {
  if (result.ok || result.code !== 'INSUFFICIENT_MEMORY' || result.stage !== 'import') return undefined;
  return {
    ...result,
    code: 'CONFIG_INVALID',
    message: `the memory budget of ${(budgetBytes / 2 ** 20).toFixed(1)} MiB is below what the runtime takes before it reads any model (${result.message}): raise the memory budget (publish --memory-budget, or serve --memory-budget)`,
  };
}

/**
 * An ORT-format model (`.ort`, a FlatBuffer) has no protobuf to inspect: onnxruntime loads it like
 * `.onnx` and judges its bytes itself ("ORT model verification failed" is MODEL_CORRUPTED).
 */
async function loadOrt(
  file: ManifestFile & { localPath: string },
  input: ValidationInput,
  report: FileReport,
  signal: AbortSignal,
): Promise<FileOutcome> {
  if (report.detectedFormat !== 'ort' && (await isOnnxProtobuf(file, input))) {
    throw new LoadFailure(
      'MODEL_CORRUPTED',
      `${file.path} is an ONNX protobuf, not an ORT-format model (no ORTM identifier): name it .onnx`,
      { detectedFormat: 'onnx' },
    );
  }
  const result = await loadIsolated(file, input, signal);
  return {
    report: loadedReport(report, result, { inputs: [], outputs: [] }),
    ...(result.runtimeVersion ? { runtimeVersion: result.runtimeVersion } : {}),
    reusable: true,
  };
}

/** Whether a file without the ORT identifier parses as an ONNX model (then its name is what is wrong). */
async function isOnnxProtobuf(file: ManifestFile & { localPath: string }, input: ValidationInput) {
  try {
    await inspectOffThread('onnx', file.localPath, inspectLimits(input));
    return true;
  } catch {
    return false;
  }
}

/**
 * The inspector's deadline: the per-file time limit, and at least a minute, since a 10-million-node graph
 * takes about 4 s of CPU to walk (bench/inspect-event-loop.ts) and a busy machine stretches that. It only
 * has to stop a parser that never ends.
 */
function inspectLimits(input: ValidationInput): OffThreadOptions {
  return { deadlineMs: Math.max(60_000, input.timeoutMs) };
}

/**
 * An ONNX file is hashed and loaded at the same time: both read the whole file, and the load does not
 * need the digest to start. On a model of hundreds of MB this halves the validation time (BENCHMARKS.md,
 * "Validation"). The integrity verdict still comes first: a file whose bytes are not the published ones
 * fails CHECKSUM_MISMATCH whatever its load said, and an early integrity failure (unreadable, wrong
 * size) kills the load at once. The load runs in its own process, so unverified bytes cannot harm us.
 */
async function validateLoadable(
  file: ManifestFile & { localPath: string },
  input: ValidationInput,
  report: FileReport,
  runtimeVersion: string,
  handling: 'load-onnx' | 'load-ort',
): Promise<FileOutcome> {
  const abort = new AbortController();
  const integrity = verifyIntegrity(file, file.localPath).catch((error: unknown) => {
    abort.abort();
    throw error;
  });
  const load =
    handling === 'load-ort'
      ? loadOrt(file, input, report, abort.signal)
      : inspectAndLoad(file, input, report, runtimeVersion, abort.signal);
  const [checked, loaded] = await Promise.allSettled([integrity, load]);
  if (checked.status === 'rejected') return { report: failed(report, checked.reason) };
  if (loaded.status === 'rejected')
    return { report: failed(withDetected(report, loaded.reason), loaded.reason) };
  return loaded.value;
}

/** The first bytes and the size of a file, read to recognise it; a file that cannot be opened fails here. */
function sniff(file: ManifestFile & { localPath: string }): { format: SniffedFormat; size: number } {
  try {
    const { head, size } = readHead(file.localPath);
    return { format: sniffFormat(head, size), size };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'EACCES' || e.code === 'EPERM')
      throw new LoadFailure('PERMISSION_DENIED', `${file.path} is not readable: ${e.code}`);
    throw new LoadFailure('FILE_MISSING', `${file.path} cannot be opened: ${e.message}`);
  }
}

const CHECK_OF: Record<FileHandling, FileReport['check']> = {
  'load-onnx': 'loaded',
  'load-ort': 'loaded',
  safetensors: 'inspected',
  gguf: 'inspected',
  'pytorch-zip': 'inspected',
  integrity: 'integrity-only',
};

async function validateFile(
  file: ManifestFile & { localPath: string },
  input: ValidationInput,
  runtimeVersion: string,
): Promise<FileOutcome> {
  let report = baseReport(file);
  try {
    const plan = planFile(file.path, await sniffOrIntegrity(file));
    report = {
      ...report,
      check: CHECK_OF[plan.handling],
      ...(plan.detectedFormat ? { detectedFormat: plan.detectedFormat } : {}),
    };
    if (plan.handling === 'load-onnx' || plan.handling === 'load-ort')
      return await validateLoadable(file, input, report, runtimeVersion, plan.handling);
    // Anything else was hashed before it was sniffed (sniffOrIntegrity).
    if (plan.handling === 'integrity') return { report: { ...report, ok: true }, reusable: true };
    return { report: await inspectModelFormat(file, plan.handling, input, report), reusable: true };
  } catch (error) {
    return { report: failed(withDetected(report, error), error) };
  }
}

/**
 * A file's signature. A file the runtime will load is sniffed at once (its hash runs alongside the load);
 * any other file is hashed first, so that a signature-based verdict is only ever given on the published
 * bytes (a mismatch is CHECKSUM_MISMATCH, whatever the bytes look like). A loadable file whose size is not
 * the published one is hashed first too: a short download is FILE_MISSING, not "an empty model".
 */
async function sniffOrIntegrity(file: ManifestFile & { localPath: string }): Promise<SniffedFormat> {
  const ext = posix.extname(file.path).toLowerCase();
  if (ext !== '.onnx' && ext !== '.ort') {
    await verifyIntegrity(file, file.localPath);
    return sniff(file).format;
  }
  const { format, size } = sniff(file);
  if (size !== file.size) await verifyIntegrity(file, file.localPath);
  return format;
}

function withDetected(report: FileReport, error: unknown): FileReport {
  const detected = error instanceof LoadFailure ? error.details?.detectedFormat : undefined;
  return typeof detected === 'string' ? { ...report, detectedFormat: detected } : report;
}

/** safetensors, GGUF and PyTorch zip checkpoints: their structure, checked off the event loop. */
async function inspectModelFormat(
  file: ManifestFile & { localPath: string },
  handling: 'safetensors' | 'gguf' | 'pytorch-zip',
  input: ValidationInput,
  report: FileReport,
): Promise<FileReport> {
  const limits = inspectLimits(input);
  if (handling === 'pytorch-zip') {
    const zip = await inspectOffThread('zip', file.localPath, limits);
    checkPytorchZip(zip);
    return { ...report, ok: true, inspection: { ...zip, staticMemoryEstimateBytes: zip.uncompressedBytes } };
  }
  const inspection =
    handling === 'safetensors'
      ? await inspectOffThread('safetensors', file.localPath, limits)
      : await inspectOffThread('gguf', file.localPath, limits);
  return { ...report, ok: true, inspection: { ...inspection } };
}

/**
 * Two manifest paths with the same bytes are validated once: the second reuses the first's report (its
 * integrity is still checked, its path is its own, and a note says whose facts it carries). Models that
 * read external data or have a golden file are not reused, since those depend on the folder they sit in.
 */
async function reuseOutcome(
  file: ManifestFile & { localPath: string },
  first: FileReport,
): Promise<FileOutcome> {
  const report: FileReport = {
    ...first,
    path: file.path,
    notes: [...(first.notes ?? []), `same bytes as ${first.path}: checked once, its facts are reused`],
    ...(first.error ? { error: { ...first.error, file: file.path } } : {}),
  };
  try {
    await verifyIntegrity(file, file.localPath);
    return { report };
  } catch (error) {
    return { report: failed(baseReport(file), error) };
  }
}

/** True when a runtime ran on at least one file (`ranOnRuntime`): the report's `loadTested`. */
export function anyLoaded(files: readonly FileReport[]): boolean {
  return files.some(ranOnRuntime);
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
async function inputNamesProblem(input: ValidationInput): Promise<LoadFailure | undefined> {
  const given = { shapes: input.inputShapes, values: input.inputValues ?? {} };
  if (Object.keys(given.shapes).length + Object.keys(given.values).length === 0) return undefined;
  const models = [];
  for (const file of input.files.filter((f) => f.format === 'onnx')) {
    try {
      // Untrusted bytes: parsed off the event loop, under the same deadline and heap cap as inspection.
      const inspection = await inspectOffThread('onnx', file.localPath, inspectLimits(input));
      models.push({ path: file.path, inputs: inspection.inputs });
    } catch {
      return undefined;
    }
  }
  return models.length > 0 ? checkInputNames(models, given) : undefined;
}

/**
 * Whether a model has files that travel with it and decide its run (a golden file, a test-data folder):
 * then its report is its own, never one reused from another path with the same bytes.
 */
function hasCompanions(file: ManifestFile, files: ValidationInput['files']): boolean {
  return (
    files.some((f) => f.path === goldenPathFor(file.path)) || findSampleSet(file.path, files) !== undefined
  );
}

/**
 * The runtime names files by the path it opened, a scratch folder of this worker: the publisher knows
 * them by their paths in the version, and the worker's layout is nobody else's business.
 */
function withoutScratchPaths(report: FileReport, scratchDir: string): void {
  const prefix = scratchDir.endsWith('/') ? scratchDir : `${scratchDir}/`;
  const clean = (text: string) => text.split(prefix).join('');
  if (report.error) report.error = { ...report.error, message: clean(report.error.message) };
  if (report.probes) report.probes = report.probes.map((p) => ({ ...p, error: clean(p.error) }));
  if (report.notes) report.notes = report.notes.map(clean);
}

/**
 * Validates every file of a version, one at a time (each load gets the whole memory budget). Each file's
 * report records the md5 of the bytes that matched its sha256 (a publisher may leave the md5 to the
 * registry: core/recorded-digests.ts).
 */
export async function validateFiles(given: ValidationInput): Promise<ValidationReport> {
  // Copies: the integrity checks record what they proved on the files (`proven`), not on the caller's.
  const input = { ...given, files: given.files.map((f) => ({ ...f })) };
  const started = new Date();
  const startedMs = performance.now();
  let runtimeVersion = installedRuntimeVersion();
  const baseline = input.files.some((f) => /\.(onnx|ort)$/i.test(f.path)) ? baselineBytes() : undefined;
  const files: FileReport[] = [];
  const namesProblem = await inputNamesProblem(input);
  const bySha = new Map<string, FileReport>();
  for (const file of input.files) {
    const first = hasCompanions(file, input.files) ? undefined : bySha.get(file.sha256);
    const outcome =
      namesProblem && file.format === 'onnx'
        ? { report: failed(baseReport(file), namesProblem) }
        : first
          ? await reuseOutcome(file, first)
          : await validateFile(file, input, runtimeVersion);
    if (outcome.runtimeVersion) runtimeVersion = outcome.runtimeVersion;
    if (!first && outcome.reusable && isModelPath(file.path)) bySha.set(file.sha256, outcome.report);
    const proven = provenFor(file);
    files.push(proven ? { ...outcome.report, md5: proven.md5 } : outcome.report);
  }
  const baselineRssBytes = await baseline;
  if (baselineRssBytes !== undefined)
    for (const f of files) if (f.peakRssBytes !== undefined) f.baselineRssBytes = baselineRssBytes;
  for (const f of files) withoutScratchPaths(f, input.dir);
  const firstError: LoadError | undefined = files.find((f) => f.error)?.error;
  const requested = input.executionProviders ?? ['cpu'];
  return ValidationReport.parse({
    outcome: files.every((f) => f.ok) ? 'passed' : 'failed',
    loadTested: anyLoaded(files),
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
