import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { RegistryError } from '../../core/errors.js';
import type { ManifestFile, TransferTarget } from '../../schemas/version.schema.js';
import { fsRegistryError } from './fs-errors.js';

export type DownloadableFile = ManifestFile & { download: TransferTarget };

export const FILE_MODE = 0o644;
/** Network chunks are small (16–64 KiB): batch them into ~1 MiB writev calls, without copying. */
const WRITE_BATCH_BYTES = 1024 * 1024;

function httpError(status: number, file: DownloadableFile): RegistryError {
  const details = { path: file.path, status };
  if (status === 404 || status === 410)
    return new RegistryError(
      'FILE_MISSING',
      `${file.path}: the registry has no content for it (HTTP ${status})`,
      details,
    );
  if (status === 401 || status === 403)
    return new RegistryError(
      'FORBIDDEN',
      `${file.path}: download refused (HTTP ${status}); the URL may have expired`,
      details,
    );
  return new RegistryError('UNAVAILABLE', `${file.path}: download failed with HTTP ${status}`, details);
}

function checksumError(
  file: DownloadableFile,
  message: string,
  details: Record<string, unknown>,
): RegistryError {
  return new RegistryError('CHECKSUM_MISMATCH', `${file.path}: ${message}`, { path: file.path, ...details });
}

/** Anything that is not ours already nor a known disk failure is a transfer failure. */
function asDownloadError(err: unknown, file: DownloadableFile, signal?: AbortSignal): RegistryError {
  const known = fsRegistryError(err, `${file.path}: cannot write`);
  if (known) return known;
  const reason = signal?.aborted ? 'cancelled' : `download failed: ${(err as Error).message ?? String(err)}`;
  return new RegistryError('UNAVAILABLE', `${file.path}: ${reason}`, { path: file.path });
}

/** Batches chunks and writes them with one writev each, appending at the file's end. */
class BatchWriter {
  private chunks: Uint8Array[] = [];
  private batched = 0;
  private position = 0;

  constructor(private readonly fh: FileHandle) {}

  async push(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
    this.batched += chunk.byteLength;
    if (this.batched >= WRITE_BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.batched === 0) return;
    const chunks = this.chunks;
    const bytes = this.batched;
    this.chunks = [];
    this.batched = 0;
    let written = 0;
    // writev may write less than asked (e.g. a signal mid-write): keep going until the batch is on disk.
    while (written < bytes) {
      const { bytesWritten } = await this.fh.writev(remaining(chunks, written), this.position);
      written += bytesWritten;
      this.position += bytesWritten;
    }
  }
}

function remaining(chunks: Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let left = skip;
  for (const chunk of chunks) {
    if (left >= chunk.byteLength) left -= chunk.byteLength;
    else {
      out.push(left === 0 ? chunk : chunk.subarray(left));
      left = 0;
    }
  }
  return out;
}

/** Streams the body to `fh` while hashing it; stops as soon as it is longer than the manifest says. */
async function streamVerified(
  body: AsyncIterable<Uint8Array>,
  fh: FileHandle,
  file: DownloadableFile,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const hash = createHash('sha256');
  const writer = new BatchWriter(fh);
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > file.size)
      throw checksumError(file, `more than the ${file.size} bytes expected`, { expectedSize: file.size });
    hash.update(chunk);
    await writer.push(chunk);
    onBytes(chunk.byteLength);
  }
  await writer.flush();
  if (size !== file.size)
    throw checksumError(file, `${size} bytes received, ${file.size} expected`, {
      expectedSize: file.size,
      size,
    });
  const sha256 = hash.digest('hex');
  if (sha256 !== file.sha256)
    throw checksumError(file, `sha256 ${sha256} does not match the manifest's ${file.sha256}`, {
      expected: file.sha256,
      actual: sha256,
    });
}

/**
 * Downloads one file to `target` (which must not exist) in a single pass that hashes as it writes,
 * verifies size and sha256 against the manifest, then sets 0644 and fsyncs. On failure the partial
 * file is left for the caller, who owns the staging folder, to remove.
 */
export async function downloadVerified(
  file: DownloadableFile,
  target: string,
  fetchImpl: typeof fetch,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    const res = await fetchImpl(file.download.url, {
      method: file.download.method,
      headers: file.download.headers,
      ...(signal ? { signal } : {}),
    });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw httpError(res.status, file);
    }
    fh = await open(target, 'wx', FILE_MODE);
    await streamVerified(res.body as unknown as AsyncIterable<Uint8Array>, fh, file, onBytes);
    // Explicit chmod: the mode given to open() is filtered by the umask, the runbook wants rw-r--r--.
    await fh.chmod(FILE_MODE);
    await fh.sync();
  } catch (err) {
    throw asDownloadError(err, file, signal);
  } finally {
    await fh?.close();
  }
}
