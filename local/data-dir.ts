import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock as acquireKernelLock, LockTimeoutError } from '../adapters/fs-lock/kernel-lock.js';
import { REGISTRY_DATA_MARKER } from '../core/file-paths.js';

/** The data folder holds tokens' signing key, metadata and blobs: its owner's only, whatever the umask. */
const DATA_DIR_MODE = 0o700;
/**
 * How long a starting server waits for the lock: a predecessor killed the moment before may still be
 * exiting (the kernel releases its lock when it is gone, a few milliseconds later).
 */
const LOCK_WAIT_MS = 2000;

/** Creates the data folder if needed and makes it 0700 (an existing one too: older versions made it 0755). */
export function preparePrivateDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  chmodSync(dataDir, DATA_DIR_MODE);
}

/**
 * One server per data folder: a second one would run a second worker pool over the same queue and
 * treat the first one's leases as orphaned. The lock (`server.lock`) is held by the kernel for this
 * process (adapters/fs-lock): it is free again the moment the holder dies, kill -9 included, and a
 * reused pid can never hold it. Returns the release function.
 */
export async function acquireLock(dataDir: string): Promise<() => void> {
  preparePrivateDir(dataDir);
  const path = join(dataDir, REGISTRY_DATA_MARKER);
  try {
    const lock = await acquireKernelLock(path, { timeoutMs: LOCK_WAIT_MS });
    return () => lock.release();
  } catch (e) {
    if (e instanceof LockTimeoutError)
      throw new Error(
        `another modelgate server is using ${dataDir} (it holds ${path}): stop it or choose another --data-dir`,
      );
    throw e;
  }
}

/** The key that signs blob URLs, made once per data folder and readable only by its owner. */
export function signingSecret(dataDir: string): Buffer {
  const path = join(dataDir, 'signing.key');
  try {
    const secret = readFileSync(path);
    chmodSync(path, 0o600);
    return secret;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const secret = randomBytes(32);
    writeFileSync(path, secret, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return secret;
  }
}
