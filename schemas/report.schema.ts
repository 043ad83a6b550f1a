import { z } from 'zod';
import { LoadErrorCode } from './error-codes.schema.js';
import { FilePath, Sha256Hex } from './names.schema.js';

/** A tensor as the runtime declares it: symbolic dimensions are kept by name. */
export const TensorInfo = z.object({
  name: z.string(),
  type: z.string(),
  shape: z.array(z.union([z.number().int(), z.string()])),
});
export type TensorInfo = z.infer<typeof TensorInfo>;

export const LoadError = z.object({
  code: LoadErrorCode,
  message: z.string(),
  file: FilePath.optional(),
});
export type LoadError = z.infer<typeof LoadError>;

export const FileReport = z.object({
  path: FilePath,
  sha256: Sha256Hex,
  size: z.number().int().nonnegative(),
  format: z.string(),
  /** `loaded`: loaded and run by the runtime. `integrity-only`: not a model format; only its checksum was verified. */
  check: z.enum(['loaded', 'integrity-only']),
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
  inspection: z.record(z.string(), z.unknown()).optional(),
});
export type FileReport = z.infer<typeof FileReport>;

export const NodeClassFit = z.object({
  nodeClass: z.string(),
  fits: z.boolean(),
  reason: z.string(),
});

export const ValidationReport = z.object({
  outcome: z.enum(['passed', 'failed']),
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
