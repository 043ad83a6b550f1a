import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { MAX_MESSAGE_CHARS, truncateKeepingEnd, truncateTexts } from '../schemas/bounded-text.js';
import type { TensorInfo } from '../schemas/report.schema.js';
import type { ChildMessage, ChildRequest, FailureMessage, LoadRequest } from './child-protocol.js';
import type { LoadStage } from './classify.js';
import { countExecutionProviderNodes, judgePlacement } from './execution-provider-placement.js';
import { compareGolden, type GoldenFile, goldenFeeds, parseGoldenFile } from './golden-io.js';
import { inputHintsOf } from './input-consumers.js';
import { LoadFailure } from './load-failure.js';
import { createNativeSession, undescribableValues } from './native-session.js';
import { readGpuBytesForPid, readGpuMemoryUsed } from './nvidia-smi.js';
import { exitWithParent } from './parent-watch.js';
import { readProcStatusBytes } from './proc-status.js';
import { compareSample, readSampleSet, SAMPLE_RTOL, sampleFeeds } from './sample-io.js';
import { smokeRun } from './smoke-run.js';
import { checkConfiguredShape, checkOutputs } from './synthesize-inputs.js';
import { type DeclaredTypes, type DeclaredValue, readDeclaredTypes } from './value-types.js';

/**
 * The loader child (DESIGN.md Validation step 3): imports onnxruntime-node, creates a session for one
 * model, runs it once on synthesized inputs and reports over IPC. It runs in its own process so that a
 * crash, a hang or a memory blow-up of the runtime costs this process, never the validator.
 * The request arrives as JSON in argv[2]: nothing can race it.
 */

type Ort = typeof import('onnxruntime-node');

let stage: LoadStage = 'import';
let partial: Partial<FailureMessage> = {};

/**
 * Sends `message` with every text cut to MAX_MESSAGE_CHARS (the report cuts names further, keeping the
 * whole length the marker gives). The runtime's names are the model's: one may be hundreds of MB, and a
 * result quotes it several times (inputs, shapes, fed inputs), which as one JSON string would take seconds
 * to pass and, past V8's longest string (~512 MB), could not be sent at all. The runs above used the
 * whole names.
 */
function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(truncateTexts(message, MAX_MESSAGE_CHARS), undefined, {}, () => resolve());
  });
}

async function enter(next: LoadStage): Promise<void> {
  stage = next;
  await send({ type: 'stage', stage: next });
}

async function importRuntime(): Promise<Ort> {
  // onnxruntime-node 1.30 ships telemetry that, unless disabled, writes `$TMPDIR/mat-debug-<pid>.log` (never
  // removed) and `~/.cache/Microsoft/DeveloperTools/.onnxruntime/` on every load: files outside the registry's
  // own folders, on the registry's machine and on every node that runs `doctor --load`. It reads the variable
  // when the runtime starts, so it is set here, in the only process that loads the runtime, before the import.
  process.env.ORT_DISABLE_TELEMETRY = '1';
  const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
  // CommonJS package: depending on the loader, its exports are the namespace or its default.
  return mod.default ?? mod;
}

function tensorInfo(meta: InferenceSession.ValueMetadata): TensorInfo {
  if (!meta.isTensor) return { name: meta.name, type: 'non-tensor', shape: [] };
  return { name: meta.name, type: meta.type, shape: meta.shape.map((d) => (d === -1 ? '?' : d)) };
}

/**
 * nvidia-smi's figure for our pid; where a container's PID namespace hides our pid from it, the growth of
 * the GPUs' total use since before the load.
 */
async function ownGpuBytes(usedBefore: number | undefined): Promise<number | undefined> {
  const own = await readGpuBytesForPid(process.pid);
  if (own !== undefined) return own;
  const usedAfter = await readGpuMemoryUsed();
  return usedBefore !== undefined && usedAfter !== undefined
    ? Math.max(0, usedAfter - usedBefore)
    : undefined;
}

/** The profiler writes `<prefix>_<timestamp>.json`; one child, one session, so one such file. */
const PROFILE_PREFIX = `modelgate-ep-${process.pid}`;

