import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { RegistryError } from '../../core/errors.js';
import type { ManifestFile, TransferTarget } from '../../schemas/version.schema.js';
import { fsRegistryError } from './fs-errors.js';
import { type DigestWorker, SlotRing, startDigestWorker } from './hash-file.js';

export type DownloadableFile = ManifestFile & { download: TransferTarget };

export const FILE_MODE = 0o644;
/**
 * Every download goes through a ring of slots in one SharedArrayBuffer: network chunks (16–64 KiB) are
 * copied into the current slot; a full slot is written to disk with one positional write AND hashed by
 * a worker thread at the same time, and is free again once both are done. The socket is only waited for
 * when the whole ring is in flight, never per chunk. 4 × 2 MiB = 8 MiB per download, whatever its size.
 */
const SLOT_BYTES = 2 * 1024 * 1024;
const SLOT_COUNT = 4;
/** Below this many bytes a worker thread (≈ 20 ms and a few MB to start) costs more than it saves. */
const WORKER_MIN_BYTES = 16 * 1024 * 1024;
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

/** sha256 on this thread, for files too small to be worth a worker: same protocol as the worker. */
function inlineDigest(ring: SlotRing): DigestWorker {
  const hash = createHash('sha256');
  return {
    send: (slot, length) => {
      hash.update(ring.views[slot]!.subarray(0, length));
      ring.ack(slot);
    },
    finish: async () => hash.digest('hex'),
    terminate: async () => 0,
  };
}

/**
 * Writes a file from `position` on and hashes it as it goes (see SLOT_BYTES): bytes already in the
 * file (a resume) are read back through the same ring and hashed only. Writes are positional, so
 * several run at once on the thread pool; `settle()` must be awaited before the file is closed.
 */
class HashingWriter {
  private readonly ring: SlotRing;
  private readonly digest: DigestWorker;
  private readonly writes = new Set<Promise<void>>();
  private slot: number | undefined;
  private fill = 0;
  private sinceWriteback = 0;
  private writeback: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly fh: FileHandle,
    private position: number,
    hashBytes: number,
  ) {
    const slotBytes = Math.min(SLOT_BYTES, Math.max(64 * 1024, hashBytes));
    // Two consumers per slot: the digest and the disk write.
    this.ring = new SlotRing(new SharedArrayBuffer(slotBytes * SLOT_COUNT), slotBytes, 2, () => {});
    this.digest =
      hashBytes >= WORKER_MIN_BYTES
        ? startDigestWorker('sha256', this.ring, slotBytes)
        : inlineDigest(this.ring);
  }

  /** Hashes the first `bytes` of the file (already on disk, written by an earlier attempt). */
  async hashExisting(bytes: number): Promise<void> {
    let position = 0;
    while (position < bytes) {
      const slot = await this.ring.acquire();
      const view = this.ring.views[slot]!;
      const { bytesRead } = await this.fh.read(
        view,
        0,
        Math.min(view.byteLength, bytes - position),
        position,
      );
      if (bytesRead === 0) {
        this.ring.release(slot);
        break;
      }
      position += bytesRead;
      this.ring.publish(slot, bytesRead);
      this.digest.send(slot, bytesRead);
      this.ring.ack(slot); // nothing to write: those bytes are on disk
    }
  }

  /** Takes a chunk; returns a promise only when the ring is full and the caller must wait for a slot. */
  push(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (this.slot === undefined) return this.waitAndPush(chunk.subarray(offset));
      const view = this.ring.views[this.slot]!;
      const n = Math.min(chunk.byteLength - offset, view.byteLength - this.fill);
      view.set(chunk.subarray(offset, offset + n), this.fill);
      this.fill += n;
      offset += n;
      if (this.fill === view.byteLength) this.dispatch();
    }
    return undefined;
  }

  private async waitAndPush(rest: Uint8Array): Promise<void> {
    this.slot = await this.ring.acquire();
    this.fill = 0;
    await this.push(rest);
  }

  /** The current slot goes to the digest and to the disk at once. */
  private dispatch(): void {
    const slot = this.slot!;
    const length = this.fill;
    const position = this.position;
    this.slot = undefined;
    this.fill = 0;
    this.position += length;
    this.ring.publish(slot, length);
    this.digest.send(slot, length);
    const write = this.writeAll(this.ring.views[slot]!.subarray(0, length), position).then(
      () => {
        this.ring.ack(slot);
        this.sinceWriteback += length;
        if (this.sinceWriteback >= WRITEBACK_BYTES && !this.writeback) this.startWriteback();
      },
      (err: unknown) => {
        this.failure ??= err;
        this.ring.fail(err);
      },
    );
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  /** fdatasync in the background; its failure fails the download at finish(). */
  private startWriteback(): void {
    this.sinceWriteback = 0;
    this.writeback = this.fh
      .datasync()
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.writeback = undefined;
      });
  }

  private async writeAll(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    // A write may be short (e.g. a signal mid-write): keep going until the slot is on disk.
    while (written < data.byteLength) {
      const { bytesWritten } = await this.fh.write(
        data,
        written,
        data.byteLength - written,
        position + written,
      );
      written += bytesWritten;
    }
  }

  /** Writes the slot being filled, if any: on success, and after a cut connection (kept to resume from). */
  writePending(): void {
    if (this.slot === undefined) return;
    if (this.fill > 0) this.dispatch();
    else {
      this.ring.release(this.slot);
      this.slot = undefined;
    }
  }

  /** Waits until no write nor fdatasync is in flight; never throws. Stops the digest worker. */
  async settle(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
    await this.writeback;
    await this.digest.terminate();
  }

  /** Writes the rest, waits for every write and hash, and returns the sha256 (hex) of the whole file. */
  async finish(): Promise<string> {
    this.writePending();
    while (this.writes.size > 0) await Promise.all([...this.writes]);
    await this.writeback;
    if (this.failure !== undefined) throw this.failure;
    return this.digest.finish();
  }
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
 * Streams the body through `writer` (which writes from `start` on and hashes the file from byte 0);
 * stops as soon as the file would be longer than the manifest says. Returns the bytes received.
 * Whatever happens, no write is still in flight when it returns or throws.
 */
