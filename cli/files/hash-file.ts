import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { rethrowFsError } from './fs-errors.js';

export type ProgressCallback = (bytes: number) => void;

export interface Sha256Result {
  size: number;
  sha256: string;
}

/** Large reads: per-call overhead (thread-pool hop, hash update) vanishes next to the hashing itself. */
const READ_BYTES = 4 * 1024 * 1024;

async function openForRead(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    return rethrowFsError(err, `cannot read ${path}`);
  }
}

/**
 * Streaming sha256 of a file. Double-buffered: the next read runs on the libuv pool while this thread
 * hashes the previous buffer, so the read cost hides behind the hash (as fast as `openssl dgst`).
 */
export async function sha256File(path: string, onProgress?: ProgressCallback): Promise<Sha256Result> {
  const fh = await openForRead(path);
  try {
    return await sha256Handle(fh, onProgress);
  } catch (err) {
    return rethrowFsError(err, `cannot read ${path}`);
  } finally {
    await fh.close();
  }
}

/**
 * Streaming sha256 of an open file, from its first byte (as `sha256File`): for a caller that must hash
 * the very file it opened and checked, not whatever its path names by then.
 */
export async function sha256Handle(fh: FileHandle, onProgress?: ProgressCallback): Promise<Sha256Result> {
  const hash = createHash('sha256');
  const buffers = [Buffer.allocUnsafeSlow(READ_BYTES), Buffer.allocUnsafeSlow(READ_BYTES)] as const;
  let size = 0;
  let current = 0;
  let reading = fh.read(buffers[0], 0, READ_BYTES, 0);
  for (;;) {
    const { bytesRead, buffer } = await reading;
    if (bytesRead === 0) break;
    size += bytesRead;
    current ^= 1;
    reading = fh.read(buffers[current as 0 | 1], 0, READ_BYTES, size);
    hash.update(buffer.subarray(0, bytesRead));
    onProgress?.(size);
  }
  return { size, sha256: hash.digest('hex') };
}