function sessionOptions(request: LoadRequest): InferenceSession.SessionOptions {
  const options: InferenceSession.SessionOptions = { executionProviders: request.executionProviders };
  if (!request.detectExecutionProviders) return options;
  return { ...options, enableProfiling: true, profileFilePrefix: join(tmpdir(), PROFILE_PREFIX) };
}

/** Node counts per execution provider from the profile of the smoke run; the profile file is removed. */
function readExecutionProviderNodes(session: InferenceSession): Record<string, number> {
  session.endProfiling();
  const counts: Record<string, number> = {};
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(`${PROFILE_PREFIX}_`))) {
    const path = join(tmpdir(), name);
    try {
      for (const [p, n] of Object.entries(countExecutionProviderNodes(readFileSync(path, 'utf8'))))
        counts[p] = (counts[p] ?? 0) + n;
    } finally {
      rmSync(path, { force: true });
    }
  }
  return counts;
}

/** Configured shapes must name real inputs and agree with the model (CONFIG_INVALID otherwise). */
function checkConfiguredShapes(request: LoadRequest, inputs: TensorInfo[]): void {
  for (const [name, dims] of Object.entries(request.inputShapes)) {
    const input = inputs.find((i) => i.name === name);
    if (input && input.type !== 'non-tensor') checkConfiguredShape(input, dims);
  }
}

const NO_FETCH = 'the model has no tensor output onnxruntime-node can return';

/**
 * The model's declared input and output types (value-types.ts); where the protobuf cannot be read, what
 * the runtime says: a tensor's type, and "unknown" for the rest (their sample files are then not used).
 */
function declaredTypes(modelPath: string): DeclaredTypes | undefined {
  try {
    return readDeclaredTypes(modelPath);
  } catch {
    return undefined;
  }
}

function fromMetadata(inputs: TensorInfo[], outputs: TensorInfo[]): DeclaredTypes {
  const declared = (info: TensorInfo): DeclaredValue => ({
    name: info.name,
    type:
      info.type === 'non-tensor'
        ? { kind: 'unknown' }
        : { kind: 'tensor', elemType: info.type, shape: info.shape.map((d) => (d === '?' ? -1 : d)) },
  });
  return { inputs: inputs.map(declared), outputs: outputs.map(declared) };
}

/** Non-tensor outputs (a ZipMap's sequence of maps) cannot be returned to JS: fetch the tensors only. */
const tensorOutputs = (outputs: TensorInfo[]) =>
  outputs.filter((o) => o.type !== 'non-tensor').map((o) => o.name);

/** The golden run: the publisher's inputs, one run, outputs compared (golden-io.ts). */
async function goldenRun(
  ort: Ort,
  request: LoadRequest & { golden: { localPath: string; path: string } },
  golden: GoldenFile,
  session: InferenceSession,
  inputs: TensorInfo[],
  outputs: TensorInfo[],
) {
  const feeds = goldenFeeds(ort.Tensor, request.golden.path, golden, inputs);
  partial.fedInputs = Object.entries(feeds).map(([name, t]) => ({
    name,
    type: t.type,
    shape: [...t.dims],
    value: `from ${request.golden.path}`,
    source: 'golden' as const,
  }));
  const runStart = performance.now();
  const results = await session.run(feeds, tensorOutputs(outputs));
  return { results, inferenceMs: performance.now() - runStart };
}

/**
 * Which execution provider ran the nodes; a request whose execution providers all ran nothing fails here
 * (execution-provider-placement.ts).
 */
function placementFacts(request: LoadRequest, session: InferenceSession): string {
  if (!request.detectExecutionProviders) return request.executionProviders[0] ?? 'cpu';
  const executionProviderNodes = readExecutionProviderNodes(session);
  const placement = judgePlacement(request.executionProviders, executionProviderNodes);
  partial = {
    ...partial,
    executionProviderNodes,
    executionProvider: placement.executionProvider,
    ...(placement.fallback ? { executionProviderFallback: placement.fallback } : {}),
  };
  if (placement.failure) throw new LoadFailure(placement.failure.code, placement.failure.message);
  return placement.executionProvider;
}

