import { z } from 'zod';
import { MAX_LOCATION_CHARS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, truncateText } from './bounded-text.js';
import { LoadErrorCode } from './error-codes.schema.js';
import { FilePath, Md5Hex, Sha256Hex } from './names.schema.js';

/**
 * A string of at most `maxChars` characters. A longer one is cut, with a marker saying how long it was
 * (bounded-text.ts), rather than refused: such texts come from a model or the runtime, a valid model may
 * have them, and a report stored before these bounds must still parse. The `max` documents the bound
 * (OpenAPI's maxLength) and holds whatever the cut does.
 */
export const boundedText = (maxChars: number) =>
  z
    .string()
    .overwrite((text) => truncateText(text, maxChars))
    .max(maxChars);

/** A name from a model or the runtime (a tensor, operator, domain, dimension): at most 256 characters. */
const Name = boundedText(MAX_NAME_CHARS);
/** A message from the runtime or the validator (an error, a note): at most 4096 characters. */
const Message = boundedText(MAX_MESSAGE_CHARS);

/** A tensor as the runtime declares it: symbolic dimensions are kept by name (names of ≤ 256 characters). */
export const TensorInfo = z.object({
  name: Name,
  type: Name,
  shape: z.array(z.union([z.number().int(), Name])),
});
export type TensorInfo = z.infer<typeof TensorInfo>;

/**
 * Why a load or a validation failed: a load-failure code, the message (at most 4096 characters: the
 * runtime's text may quote a model's names), and the file at fault where one is.
 */
export const LoadError = z.object({
  code: LoadErrorCode,
  message: Message,
  file: FilePath.optional(),
  /** Technical detail behind the plain message (byte offsets of a damaged protobuf), for whoever digs deeper. */
  detail: boundedText(2000).optional(),
});
export type LoadError = z.infer<typeof LoadError>;

/**
 * Where a fed input came from: `synthesized` (made up by the validator from the declared type and shape),
 * `probe` (a bounded retry with other values or shapes after the synthesized run failed), `publisher`
 * (`--input-shape` / `--input-value`), `golden` (a `NAME.golden.json` file) or `sample` (an ONNX test-data
 * folder, `test_data_set_N/input_K.pb`).
 */
export const InputSource = z.enum(['synthesized', 'probe', 'publisher', 'golden', 'sample']);
export type InputSource = z.infer<typeof InputSource>;

/**
 * One input as the smoke run actually fed it: its element type, dims, a short description of the values
 * (`fill 16000`, `ramp 0.1…1.0`, `from input_0.pb`) and where they came from.
 */
export const FedInput = z.object({
  name: Name,
  type: Name,
  shape: z.array(z.number().int().nonnegative()),
  value: boundedText(200),
  source: InputSource,
});
export type FedInput = z.infer<typeof FedInput>;

/** A smoke run that did not succeed before the one that decided the verdict: what was fed and what the runtime said. */
export const ProbeAttempt = z.object({
  inputs: z.array(FedInput),
  error: boundedText(2000),
});
export type ProbeAttempt = z.infer<typeof ProbeAttempt>;

/**
 * What the structural inspection of an ONNX file found (gpu-validator/onnx-inspect.ts): the IR version,
 * the opset per domain, the producer, the declared inputs and outputs, the operators by count, sizes in
 * bytes. Fields after `fileSize` are optional so that reports written by earlier validators still parse.
 */
export const OnnxInspection = z
  .object({
    irVersion: z.number().int().nonnegative(),
    /** One entry per operator-set domain (`''` is the default ONNX domain) and its version. */
    opsetImports: z.array(z.object({ domain: Name, version: z.number().int() })),
    producerName: Name,
    producerVersion: Name,
    /** Size of the model file in bytes. */
    fileSize: z.number().int().nonnegative(),
    inputs: z.array(TensorInfo).optional(),
    outputs: z.array(TensorInfo).optional(),
    /** Nodes per operator (domain, op type). */
    operators: z.array(z.object({ domain: Name, opType: Name, count: z.number().int() })).optional(),
    /** Model-local functions (domain, name): nodes calling them need no runtime kernel. */
    functions: z.array(z.object({ domain: Name, name: Name })).optional(),
    initializerCount: z.number().int().nonnegative().optional(),
    /** In-memory bytes of all initializers and constant attributes. */
    initializerBytes: z.number().nonnegative().optional(),
    /** Tensors whose data lives in another file of the version (offset and length in bytes). */
    externalData: z
      .array(
        z.object({
          tensor: Name,
          location: boundedText(MAX_LOCATION_CHARS),
          offset: z.number().optional(),
          length: z.number().optional(),
        }),
      )
      .optional(),
    /** Bytes the inspector read: proportional to the graph, not to the weights. */
    bytesRead: z.number().int().nonnegative().optional(),
    /** A static guess in bytes at what loading adds to the runtime's baseline; the measured peak decides. */
    staticMemoryEstimateBytes: z.number().nonnegative().optional(),
    /** True when a list hit its cap (a hostile or degenerate file) and was cut. */
    truncatedLists: z.boolean().optional(),
  })
  .loose();
