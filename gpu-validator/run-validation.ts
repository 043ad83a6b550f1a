import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../core/ports.js';
import type { ValidationReport } from '../schemas/report.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { validateFiles } from './engine.js';

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
 * file before loading it. Used by the local worker pool and by the ECS task alike.
 */
export async function runValidation(version: Version, options: RunValidationOptions): Promise<ValidationReport> {
  const dir = join(options.scratchDir, `${version.model}@${version.version}.${version.validation.attempts}.${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    const files = await Promise.all(
      version.files.map(async (f) => {
        const localPath = join(dir, ...f.path.split('/'));
        await options.blobs.materialize(f, localPath);
        return { ...f, localPath };
      }),
    );
    return await validateFiles({
      files,
      dir,
      inputShapes: version.inputShapes,
      memoryBudgetBytes: version.memoryBudgetBytes ?? options.memoryBudgetBytes,
      timeoutMs: options.timeoutMs,
      ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
      worker: options.worker,
      attempt: Math.max(1, version.validation.attempts),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
