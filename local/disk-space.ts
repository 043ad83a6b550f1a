import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isDiskFull } from '../lambdas/http/disk-full.js';

/** What a probe writes: a little more than one SQLite page and a blob chunk need to make progress. */
const PROBE_BYTES = 256 * 1024;

/**
 * Whether the data folder's disk ran full. Set by the first ENOSPC / SQLITE_FULL a request meets; while
 * set, /health is `degraded`. Cleared when a probe (write PROBE_BYTES next to the data, fsync, remove)
 * succeeds again, so health recovers by itself once space returns.
 */
export class DiskSpace {
  private fullSince: string | null = null;
  private probing: Promise<void> | null = null;

  constructor(private readonly dataDir: string) {}

  /** Records a disk-full error; true when `error` was one. */
  note(error: unknown): boolean {
    if (!isDiskFull(error)) return false;
    this.fullSince ??= new Date().toISOString();
    return true;
  }

  /** Null when there is space (probed again if it ran out), else since when the disk is full. */
  async fullAt(): Promise<string | null> {
    if (this.fullSince === null) return null;
    this.probing ??= this.probe().finally(() => {
      this.probing = null;
    });
    await this.probing;
    return this.fullSince;
  }

  private async probe(): Promise<void> {
    const path = join(this.dataDir, `.space-probe-${randomBytes(4).toString('hex')}`);
    try {
      const file = await open(path, 'wx', 0o600);
      try {
        await file.write(Buffer.alloc(PROBE_BYTES));
        await file.sync();
      } finally {
        await file.close();
      }
      this.fullSince = null;
    } catch (e) {
      if (!isDiskFull(e)) throw e;
    } finally {
      await unlink(path).catch(() => {});
    }
  }
}