async function load(request: LoadRequest): Promise<void> {
  await enter('import');
  const ort = await importRuntime();
  const runtimeVersion = ort.env.versions.node ?? ort.env.versions.common;
  partial.runtimeVersion = runtimeVersion;
  // From here on the model's own files are read (its golden file, its graph's walk, its declared types):
  // a stop from now is the model's, never the runtime's import (which the parent judges differently).
  await enter('load');
  // Read before the load: a malformed golden file fails at once, without spending a load.
  const golden: GoldenFile | undefined = request.golden
    ? parseGoldenFile(request.golden.path, readFileSync(request.golden.localPath, 'utf8'))
    : undefined;
  // How the graph consumes each input, read here rather than in the validator: the graph is untrusted
  // and may be huge, so its walk belongs to this isolated, budgeted process (and happens before the load,
  // so it adds nothing to the session's peak).
  // With a sample set too: a set the runtime cannot feed falls back to synthesized inputs.
  if (!request.golden && !request.inputHints) {
    const hints = inputHintsOf(request.modelPath);
    if (hints) request.inputHints = hints;
  }
  // The declared types decide how each sample file is read (sample-io.ts), and whether the binding can
  // describe the graph at all; read before the load too.
  const declared = declaredTypes(request.modelPath);
  // Other processes may share the GPU: the total before our load is the fallback's zero point.
  const gpuUsedBefore = request.measureGpu ? await readGpuMemoryUsed() : undefined;
  const undescribable = declared ? undescribableValues(declared) : [];
  if (undescribable.length > 0) await refuseUndescribable(request, runtimeVersion, undescribable);
  const loadStart = performance.now();
  const session = await ort.InferenceSession.create(request.modelPath, sessionOptions(request));
  const loadMs = performance.now() - loadStart;
  const inputs = session.inputMetadata.map(tensorInfo);
  const outputs = session.outputMetadata.map(tensorInfo);
  partial = { ...partial, loadMs, inputs, outputs };
  // The smoke run starts with its inputs: at served shapes they can be a large part of the peak.
  await enter('run');
  checkConfiguredShapes(request, inputs);
  let results: Record<string, Tensor> | undefined;
  const reading = request.sample && readSampleSet(request.sample, declared ?? fromMetadata(inputs, outputs));
  // A set the runtime cannot run is no fault of the model (it loads and runs wherever its inputs can be
  // given): it is left unused with a note, and the model judged as if it had none.
  const notRun = reading && (reading.unfeedable ?? (tensorOutputs(outputs).length ? undefined : NO_FETCH));
  const sampleNotes = notRun
    ? [
        `${request.sample?.dir} was not run: ${notRun}. The smoke run falls back to synthesized inputs, as without it`,
      ]
    : (reading?.skipped ?? []);
  if (sampleNotes.length) partial.notes = sampleNotes;
  const expected = notRun ? undefined : reading?.expected;
  if (reading && !notRun) {
    const sample = sampleFeeds(ort.Tensor, reading);
    partial.fedInputs = sample.fed;
    const runStart = performance.now();
    results = await session.run(sample.feeds, tensorOutputs(outputs));
    partial = { ...partial, inferenceMs: performance.now() - runStart, smokeRun: 'ran' };
  } else if (golden && request.golden) {
    const ran = await goldenRun(
      ort,
      { ...request, golden: request.golden },
      golden,
      session,
      inputs,
      outputs,
    );
    results = ran.results;
    partial = { ...partial, inferenceMs: ran.inferenceMs, smokeRun: 'ran' };
  } else {
    const outcome = await smokeRun(
      {
        ort,
        session,
        request,
        inputs,
        outputs,
        loadStart,
        loadMs,
        peakBytes: () => readProcStatusBytes('self', 'VmHWM'),
      },
      (facts) => Object.assign(partial, facts),
    );
    const { results: ran, ...facts } = outcome;
    results = ran;
    const notes = [...sampleNotes, ...(facts.notes ?? [])];
    partial = { ...partial, ...facts, ...(notes.length ? { notes } : {}) };
  }
  const inferenceMs = partial.inferenceMs ?? 0;
  if (partial.fedInputs)
    partial.inputShapes = Object.fromEntries(partial.fedInputs.map((f) => [f.name, f.shape]));
  const shapes = partial.inputShapes ?? {};
  const executionProvider = placementFacts(request, session);
  if (golden && request.golden && results) {
    const compared = compareGolden(request.golden.path, golden, results);
    partial.golden = { file: request.golden.path, tolerance: golden.tolerance, outputs: compared };
    // Expected outputs decide; without them, NaN on the publisher's own inputs is the model's fault.
    if (Object.keys(golden.outputs).length === 0) checkOutputs(results);
  }
  if (request.sample && expected && results) {
    const compared = compareSample(request.sample, expected, results);
    partial.golden = { file: request.sample.dir, tolerance: SAMPLE_RTOL, outputs: compared };
    if (expected.length === 0) checkOutputs(results);
  }
  await send({
    ...partial,
    type: 'result',
    runtimeVersion,
    loadMs,
    inferenceMs,
    inputs,
    outputs,
    inputShapes: shapes,
    executionProvider,
    vmHwmBytes: readProcStatusBytes('self', 'VmHWM'),
    gpuBytes: request.measureGpu ? await ownGpuBytes(gpuUsedBefore) : undefined,
  });
}

