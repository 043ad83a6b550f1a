import { constants } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import type { ThreadDigest } from '../../adapters/fs-blobs/digest-thread.js';
import {
  type DirectIoSwitch,
  isDirectRefused,
  type SinkFiles,
  SlotSink,
} from '../../adapters/fs-blobs/slot-sink.js';
import { DIRECT_ALIGN, type StagingArea } from '../../adapters/fs-blobs/staging-pool.js';
import { RegistryError } from '../../core/errors.js';
import type { ManifestFile, TransferTarget } from '../../schemas/version.schema.js';
import { type DownloadStaging, downloadStaging } from './download-staging.js';
import { fsRegistryError } from './fs-errors.js';

export type DownloadableFile = ManifestFile & { download: TransferTarget };

export const FILE_MODE = 0o644;

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
 * Streams the body into the partial file from `start` on, through `sink` (its thread digest continues
 * the sha256 of the bytes before `start`); stops as soon as the file would be longer than the manifest
 * says. Returns the bytes received.
 */
async function streamVerified(
  body: AsyncIterable<Uint8Array>,
  sink: SlotSink,
  file: DownloadableFile,
  start: number,
  onBytes: (bytes: number) => void,
): Promise<number> {
  let size = start;
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > file.size)
        throw checksumError(file, `more than the ${file.size} bytes expected`, { expectedSize: file.size });
      await sink.add(chunk);
      onBytes(chunk.byteLength);
    }
  } catch (err) {
    // A cut connection: what arrived is kept for the next attempt to resume from (the sha256 of the
    // whole file still decides). Bytes past the manifest's size are not worth keeping.
    if (err instanceof RegistryError) await sink.settle();
    else await sink.drain().catch(() => sink.settle());
    throw err;
  }
  if (size !== file.size) {
    await sink.settle();
    throw checksumError(file, `${size} bytes received, ${file.size} expected`, {
      expectedSize: file.size,
      size,
    });
  }
  const { thread: sha256 } = await sink.finish();
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

/**
 * The partial file: a buffered handle (created if absent) and, where the file system takes it, an
 * O_DIRECT one on the same file for the body's writes. EINVAL (tmpfs on older kernels) is remembered in
 * `directIo`, and every later download writes buffered.
 */
async function openPartial(partial: string, directIo: DirectIoSwitch): Promise<SinkFiles> {
  const buffered = await open(partial, PARTIAL_FLAGS, FILE_MODE);
  let direct: FileHandle | null = null;
  if (directIo.enabled) {
    try {
      direct = await open(partial, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_DIRECT);
    } catch (e) {
      if (!isDirectRefused(e)) {
        await buffered.close();
        throw e;
      }
      directIo.enabled = false;
    }
  }
  const files: SinkFiles = {
    direct,
    buffered,
    close: async () => {
      await direct?.close().catch(() => {});
      await buffered.close();
    },
  };
  return files;
}

/**
 * The first `bytes` of the partial file fed to `digest`, read through the area's first slot: the hash
 * state a resume continues from.
 */
async function hashPrefix(
  fh: FileHandle,
  bytes: number,
  area: StagingArea,
  digest: ThreadDigest,
): Promise<void> {
  const offset = area.offsets[0]!;
  const slot = area.view(offset);
  for (let position = 0; position < bytes; ) {
    const { bytesRead } = await fh.read(slot, 0, Math.min(slot.length, bytes - position), position);
    if (bytesRead === 0) break;
    await digest.update(offset, bytesRead);
    position += bytesRead;
  }
}

/** The sha256 of the whole partial file, when it already has the manifest's size. */
async function digestOfComplete(
  fh: FileHandle,
  size: number,
  area: StagingArea,
  staging: DownloadStaging,
): Promise<string> {
  const digest = staging.sha256();
  try {
    await hashPrefix(fh, size, area, digest);
    return await digest.digest();
  } catch (err) {
    digest.drop();
    throw err;
  }
}

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
 * any other failure keeps what was written for the next attempt, cut to a whole number of 4 KiB blocks.
 *
 * How (see `SlotSink`): the body is copied into the 1 MiB slots of a staging area, the sha256 is
 * computed on a digest thread in place in the slot, and each slot is written with O_DIRECT while the
 * next fills. The main thread only moves bytes; page-cache writes on this VM cost ~2.5 s of kernel time
 * per GiB of fresh memory, and a serving node's cache stays with the model it serves, not the next one.
 * Resumes therefore start at a 4 KiB boundary: a kept prefix is cut down to one.
 */
export async function downloadResumable(
  file: DownloadableFile,
  partial: string,
  fetchImpl: typeof fetch,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<DownloadOutcome> {
  const staging = downloadStaging();
  const area = await staging.pool.acquire();
  let files: SinkFiles | undefined;
  let digest: ThreadDigest | undefined;
  try {
    files = await openPartial(partial, staging.directIo);
    const fh = files.buffered;
    let have = (await fh.stat()).size;
    if (have === file.size && file.size > 0) {
      if ((await digestOfComplete(fh, have, area, staging)) === file.sha256)
        return await sealed(fh, { bytesDownloaded: 0, bytesResumed: have });
      have = 0;
    }
    if (have > file.size) have = 0;
    have -= have % DIRECT_ALIGN;
    await fh.truncate(have);
    digest = staging.sha256();
    await hashPrefix(fh, have, area, digest);
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
      digest.drop();
      digest = staging.sha256();
    }
    const sink = new SlotSink(area, files, { inline: null, thread: digest }, staging.directIo, start);
    digest = undefined; // the sink owns it now
    let received: number;
    try {
      const body = res.body as unknown as AsyncIterable<Uint8Array>;
      received = await streamVerified(body, sink, file, start, onBytes);
    } catch (err) {
      // Bytes that fail the check must never be built on: the next attempt starts from 0. Other bytes
      // are kept up to the last whole 4 KiB block, where a resume's direct writes can start.
      const mismatch = err instanceof RegistryError && err.code === 'CHECKSUM_MISMATCH';
      const size = mismatch ? 0 : ((await fh.stat().catch(() => undefined))?.size ?? 0);
      await fh.truncate(size - (size % DIRECT_ALIGN)).catch(() => {});
      throw err;
    }
    return await sealed(fh, { bytesDownloaded: received, bytesResumed: start });
  } catch (err) {
    digest?.drop();
    // An empty partial file is no head start: leave none behind.
    if (files && (await files.buffered.stat().catch(() => undefined))?.size === 0)
      await unlink(partial).catch(() => {});
    throw asDownloadError(err, file, signal);
  } finally {
    await files?.close();
    area.release(); // after the sink settled: no write or digest of this download still reads the area
  }
}

/** Explicit chmod (open()'s mode is filtered by the umask; the runbook wants rw-r--r--), then fsync. */
async function sealed(fh: FileHandle, outcome: DownloadOutcome): Promise<DownloadOutcome> {
  await fh.chmod(FILE_MODE);
  await fh.sync(); // the direct writes are on the device; this flushes the buffered tail and metadata
  return outcome;
}
