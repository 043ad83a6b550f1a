import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { RegistryError } from '../../core/errors.js';
import type { ManifestFile, TransferTarget } from '../../schemas/version.schema.js';
import { readTextAtMost } from '../bounded-body.js';
import { fsRegistryError } from './fs-errors.js';

export type DownloadableFile = ManifestFile & { download: TransferTarget };

export const FILE_MODE = 0o644;
/** Network chunks are small (16–64 KiB): batch them into ~1 MiB writev calls, without copying. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * Every this many bytes written, an fdatasync starts in the background (one at a time): the disk writes
 * while the network still delivers, so the fsync that seals the file only waits for the last stretch.
 * Without it the kernel holds a whole model in dirty pages and the final fsync writes all of it at once.
 */
const WRITEBACK_BYTES = 64 * 1024 * 1024;

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

/**
 * Batches chunks and writes them with one writev each, from `position` on. Double-buffered: a full batch
 * is handed to the thread pool and the next one fills while it is written, so reading from the socket
 * and hashing never wait for the disk unless two batches are pending.
 */
class BatchWriter {
  private chunks: Uint8Array[] = [];
  private batched = 0;
  private pending: Promise<void> = Promise.resolve();
  private writeback: Promise<void> | undefined;
  private writebackError: unknown;
  private sinceWriteback = 0;

  constructor(
    private readonly fh: FileHandle,
    private position: number,
  ) {}

  async push(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
    this.batched += chunk.byteLength;
    if (this.batched >= WRITE_BATCH_BYTES) await this.startWrite();
  }

  /** Waits for the batch in flight, then starts writing the current one without waiting for it. */
  private async startWrite(): Promise<void> {
    await this.pending;
    const chunks = this.chunks;
    const bytes = this.batched;
    const position = this.position;
    this.chunks = [];
    this.batched = 0;
    this.position += bytes;
    const write = this.writeAll(chunks, bytes, position);
    // A failure surfaces at the next push or at flush(); never as an unhandled rejection meanwhile.
    write.catch(() => {});
    this.pending = write;
    this.sinceWriteback += bytes;
    if (this.sinceWriteback >= WRITEBACK_BYTES && !this.writeback) this.startWriteback(write);
  }

  /** fdatasync after `write` lands, in the background; its failure fails the download at flush(). */
  private startWriteback(after: Promise<void>): void {
    this.sinceWriteback = 0;
    this.writeback = after
      .then(() => this.fh.datasync())
      .catch((err: unknown) => {
        this.writebackError ??= err;
      })
      .finally(() => {
        this.writeback = undefined;
      });
  }

  private async writeAll(chunks: Uint8Array[], bytes: number, position: number): Promise<void> {
    let written = 0;
    // writev may write less than asked (e.g. a signal mid-write): keep going until the batch is on disk.
    while (written < bytes) {
      const { bytesWritten } = await this.fh.writev(remaining(chunks, written), position + written);
      written += bytesWritten;
    }
  }

  /** Writes what is batched and waits until every byte pushed is written. */
  async flush(): Promise<void> {
    if (this.batched > 0) await this.startWrite();
    await this.pending;
    await this.writeback;
    if (this.writebackError) throw this.writebackError;
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

/** The bytes already in a partial file, hashed again from disk: the hash state a resume continues from. */
async function hashPrefix(fh: FileHandle, bytes: number): Promise<Hash> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(bytes, 4 * 1024 * 1024) || 1);
  let position = 0;
  while (position < bytes) {
    const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, bytes - position), position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash;
}

/** Where a body starts in the file: 0 for a whole body, `from` for a 206 whose Content-Range says so. */
function bodyStart(res: Response, from: number, size: number): number | undefined {
  if (res.status === 200) return 0;
  if (res.status !== 206) return undefined;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (!m || Number(m[1]) !== from || Number(m[2]) !== size - 1) return undefined;
  if (m[3] !== '*' && Number(m[3]) !== size) return undefined;
  return from;
}

/**
 * Streams the body into `fh` from `start` on, continuing `hash`; stops as soon as the file would be
 * longer than the manifest says. Returns the bytes received.
 */
async function streamVerified(
  body: AsyncIterable<Uint8Array>,
  fh: FileHandle,
  file: DownloadableFile,
  start: number,
  hash: Hash,
  onBytes: (bytes: number) => void,
): Promise<number> {
  const writer = new BatchWriter(fh, start);
  let size = start;
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > file.size)
        throw checksumError(file, `more than the ${file.size} bytes expected`, { expectedSize: file.size });
      hash.update(chunk);
      await writer.push(chunk);
      onBytes(chunk.byteLength);
    }
  } catch (err) {
    // A cut connection: what arrived is kept for the next attempt to resume from (the sha256 of the
    // whole file still decides). Bytes past the manifest's size are not worth keeping.
    if (!(err instanceof RegistryError)) await writer.flush().catch(() => {});
    throw err;
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
  return size - start;
}

