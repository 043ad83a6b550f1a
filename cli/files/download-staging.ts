import { DigestThread, type ThreadDigest } from '../../adapters/fs-blobs/digest-thread.js';
import type { DirectIoSwitch } from '../../adapters/fs-blobs/slot-sink.js';
import { type StagingLayout, StagingPool } from '../../adapters/fs-blobs/staging-pool.js';

/**
 * The process's staging memory for downloads: one area per download in flight (`modelgate fetch` runs
 * four), four 1 MiB slots each (16 MiB, touched once and reused), and one sha256 thread that hashes the
 * slots in place.
 */
const DOWNLOAD_STAGING: StagingLayout = { slotBytes: 1024 * 1024, slots: 4, areas: 4 };

export interface DownloadStaging {
  readonly pool: StagingPool;
  /** Whether the partial files' file system takes O_DIRECT; flipped off on the first EINVAL. */
  readonly directIo: DirectIoSwitch;
  /** A new sha256 on the digest thread (a fresh thread if the last one died). */
  sha256(): ThreadDigest;
}

let staging: DownloadStaging | undefined;

/** The staging of this process, made on first use; the idle thread does not keep the process alive. */
export function downloadStaging(): DownloadStaging {
  if (staging) return staging;
  const pool = new StagingPool(DOWNLOAD_STAGING);
  let thread: DigestThread | undefined;
  staging = {
    pool,
    directIo: { enabled: true },
    sha256: () => {
      if (!thread?.alive) thread = new DigestThread(pool.memory, 'sha256');
      return thread.start();
    },
  };
  return staging;
}