export type OnnxInspection = z.infer<typeof OnnxInspection>;

/** What the header of a safetensors file declares (gpu-validator/safetensors-inspect.ts); sizes in bytes. */
export const SafetensorsInspection = z
  .object({
    headerBytes: z.number().int().nonnegative(),
    tensorCount: z.number().int().nonnegative(),
    /** Bytes of all tensors (elements × element size). */
    tensorBytes: z.number().nonnegative(),
    /** Tensor count per dtype (`F16`, `BF16`, …). */
    dtypes: z.record(Name, z.number().int().nonnegative()),
    staticMemoryEstimateBytes: z.number().nonnegative(),
    fileSize: z.number().int().nonnegative(),
  })
  .loose();
export type SafetensorsInspection = z.infer<typeof SafetensorsInspection>;

/** What the header of a GGUF file declares (gpu-validator/gguf-inspect.ts); sizes in bytes. */
export const GgufInspection = z
  .object({
    /** GGUF format version. */
    version: z.number().int().nonnegative(),
    /** `general.architecture`, when the metadata names one (`llama`). */
    architecture: Name.optional(),
    metadataCount: z.number().int().nonnegative(),
    tensorCount: z.number().int().nonnegative(),
    /** Bytes of the data section the tensors use. */
    tensorBytes: z.number().nonnegative(),
    /** Alignment of the tensor data in bytes. */
    alignment: z.number().int().positive(),
    staticMemoryEstimateBytes: z.number().nonnegative(),
    fileSize: z.number().int().nonnegative(),
  })
  .loose();
export type GgufInspection = z.infer<typeof GgufInspection>;

/** What the central directory of a zip (a PyTorch checkpoint) lists (gpu-validator/zip-inspect.ts). */
export const ZipInspection = z
  .object({
    entryCount: z.number().int().nonnegative(),
    /** Sum of the entries' uncompressed sizes in bytes. */
    uncompressedBytes: z.number().nonnegative(),
    /** The entry holding the pickled object graph (`archive/data.pkl`), when there is one. */
    dataPkl: Name.optional(),
    staticMemoryEstimateBytes: z.number().nonnegative().optional(),
    fileSize: z.number().int().nonnegative(),
  })
  .loose();
export type ZipInspection = z.infer<typeof ZipInspection>;

/**
 * A file's structural inspection, by format. Unknown fields are kept (`loose`): an inspector may add facts
 * before the schema names them, and a stored report is returned as written.
 */
export const FileInspection = z.union([OnnxInspection, GgufInspection, SafetensorsInspection, ZipInspection]);
export type FileInspection = z.infer<typeof FileInspection>;

/**
 * The most characters of JSON one file's report holds: 256 Ki (at most 768 KiB of UTF-8). Each name and
 * message is bounded on its own, but a model may declare 10 000 inputs or operators (the inspector's
 * list cap) of 256-character names, and a report lists its inputs several times (declared, as loaded, as
 * fed): this bounds that count × length. A real model's report is far smaller: an LLM with a KV cache
 * (~160 inputs and outputs) and ~700 external-data tensors is about 130 KB.
 */
export const MAX_FILE_REPORT_CHARS = 256 * 1024;

/** Entries kept per list when a file's report is over MAX_FILE_REPORT_CHARS: 1024, halved until it fits, then 0. */
const LIST_CAPS = [1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1, 0];

const jsonChars = (value: unknown) => JSON.stringify(value).length;

const firstOf = <T>(list: readonly T[], cap: number): T[] => list.slice(0, cap);

const firstEntries = <V>(record: Record<string, V>, cap: number, each: (value: V) => V = (v) => v) =>
  Object.fromEntries(firstOf(Object.entries(record), cap).map(([k, v]) => [k, each(v)]));

