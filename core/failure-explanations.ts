import type { LoadErrorCode } from '../schemas/error-codes.schema.js';
import type { ValidationReport } from '../schemas/report.schema.js';

/** What a passed version whose files no runtime loaded is called, wherever it shows (status, fetch, dashboard). */
export const INTEGRITY_ONLY = 'integrity only: no file was loaded by a runtime';

/**
 * Whether a runtime loaded at least one file of the version. Reports written before `loadTested` existed
 * are judged by their files (`ranOnRuntime`).
 */
export function wasLoadTested(report: Pick<ValidationReport, 'loadTested' | 'files'>): boolean {
  return report.loadTested ?? report.files.some(ranOnRuntime);
}

/**
 * Whether a runtime loaded this file: it passed, or it has a load time (the runtime created its session,
 * and the smoke run failed after). A file refused before the runtime had loaded it (by the inspector, or
 * a child stopped during the load) did not prove a load, whatever the child's peak memory says.
 */
export function ranOnRuntime(
  file: Pick<ValidationReport['files'][number], 'check' | 'ok' | 'loadMs'>,
): boolean {
  return file.check === 'loaded' && (file.ok || file.loadMs !== undefined);
}

/** What an error code means to the person who must act on it: the cause, the runbook step, the fix. */
export interface FailureExplanation {
  /** The cause in plain words. */
  readonly cause: string;
  /** The runbook section (RUNBOOK-MODEL_LOAD_ERROR.md) whose steps fix it. */
  readonly runbookStep: string;
  readonly fix: string;
}

/** Each load error code, explained as the runbook's "Root Cause Analysis" and "Common Fixes" name it. */
export const FAILURE_EXPLANATIONS: Readonly<Record<LoadErrorCode, FailureExplanation>> = {
  FILE_MISSING: {
    cause:
      'a model file (or an external-data file it references) is missing, or is a Git LFS pointer or a downloaded error page instead of the model',
    runbookStep: 'Common Fixes › Fix: Missing Model Files',
    fix: 'fetch the real file (git lfs pull, or download it again) and publish the version again with every file it references',
  },
  CHECKSUM_MISMATCH: {
    cause: 'the bytes differ from the published checksum: corrupted in transit or on disk',
    runbookStep: 'Common Fixes › Fix: Corrupted Model Files',
    fix: 're-upload (publish) or re-download (fetch) the file; checksums are verified end to end',
  },
  MODEL_CORRUPTED: {
    cause:
      'the file is not a parsable model (truncated, damaged before it was hashed, empty, or another format than its name claims)',
    runbookStep: 'Common Fixes › Fix: Corrupted Model Files',
    fix: 'export the model again from its source and publish a new version',
  },
  MODEL_INVALID: {
    cause:
      'the file parses, but its graph is invalid (contradictory or unknown types, a type error at session creation)',
    runbookStep: 'Root Cause Analysis › Model File Issues',
    fix: 'fix the export (e.g. a float16 conversion) and publish a new version; downloading it again does not help',
  },
  UNSUPPORTED_MODEL: {
    cause:
      'the model needs an IR version, opset, operator or element type the runtime does not support (version mismatch)',
    runbookStep: 'Root Cause Analysis › Model File Issues › Version mismatches',
    fix: 'export with an opset, operators and input/output types the serving runtime supports, or upgrade onnxruntime on the nodes',
  },
  INSUFFICIENT_MEMORY: {
    cause: 'loading the model needs more memory than the budget (or the process was killed for memory)',
    runbookStep: 'Common Fixes › Fix: Insufficient Memory',
    fix: 'serve it on a larger node class, raise the memory limit, or quantize the model',
  },
  INSUFFICIENT_DISK: {
    cause: 'not enough disk space to hold the model files',
    runbookStep: 'Investigation › Analyze resource constraints (df -h /app/models)',
    fix: 'free disk space on the node or attach a larger volume',
  },
  GPU_UNAVAILABLE: {
    cause: 'a GPU was required but none is usable',
    runbookStep: 'Investigation › Analyze resource constraints (nvidia-smi)',
    fix: 'check the GPU driver and CUDA install (nvidia-smi), or validate on a GPU node class',
  },
  DEPENDENCY_MISSING: {
    cause: 'the runtime or an execution provider it needs is not installed',
    runbookStep: 'Root Cause Analysis › Dependencies',
    fix: 'install the missing runtime / execution provider libraries (CUDA, cuDNN) on the nodes',
  },
  PERMISSION_DENIED: {
    cause: 'a model file cannot be read by the process',
    runbookStep: 'Common Fixes › Fix: Permission Issues',
    fix: 'files 0644 and folders 0755 owned by the app user (modelgate fetch sets these)',
  },
  CONFIG_INVALID: {
    cause: 'the version or provider configuration is invalid (paths, input shapes, parameters)',
    runbookStep: 'Root Cause Analysis › Configuration Problems',
    fix: 'correct the configuration (e.g. --input-shape) and publish again',
  },
  INFERENCE_FAILED: {
    cause: 'the model loads but a smoke inference fails or produces NaN/Inf',
    runbookStep: 'Recovery › Validate model loading',
    fix: 'check the exported graph and the input shapes; publish a fixed version',
  },
  SAMPLE_INPUTS_REQUIRED: {
    cause:
      'the model loads, but no synthesized input could run it: it needs inputs of the shapes or values it is served with',
    runbookStep: 'Recovery › Validate model loading',
    fix: 'publish again with --input-shape NAME=D,D,…, --input-value NAME=V or --sample-inputs PATH',
  },
  TIMEOUT: {
    cause: 'loading or running the model did not finish in time (or the validating worker died)',
    runbookStep: 'Investigation › Test model loading directly',
    fix: 're-validate (`modelgate validate`); if it repeats, profile the load in isolation',
  },
};