async function streamVerified(
  body: AsyncIterable<Uint8Array>,
  writer: HashingWriter,
  file: DownloadableFile,
  start: number,
  onBytes: (bytes: number) => void,
): Promise<number> {
  let size = start;
  let sha256: string;
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > file.size)
        throw checksumError(file, `more than the ${file.size} bytes expected`, { expectedSize: file.size });
      const wait = writer.push(chunk);
      if (wait) await wait;
      onBytes(chunk.byteLength);
    }
    sha256 = await writer.finish();
  } catch (err) {
    // A cut connection: what arrived is kept for the next attempt to resume from (the sha256 of the
    // whole file still decides). Bytes past the manifest's size are not worth keeping.
    if (!(err instanceof RegistryError)) writer.writePending();
    throw err;
  } finally {
    await writer.settle();
  }
  if (size !== file.size)
    throw checksumError(file, `${size} bytes received, ${file.size} expected`, {
      expectedSize: file.size,
      size,
    });
  if (sha256 !== file.sha256)
    throw checksumError(file, `sha256 ${sha256} does not match the manifest's ${file.sha256}`, {
      expected: file.sha256,
      actual: sha256,
    });
  return size - start;
}

/** The sha256 of the first `bytes` of the file, read back from disk. */
async function hashOnDisk(fh: FileHandle, bytes: number): Promise<string> {
  const writer = new HashingWriter(fh, bytes, bytes);
  try {
    await writer.hashExisting(bytes);
    return await writer.finish();
  } finally {
    await writer.settle();
  }
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
  await res.body?.cancel();
  if (res.status === 416 && from > 0) return request(file, fetchImpl, 0, signal);
  throw httpError(res.status, file);
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
    if (have === file.size && file.size > 0) {
      if ((await hashOnDisk(fh, have)) === file.sha256)
        return await sealed(fh, { bytesDownloaded: 0, bytesResumed: have });
      await fh.truncate(0);
      have = 0;
    }
    let res = await request(file, fetchImpl, have, signal);
    let start = bodyStart(res, have, file.size);
    if (start === undefined && have > 0) {
      await res.body?.cancel();
      res = await request(file, fetchImpl, 0, signal);
      start = bodyStart(res, 0, file.size);
    }
    if (start === undefined) throw httpError(res.status, file);
    if (start === 0 && have > 0) await fh.truncate(0);
    let received: number;
    try {
      // The bytes kept from before are hashed again from disk: the state the rest of the hash continues.
      const writer = new HashingWriter(fh, start, file.size);
      try {
        await writer.hashExisting(start);
      } catch (err) {
        await writer.settle();
        await res.body?.cancel().catch(() => {});
        throw err;
      }
      received = await streamVerified(
        res.body as unknown as AsyncIterable<Uint8Array>,
        writer,
        file,
        start,
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