/** What one download moved: bytes over the network, and bytes that were already on disk from before. */
export interface DownloadOutcome {
  bytesDownloaded: number;
  bytesResumed: number;
}

/** open() flags for a partial file: created if absent, never reached through a symbolic link. */
const PARTIAL_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;

async function request(
  file: DownloadableFile,
  fetchImpl: typeof fetch,
  from: number,
  signal?: AbortSignal,
): Promise<Response> {
  const res = await fetchImpl(file.download.url, {
    method: file.download.method,
    // A presigned S3 GET takes Range as is (it is not a signed header); so does the local blob endpoint.
    headers: from > 0 ? { ...file.download.headers, range: `bytes=${from}-` } : file.download.headers,
    ...(signal ? { signal } : {}),
  });
  if (res.ok && res.body) return res;
  const corrupt = res.status === 422 ? await corruptCopyError(res, file) : undefined;
  await res.body?.cancel();
  if (corrupt) throw corrupt;
  if (res.status === 416 && from > 0) return request(file, fetchImpl, 0, signal);
  throw httpError(res.status, file);
}

/** The most of an error answer read: the registry's are a few hundred bytes, and the server is not trusted. */
const ERROR_BODY_MAX_BYTES = 16 * 1024;

/**
 * The registry's blob endpoint answers 422 CHECKSUM_MISMATCH for a blob whose stored copy a scrub or a
 * validation found corrupt: that is an integrity failure (what fixes it is publishing the file again), not
 * an outage. Undefined for any other answer (S3's XML, a proxy's page).
 */
async function corruptCopyError(res: Response, file: DownloadableFile): Promise<RegistryError | undefined> {
  if (!res.headers.get('content-type')?.startsWith('application/json') || !res.body) return undefined;
  const text = await readTextAtMost(res.body, ERROR_BODY_MAX_BYTES).catch(() => undefined);
  if (text === undefined) return undefined;
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    return undefined;
  }
  if (error?.code !== 'CHECKSUM_MISMATCH') return undefined;
  const said = typeof error.message === 'string' ? error.message.slice(0, 300) : 'its stored copy is corrupt';
  return new RegistryError('CHECKSUM_MISMATCH', `${file.path}: the registry refused to serve it: ${said}`, {
    path: file.path,
    status: res.status,
  });
}

/**
 * Downloads one file into `partial` in a single pass that hashes as it writes, resuming from the bytes
 * a killed or failed earlier download left there: their hash is recomputed from disk and only the rest
 * is asked for (HTTP Range). A server that answers the whole body (200) or a range other than the one
 * asked restarts the file from 0. Size and sha256 are verified against the manifest; the file is then
 * 0644 and fsynced. Bytes that fail the check are truncated away (a resume must never build on them);
 * any other failure keeps what was written for the next attempt.
 */
export async function downloadResumable(
  file: DownloadableFile,
  partial: string,
  fetchImpl: typeof fetch,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<DownloadOutcome> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(partial, PARTIAL_FLAGS, FILE_MODE);
    let have = (await fh.stat()).size;
    if (have > file.size) {
      await fh.truncate(0);
      have = 0;
    }
    let hash = await hashPrefix(fh, have);
    if (have === file.size && file.size > 0) {
      if (hash.copy().digest('hex') === file.sha256)
        return await sealed(fh, { bytesDownloaded: 0, bytesResumed: have });
      await fh.truncate(0);
      have = 0;
      hash = createHash('sha256');
    }
    let res = await request(file, fetchImpl, have, signal);
    let start = bodyStart(res, have, file.size);
    if (start === undefined && have > 0) {
      await res.body?.cancel();
      res = await request(file, fetchImpl, 0, signal);
      start = bodyStart(res, 0, file.size);
    }
    if (start === undefined) throw httpError(res.status, file);
    if (start === 0 && have > 0) {
      await fh.truncate(0);
      hash = createHash('sha256');
    }
    let received: number;
    try {
      received = await streamVerified(
        res.body as unknown as AsyncIterable<Uint8Array>,
        fh,
        file,
        start,
        hash,
        onBytes,
      );
    } catch (err) {
      // Bytes that fail the check must never be built on: the next attempt starts from 0.
      if (err instanceof RegistryError && err.code === 'CHECKSUM_MISMATCH') await fh.truncate(0);
      throw err;
    }
    return await sealed(fh, { bytesDownloaded: received, bytesResumed: start });
  } catch (err) {
    // An empty partial file is no head start: leave none behind.
    if (fh && (await fh.stat().catch(() => undefined))?.size === 0) await unlink(partial).catch(() => {});
    throw asDownloadError(err, file, signal);
  } finally {
    await fh?.close();
  }
}

/** Explicit chmod (open()'s mode is filtered by the umask; the runbook wants rw-r--r--), then fsync. */
async function sealed(fh: FileHandle, outcome: DownloadOutcome): Promise<DownloadOutcome> {
  await fh.chmod(FILE_MODE);
  await fh.sync();
  return outcome;
}