const cutTensors = (list: readonly TensorInfo[], cap: number) =>
  firstOf(list, cap).map((t) => ({ ...t, shape: firstOf(t.shape, cap) }));

const cutFed = (list: readonly FedInput[], cap: number) =>
  firstOf(list, cap).map((f) => ({ ...f, shape: firstOf(f.shape, cap) }));

/** An ONNX inspection's lists (and shapes) cut to `cap` entries, marked `truncatedLists`; other formats have none to cut. */
function cutInspection(inspection: FileInspection, cap: number): FileInspection {
  if (!('irVersion' in inspection)) return inspection;
  const onnx = inspection as OnnxInspection;
  const cut: OnnxInspection = {
    ...onnx,
    opsetImports: firstOf(onnx.opsetImports, cap),
    truncatedLists: true,
  };
  if (onnx.inputs) cut.inputs = cutTensors(onnx.inputs, cap);
  if (onnx.outputs) cut.outputs = cutTensors(onnx.outputs, cap);
  if (onnx.operators) cut.operators = firstOf(onnx.operators, cap);
  if (onnx.functions) cut.functions = firstOf(onnx.functions, cap);
  if (onnx.externalData) cut.externalData = firstOf(onnx.externalData, cap);
  return cut;
}

/** The note that says a file's report was cut, and why. */
export const listsCutNote = (cap: number, maxChars: number) =>
  `this report keeps the first ${cap} entries of each list and shape (inputs, outputs, operators, …): in full it is over ${maxChars} characters of JSON`;

/** Every list of a file's report (and of its inspection), and every shape, cut to its first `cap` entries. */
function cutLists(report: FileReportFields, cap: number, maxChars: number): FileReportFields {
  const cut: FileReportFields = {
    ...report,
    inputs: cutTensors(report.inputs, cap),
    outputs: cutTensors(report.outputs, cap),
    notes: [...firstOf(report.notes ?? [], cap), listsCutNote(cap, maxChars)],
  };
  if (report.inputShapes)
    cut.inputShapes = firstEntries(report.inputShapes, cap, (dims) => firstOf(dims, cap));
  if (report.fedInputs) cut.fedInputs = cutFed(report.fedInputs, cap);
  if (report.probes)
    cut.probes = firstOf(report.probes, cap).map((p) => ({ ...p, inputs: cutFed(p.inputs, cap) }));
  if (report.golden) cut.golden = { ...report.golden, outputs: firstOf(report.golden.outputs, cap) };
  if (report.executionProviderNodes)
    cut.executionProviderNodes = firstEntries(report.executionProviderNodes, cap);
  if (report.inspection) cut.inspection = cutInspection(report.inspection, cap);
  return cut;
}

/**
 * A file's report within `maxChars` characters of JSON (MAX_FILE_REPORT_CHARS): unchanged when it fits,
 * else with its lists cut to the largest of LIST_CAPS that fits and a note saying so. Its strings are
 * already bounded (the schema cuts them first), so with every list empty it fits; only fields no schema
 * names (an inspection keeps unknown ones) could still be over, and then the inspection is left out.
 */
export function fitFileReport(report: FileReportFields, maxChars = MAX_FILE_REPORT_CHARS): FileReportFields {
  if (jsonChars(report) <= maxChars) return report;
  for (const cap of LIST_CAPS) {
    const cut = cutLists(report, cap, maxChars);
    if (jsonChars(cut) <= maxChars) return cut;
  }
  const { inspection: _left, ...rest } = cutLists(report, 0, maxChars);
  return rest;
}

/**
 * What validation found for one file of a version: how it was checked, whether it passed, and what was
 * measured (times in ms, memory in bytes) and fed. Names from the model or the runtime are at most 256
 * characters, messages 4096, and the whole at most MAX_FILE_REPORT_CHARS of JSON (fitFileReport).
 */
