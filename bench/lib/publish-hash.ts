import type { Sha256Result } from '../../cli/files/hash-file.js';
import { createSha256Pool, poolThreads } from '../../cli/files/hash-pool.js';

/**
 * A one-file publish's hashing, as `modelgate publish` runs it (`hashFiles` in publish.command.ts): a pool
 * of `poolThreads(1)` sha256 thread, started for the publish and closed after it. The md5 is the
 * registry's (it hashes the bytes as it stores them), so the client computes sha256 only.
 */
export async function hashAsPublish(path: string): Promise<Sha256Result> {
  const pool = createSha256Pool(poolThreads(1));
  try {
    return await pool.hash(path, { followSymlinks: true });
  } finally {
    await pool.close();
  }
}
