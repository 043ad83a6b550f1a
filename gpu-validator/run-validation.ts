import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryError } from '../core/errors.js';
import type { BlobStore, ProvenDigests } from '../core/ports.js';
import { effectiveMemoryBudget } from '../core/validation-rules.js';
import { LoadErrorCode } from '../schemas/error-codes.schema.js';
import type { ValidationReport } from '../schemas/report.schema.js';
import type { ManifestFile, Version } from '../schemas/version.schema.js';
import { baseReport, installedRuntimeVersion, validateFiles } from './engine.js';
import { hashFile } from './file-integrity.js';

export interface RunValidationOptions {
  readonly blobs: BlobStore;
  /** Scratch space; each job gets its own folder, removed afterwards. */
  readonly scratchDir: string;
  readonly worker: string;
  readonly memoryBudgetBytes: number;
  readonly timeoutMs: number;
  readonly executionProviders?: string[];
}

/**
 * Validates one claimed version: lays its files out under a scratch folder by their manifest paths
 * (so external-data references resolve as on a node), then runs the engine, which re-hashes every
 * file before loading it, except a file whose digests the store proved as it handed it over (hashed
 * while it was written or read: `BlobStore.materialize`). Used by the local worker pool and by the Batch job alike.
 */
export async function runValidation(
  version: Version,
  options: RunValidationOptions,
): Promise<ValidationReport> {
  const dir = join(
    options.scratchDir,
    `${version.model}@${version.version}.${version.validation.attempts}.${process.pid}`,
  );
  await rm(dir, { recursive: true, force: true });
  // 0700: scratch copies of blobs live in the data folder, which is its owner's only.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const startedAt = new Date();
  try {
    const files = [];
    for (const f of version.files) {
      const localPath = join(dir, ...f.path.split('/'));
      let proven: ProvenDigests | null;
      try {
        proven = await options.blobs.materialize(f, localPath);
      } catch (e) {
        // Bytes the store cannot hand over intact (a download that hashes wrong, a blob gone) are the
        // version's failure, not the worker's: report it rather than retry it.
        const code = e instanceof RegistryError ? LoadErrorCode.safeParse(e.code) : undefined;
        if (!code?.success) throw e;
        // The store read bytes that are not the blob (another hash or size): mark it so the next upload replaces it.
        if (code.data === 'CHECKSUM_MISMATCH') await options.blobs.markCorrupt(f.sha256);
        return fetchFailureReport(
          version,
          options,
          f,
          { code: code.data, message: (e as Error).message },
          startedAt,
        );
      }
      files.push({ ...f, localPath, ...(proven ? { proven } : {}) });
    }
    const report = await validateFiles({
      files,
      dir,
      inputShapes: version.inputShapes,
      ...(version.inputValues ? { inputValues: version.inputValues } : {}),
      memoryBudgetBytes: effectiveMemoryBudget(version, {
        defaultMemoryBudgetBytes: options.memoryBudgetBytes,
      }),
      timeoutMs: options.timeoutMs,
      ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
      worker: options.worker,
      attempt: Math.max(1, version.validation.attempts),
    });
    await markRottenBlobs(report, files, options.blobs);
    return report;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A CHECKSUM_MISMATCH may be a wrong md5 in the manifest over intact bytes: only a file whose bytes do
 * not hash to its sha256 marks the blob corrupt (re-hashed here, on the failure path only).
 */
async function markRottenBlobs(
  report: ValidationReport,
  files: readonly (ManifestFile & { localPath: string })[],
  blobs: BlobStore,
): Promise<void> {
  for (const r of report.files) {
    if (r.error?.code !== 'CHECKSUM_MISMATCH') continue;
    const file = files.find((f) => f.path === r.path);
    if (!file) continue;
    const actual = await hashFile(file.localPath).catch(() => null);
    if (actual && actual.sha256 !== file.sha256) await blobs.markCorrupt(file.sha256);
  }
}

/** The report of a version whose files could not be fetched intact into scratch space. */
function fetchFailureReport(
  version: Version,
  options: RunValidationOptions,
  file: ManifestFile,
  error: { code: LoadErrorCode; message: string },
  startedAt: Date,
): ValidationReport {
  const finishedAt = new Date();
  const loadError = { ...error, file: file.path };
  return {
    outcome: 'failed',
    error: loadError,
    runtime: { name: 'onnxruntime-node', version: installedRuntimeVersion() },
    executionProvider: options.executionProviders?.[0] ?? 'cpu',
    worker: options.worker,
    attempt: Math.max(1, version.validation.attempts),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    memoryBudgetBytes: effectiveMemoryBudget(version, {
      defaultMemoryBudgetBytes: options.memoryBudgetBytes,
    }),
    files: [{ ...baseReport(file), error: loadError }],
    totals: { loadMs: 0, inferenceMs: 0, peakRssBytes: 0 },
    nodeClasses: [],
  };
}