const FileReportFields = z.object({
  path: FilePath,
  sha256: Sha256Hex,
  /** The md5 of the bytes validation verified against `sha256` (what nodes check with `md5sum -c`). */
  md5: Md5Hex.optional(),
  size: z.number().int().nonnegative(),
  format: z.string(),
  /**
   * `loaded`: loaded by the runtime (and smoke-run where its inputs allow). `inspected`: a model format the
   * runtime does not load (safetensors, GGUF, a PyTorch checkpoint), whose structure was checked.
   * `integrity-only`: not a model format; only its checksum was verified.
   */
  check: z.enum(['loaded', 'inspected', 'integrity-only']),
  /** What the file really is, where that differs from its name or could not be known from it (`zip`, `safetensors`, `git-lfs-pointer`). */
  detectedFormat: Name.optional(),
  ok: z.boolean(),
  error: LoadError.optional(),
  loadMs: z.number().nonnegative().optional(),
  inferenceMs: z.number().nonnegative().optional(),
  /** The child's own VmHWM: the peak resident memory of the process that loaded and ran this file. */
  peakRssBytes: z.number().int().nonnegative().optional(),
  /** VmHWM of an empty child that only loaded the runtime: subtract it for the model's own share. */
  baselineRssBytes: z.number().int().nonnegative().optional(),
  gpuBytes: z.number().int().nonnegative().optional(),
  /** The provider that actually ran the model (the runtime may drop or bypass a requested one). */
  executionProvider: Name.optional(),
  /** Nodes executed per provider, from the runtime's profiler; measured when a non-CPU provider was requested. */
  executionProviderNodes: z.record(Name, z.number().int().nonnegative()).optional(),
  /** `cuda → cpu`: the first requested provider ran no node and the runtime fell back. */
  executionProviderFallback: Name.optional(),
  /** Golden I/O: the golden file run instead of synthesized inputs, and each compared output's difference. */
  golden: z
    .object({
      file: FilePath,
      tolerance: z.number().nonnegative(),
      outputs: z.array(z.object({ name: Name, maxAbsDiff: z.number().nonnegative() })),
    })
    .optional(),
  inputs: z.array(TensorInfo).default([]),
  outputs: z.array(TensorInfo).default([]),
  /** Shapes the smoke inference actually ran with. */
  inputShapes: z.record(Name, z.array(z.number().int())).optional(),
  /** Every input as the deciding smoke run fed it (shape, values, source). */
  fedInputs: z.array(FedInput).optional(),
  /** Smoke runs that failed before the deciding one (at most a handful, bounded by the probe ladder). */
  probes: z.array(ProbeAttempt).optional(),
  /** Facts worth knowing that are not failures (e.g. non-finite outputs on synthesized inputs). */
  notes: z.array(Message).optional(),
  /** The smoke run could not be made in this runtime (e.g. a sequence input onnxruntime-node cannot feed); the load was still proven. */
  smokeRun: z.enum(['ran', 'skipped']).optional(),
  /** The structural inspection of the file (ONNX, safetensors, GGUF or zip), when it was inspected. */
  inspection: FileInspection.optional(),
});
type FileReportFields = z.infer<typeof FileReportFields>;

export const FileReport = FileReportFields.overwrite((report) => fitFileReport(report));
export type FileReport = z.infer<typeof FileReport>;

/** Whether a validated version fits one serving node class by the runbook's memory rule, and why. */
export const NodeClassFit = z.object({
  nodeClass: z.string(),
  fits: z.boolean(),
  reason: z.string(),
});

/**
 * The report of one validation attempt: the outcome, the runtime and execution provider, who ran it and
 * when, the memory budget (bytes), every file's report, the totals and the node classes it fits. Parsing
 * bounds it (texts cut, lists cut, never refused): at most MAX_FILE_REPORT_CHARS characters of JSON per
 * file, plus a few KiB; a version has at most MAX_VERSION_FILES files.
 */
export const ValidationReport = z.object({
  outcome: z.enum(['passed', 'failed']),
  /**
   * Whether at least one file of the version was loaded by a runtime. A version that passed with
   * `loadTested: false` was integrity-checked (and structurally inspected) only: nothing may say it passed
   * a runtime. Absent in reports written before this field existed, which loaded every ONNX file.
   */
  loadTested: z.boolean().optional(),
  error: LoadError.optional(),
  runtime: z.object({ name: Name, version: Name }),
  executionProvider: Name,
  worker: z.string(),
  attempt: z.number().int().positive(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number().nonnegative(),
  memoryBudgetBytes: z.number().int().positive(),
  files: z.array(FileReport),
  totals: z.object({
    loadMs: z.number().nonnegative(),
    inferenceMs: z.number().nonnegative(),
    peakRssBytes: z.number().int().nonnegative(),
    gpuBytes: z.number().int().nonnegative().optional(),
  }),
  nodeClasses: z.array(NodeClassFit).default([]),
});
export type ValidationReport = z.infer<typeof ValidationReport>;
