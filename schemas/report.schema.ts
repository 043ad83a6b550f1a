import { z } from 'zod';
import { LoadErrorCode } from './error-codes.schema.js';
import { FilePath, Md5Hex, Sha256Hex } from './names.schema.js';

/** A tensor as the runtime declares it: symbolic dimensions are kept by name. */
export const TensorInfo = z.object({
  name: z.string(),
  type: z.string(),
  shape: z.array(z.union([z.number().int(), z.string()])),
});
export type TensorInfo = z.infer<typeof TensorInfo>;

/** Why a load or a validation failed: a load-failure code, the message, and the file at fault where one is. */
export const LoadError = z.object({
  code: LoadErrorCode,
  message: z.string(),
  file: FilePath.optional(),
  /** Technical detail behind the plain message (byte offsets of a damaged protobuf), for whoever digs deeper. */
  detail: z.string().max(2000).optional(),
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
  name: z.string(),
  type: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  value: z.string().max(200),
  source: InputSource,
});
export type FedInput = z.infer<typeof FedInput>;

/** A smoke run that did not succeed before the one that decided the verdict: what was fed and what the runtime said. */
export const ProbeAttempt = z.object({
  inputs: z.array(FedInput),
  error: z.string().max(2000),
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
    opsetImports: z.array(z.object({ domain: z.string(), version: z.number().int() })),
    producerName: z.string(),
    producerVersion: z.string(),
    /** Size of the model file in bytes. */
    fileSize: z.number().int().nonnegative(),
    inputs: z.array(TensorInfo).optional(),
    outputs: z.array(TensorInfo).optional(),
    /** Nodes per operator (domain, op type). */
    operators: z
      .array(z.object({ domain: z.string(), opType: z.string(), count: z.number().int() }))
      .optional(),
    /** Model-local functions (domain, name): nodes calling them need no runtime kernel. */
    functions: z.array(z.object({ domain: z.string(), name: z.string() })).optional(),
    initializerCount: z.number().int().nonnegative().optional(),
    /** In-memory bytes of all initializers and constant attributes. */
    initializerBytes: z.number().nonnegative().optional(),
    /** Tensors whose data lives in another file of the version (offset and length in bytes). */
    externalData: z
      .array(
        z.object({
          tensor: z.string(),
          location: z.string(),
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
    dtypes: z.record(z.string(), z.number().int().nonnegative()),
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
    architecture: z.string().optional(),
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
    dataPkl: z.string().optional(),
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
 * What validation found for one file of a version: how it was checked, whether it passed, and what was
 * measured (times in ms, memory in bytes) and fed.
 */
export const FileReport = z.object({
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
  detectedFormat: z.string().optional(),
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
  executionProvider: z.string().optional(),
  /** Nodes executed per provider, from the runtime's profiler; measured when a non-CPU provider was requested. */
  executionProviderNodes: z.record(z.string(), z.number().int().nonnegative()).optional(),
  /** `cuda → cpu`: the first requested provider ran no node and the runtime fell back. */
  executionProviderFallback: z.string().optional(),
  /** Golden I/O: the golden file run instead of synthesized inputs, and each compared output's difference. */
  golden: z
    .object({
      file: FilePath,
      tolerance: z.number().nonnegative(),
      outputs: z.array(z.object({ name: z.string(), maxAbsDiff: z.number().nonnegative() })),
    })
    .optional(),
  inputs: z.array(TensorInfo).default([]),
  outputs: z.array(TensorInfo).default([]),
  /** Shapes the smoke inference actually ran with. */
  inputShapes: z.record(z.string(), z.array(z.number().int())).optional(),
  /** Every input as the deciding smoke run fed it (shape, values, source). */
  fedInputs: z.array(FedInput).optional(),
  /** Smoke runs that failed before the deciding one (at most a handful, bounded by the probe ladder). */
  probes: z.array(ProbeAttempt).optional(),
  /** Facts worth knowing that are not failures (e.g. non-finite outputs on synthesized inputs). */
  notes: z.array(z.string()).optional(),
  /** The smoke run could not be made in this runtime (e.g. a sequence input onnxruntime-node cannot feed); the load was still proven. */
  smokeRun: z.enum(['ran', 'skipped']).optional(),
  /** The structural inspection of the file (ONNX, safetensors, GGUF or zip), when it was inspected. */
  inspection: FileInspection.optional(),
});
export type FileReport = z.infer<typeof FileReport>;

/** Whether a validated version fits one serving node class by the runbook's memory rule, and why. */
export const NodeClassFit = z.object({
  nodeClass: z.string(),
  fits: z.boolean(),
  reason: z.string(),
});

/**
 * The report of one validation attempt: the outcome, the runtime and execution provider, who ran it and
 * when, the memory budget (bytes), every file's report, the totals and the node classes it fits.
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
  runtime: z.object({ name: z.string(), version: z.string() }),
  executionProvider: z.string(),
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