/**
 * A model whose graph inputs or outputs onnxruntime-node cannot describe (native-session.ts): its
 * `InferenceSession.create` fails on every node that serves through it, so the version fails
 * UNSUPPORTED_MODEL, with the true cause. The native binding says which: where the runtime itself refuses
 * the graph (an operator without a kernel for that type), its own words; where it loads it, that only the
 * Node binding stands in the way, and the Cast that clears it.
 */
async function refuseUndescribable(
  request: LoadRequest,
  runtimeVersion: string,
  values: { name: string; elemType: string }[],
): Promise<never> {
  // No profiling options: no smoke run follows, so no profile would be read or removed.
  const session = createNativeSession(request.modelPath, { executionProviders: request.executionProviders });
  partial = { ...partial, inputs: session.inputs, outputs: session.outputs };
  session.dispose();
  const named = values
    .slice(0, 4)
    .map((v) => `"${v.name}" (${v.elemType})`)
    .join(', ');
  throw new LoadFailure(
    'UNSUPPORTED_MODEL',
    `onnxruntime ${runtimeVersion} loads this graph, but onnxruntime-node cannot create a session for it: ` +
      `its inputs or outputs include ${named}, element types the Node binding cannot describe or feed ` +
      '(InferenceSession.create fails with "Unsupported data type"), so a node serving it through ' +
      'onnxruntime-node fails the same way. Give it float16 or float32 inputs and outputs with a Cast at each',
  );
}

async function baseline(): Promise<void> {
  const ort = await importRuntime();
  await send({
    type: 'baseline',
    runtimeVersion: ort.env.versions.node ?? ort.env.versions.common,
    vmHwmBytes: readProcStatusBytes('self', 'VmHWM'),
  });
}

async function main(): Promise<void> {
  // Orphaned (the validator died): nobody will read our result, so do not keep the machine busy.
  process.on('disconnect', () => process.exit(1));
  exitWithParent(); // also while the runtime blocks the main thread
  const request = JSON.parse(process.argv[2] ?? '{}') as ChildRequest;
  try {
    if (request.kind === 'baseline') await baseline();
    else await load(request);
  } catch (error) {
    const failure = error instanceof LoadFailure ? error : undefined;
    await send({
      ...partial,
      type: 'failure',
      stage,
      // The parent classifies the failure by the runtime's words, which come last: keep them whole.
      message: truncateKeepingEnd(error instanceof Error ? error.message : String(error), MAX_MESSAGE_CHARS),
      ...(failure?.code ? { code: failure.code } : {}),
      vmHwmBytes: readProcStatusBytes('self', 'VmHWM'),
    });
  }
  // Exit explicitly: the runtime's thread pool would otherwise keep the child alive.
  process.exit(0);
}

await main();
