import { z } from 'zod';
import { FilePath, ModelName, Sha256Hex, VersionString } from './names.schema.js';
import { VersionStatus } from './version.schema.js';

/**
 * POST /api/v1/scrub: start a scrub of every stored blob, reading at most `bytesPerSecond` (default: the
 * server's MODELGATE_SCRUB_BYTES_PER_SECOND, 32 MiB/s, which leaves the disk to uploads and validations).
 */
export const ScrubRequest = z.object({
  bytesPerSecond: z
    .number()
    .int()
    .min(1024, 'must be at least 1024 bytes/s')
    .max(10 * 1024 ** 3, 'must be at most 10 GiB/s')
    .optional(),
});
export type ScrubRequest = z.infer<typeof ScrubRequest>;

/** A version that has at least one file whose blob is corrupt. */
export const AffectedVersion = z.object({
  model: ModelName,
  version: VersionString,
  status: VersionStatus,
  /** The version's files whose blob is corrupt. */
  paths: z.array(FilePath),
});
export type AffectedVersion = z.infer<typeof AffectedVersion>;

/**
 * The state of the latest scrub. `checked` counts blobs re-hashed (`checkedBytes` their bytes);
 * `corrupt` those whose bytes did not hash to their name (now marked, so the next publish of those bytes
 * re-uploads them); `repaired` those known corrupt before that hash right now (a re-upload replaced
 * them); `missing` those listed but gone when read.
 */
export const ScrubReport = z.object({
  state: z.enum(['idle', 'running', 'finished', 'failed']),
  bytesPerSecond: z.number().int().positive(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  checked: z.number().int().nonnegative(),
  checkedBytes: z.number().int().nonnegative(),
  corrupt: z.number().int().nonnegative(),
  repaired: z.number().int().nonnegative(),
  missing: z.number().int().nonnegative(),
  corruptBlobs: z.array(Sha256Hex),
  repairedBlobs: z.array(Sha256Hex),
  affectedVersions: z.array(AffectedVersion),
  /** Why a scrub ended `failed` (the store could not be listed or read). */
  error: z.string().optional(),
});
export type ScrubReport = z.infer<typeof ScrubReport>;
