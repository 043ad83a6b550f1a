import { createHash, randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RegistryError } from '../../core/errors.js';
import type { BlobCheck, BlobInfo, BlobStat, BlobStore, Clock, ProvenDigests } from '../../core/ports.js';
import { isSha256Hex } from '../../schemas/names.schema.js';
import type { StagedFile, StagedUploadTarget, TransferTarget } from '../../schemas/version.schema.js';
import { DigestThread } from './digest-thread.js';
import { type ByteRange, directChunkViews } from './direct-read.js';
import {
  type DirectIoSwitch,
  openSinkFiles,
  type SinkDigests,
  type SinkFiles,
  SlotSink,
  StreamSink,
  type UploadSink,
} from './slot-sink.js';
import { StagedUploads } from './staged-uploads.js';
import { type StagingLayout, StagingPool } from './staging-pool.js';
import type { UrlSigner } from './url-signer.js';

export interface FsBlobStoreOptions {
  /** The folder holding `sha256/ab/<hex>`, `corrupt/<hex>` marks and `tmp/`. */
  readonly root: string;
  readonly signer: UrlSigner;
  /** Base URL of the server's blob endpoint, e.g. http://127.0.0.1:8080 (known only once it listens). */
  readonly publicUrl: () => string;
  readonly clock: Clock;
  /**
   * Whether to write and read blobs with O_DIRECT (default true). Where the file system refuses it
   * (EINVAL, e.g. tmpfs) the store falls back to buffered I/O by itself, once, and remembers.
   */
  readonly directIo?: boolean;
  /** Staging memory of uploads (default `UPLOAD_STAGING`); for benchmarks and tests. */
  readonly uploadStaging?: StagingLayout;
  /** Staging memory of reads (default `READ_STAGING`); for benchmarks and tests. */
  readonly readStaging?: StagingLayout;
}

/**
 * Uploads' staging memory: 4 areas (4 uploads at once, as many as the CLI sends) of 4 slots of 512 KiB,
 * 8 MiB in all, resident once used and reused by every upload. Slot size measured with
 * `bench/blob-store.ts`: 512 KiB writes 1 GiB at 0.97× md5 against 0.95× for 1 MiB (2 MiB was no faster),
 * and halving the pool kept a server's peak under 143 MiB over repeated 10-file publishes (139 against
 * 153 MiB). A 5th concurrent upload waits at most `UPLOAD_AREA_WAIT_MS` for an area, then is received
 * buffered (`StreamSink`), one chunk in memory at a time, so uploads that hold every area (a publisher on
 * a slow link, clients trickling bytes) hold up no one else for longer than that.
 */
export const UPLOAD_STAGING: StagingLayout = { slotBytes: 512 * 1024, slots: 4, areas: 4 };
/**
 * How long an upload waits for a staging area before it goes buffered (ms): a stalled holder delays
 * others by this much at most. Two 10 × 100 MiB publishes at once (8 uploads for 4 areas), both done in:
 * 5.53–5.81 s waiting without limit, 5.84–6.56 s buffered at once, 5.89–6.07 s with 1 s, 5.61–6.03 s
 * with 5 s and 5.79–5.94 s with 30 s (three rounds each, alternating): differences inside the spread.
 */
export const UPLOAD_AREA_WAIT_MS = 1000;
/**
 * Reads' staging memory (GET, scrub): 4 areas of 4 slots of 1 MiB, 16 MiB in all, four reads in flight. A read that finds
 * no free area is served buffered instead of waiting: a slow client must not hold others up.
 */
export const READ_STAGING: StagingLayout = { slotBytes: 1024 * 1024, slots: 4, areas: 4 };

/** Direct I/O off: how an upload without a staging area opens its file. */
const BUFFERED: DirectIoSwitch = { enabled: false };

/** Blobs are the registry's own: readable by its user only (the data folder is 0700 too). */
const BLOB_MODE = 0o600;
const DIR_MODE = 0o700;

/** mkdir + chmod: the mode given to mkdir is filtered by the umask, this one must be exact. */
async function privateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DIR_MODE });
  await chmod(path, DIR_MODE);
}

/**
 * Content-addressed blob folder. A blob is written to `tmp/`, hashed as it streams, fsynced and only
 * then renamed to its final name, so a crash never leaves a partial blob under a sha256 it does not have.
 *
 * A blob found rotten is marked by `corrupt/<hex>`, a file holding the inode number of the bad copy: the
 * mark applies to that copy only, so an upload that renames good bytes over it (a new inode) repairs the
 * blob even if it races the marking.
 */
export class FsBlobStore implements BlobStore {
  private readonly directWrites: DirectIoSwitch;
  private readonly directReads: DirectIoSwitch;
  private uploads: StagingPool | undefined;
  private reads: StagingPool | undefined;
  private md5Thread: DigestThread | undefined;
  private readonly staged: StagedUploads;

  constructor(private readonly options: FsBlobStoreOptions) {
    this.directWrites = { enabled: options.directIo ?? true };
    this.directReads = { enabled: options.directIo ?? true };
    this.staged = new StagedUploads(options.clock, (path) => unlink(path).catch(() => {}));
  }

  /** Whether uploads and reads still use O_DIRECT (false once the file system refused it). */
  get directIo(): { writes: boolean; reads: boolean } {
    return { writes: this.directWrites.enabled, reads: this.directReads.enabled };
  }

  /** Staging areas held now by uploads and by reads (each pool's areas are bounded: see `UPLOAD_STAGING`). */
  get stagingInUse(): { uploads: number; reads: number } {
    return { uploads: this.uploads?.inUse ?? 0, reads: this.reads?.inUse ?? 0 };
  }

  /** Staged uploads held now: waiting for their bytes, receiving them, or waiting for a claim. */
  get stagedUploads(): number {
    return this.staged.size;
  }

  /**
   * Stops the md5 thread (uploads in flight fail with INTERNAL; the next upload starts a new one) and drops
   * the staged uploads.
   */
  async close(): Promise<void> {
    await this.md5Thread?.terminate();
    await this.staged.clear();
  }

  private uploadPool(): StagingPool {
    this.uploads ??= new StagingPool(this.options.uploadStaging ?? UPLOAD_STAGING);
    return this.uploads;
  }

  /** The md5 thread over the uploads' staging memory, started on first use and again after it died. */
  private md5(): DigestThread {
    if (!this.md5Thread?.alive) this.md5Thread = new DigestThread(this.uploadPool().memory, 'md5');
    return this.md5Thread;
  }

  /** Creates the folders and removes temp files a crashed upload left behind. */
  async init(): Promise<void> {
    await privateDir(this.options.root);
    await privateDir(join(this.options.root, 'sha256'));
    await rm(this.tmpDir, { recursive: true, force: true });
    await privateDir(this.tmpDir);
  }

  private get tmpDir(): string {
    return join(this.options.root, 'tmp');
  }

  pathOf(sha256: string): string {
    if (!isSha256Hex(sha256))
      throw new RegistryError('INVALID_REQUEST', 'sha256: must be 64 lower-case hex digits', {
        field: 'sha256',
      });
    return join(this.options.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  async stat(sha256: string): Promise<BlobStat | null> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(this.pathOf(sha256));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return (await this.markedInode(sha256)) === String(info.ino)
      ? { size: info.size, corrupt: true }
      : { size: info.size };
  }

  private markPath(sha256: string): string {
    return join(this.options.root, 'corrupt', basename(this.pathOf(sha256)));
  }

  /** The inode the corrupt mark names, or null when there is no mark. */
  private async markedInode(sha256: string): Promise<string | null> {
    try {
      return (await readFile(this.markPath(sha256), 'utf8')).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async markCorrupt(sha256: string): Promise<void> {
    let ino: number;
    try {
      ino = (await stat(this.pathOf(sha256))).ino;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await mkdir(join(this.options.root, 'corrupt'), { recursive: true });
    await writeFile(this.markPath(sha256), `${ino}\n`, { mode: 0o600 });
    await unlink(this.verifiedPath(sha256)).catch(() => {}); // proven no more
  }

  async check(blob: BlobInfo, throttle?: (bytes: number) => Promise<void>): Promise<BlobCheck> {
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of this.readChunks(blob.sha256)) {
        hash.update(chunk);
        size += chunk.length;
        await throttle?.(chunk.length);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw e;
    }
    return size === blob.size && hash.digest('hex') === blob.sha256 ? 'intact' : 'corrupt';
  }

  async uploadTarget(blob: BlobInfo, ttlSeconds: number): Promise<TransferTarget> {
    return this.target('PUT', blob, ttlSeconds);
  }

  async downloadTarget(blob: BlobInfo, ttlSeconds: number): Promise<TransferTarget> {
    return this.target('GET', blob, ttlSeconds);
  }

  private target(method: 'PUT' | 'GET', blob: BlobInfo, ttlSeconds: number): TransferTarget {
    return this.signedTarget(method, blob.sha256, `/blobs/sha256/${blob.sha256}`, blob.size, ttlSeconds);
  }

  /**
   * A URL of the blob endpoint (`path`) signed over method, `resource` and size, valid for `ttlSeconds`;
   * a PUT carries the headers of a body of exactly `size` bytes.
   */
  private signedTarget(
    method: 'PUT' | 'GET',
    resource: string,
    path: string,
    size: number,
    ttlSeconds: number,
  ): TransferTarget {
    const expires = Math.floor(this.options.clock.now().getTime() / 1000) + ttlSeconds;
    const sig = this.options.signer.sign({ method, resource, size, expires });
    const url = `${this.options.publicUrl()}${path}?size=${size}&expires=${expires}&sig=${sig}`;
    const headers: Record<string, string> =
      method === 'PUT' ? { 'content-type': 'application/octet-stream', 'content-length': String(size) } : {};
    return { url, method, headers, expiresAt: new Date(expires * 1000).toISOString() };
  }

  /**
   * A hard link (a copy across file systems). Answers the digests of the blob's "verified on write" mark
   * when the link is that very copy; a copy, or a blob without a valid mark, answers null.
   */
  async materialize(blob: BlobInfo, destPath: string): Promise<ProvenDigests | null> {
    await mkdir(dirname(destPath), { recursive: true, mode: DIR_MODE });
    try {
      await link(this.pathOf(blob.sha256), destPath);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new RegistryError('FILE_MISSING', `blob ${blob.sha256} is not stored`, { sha256: blob.sha256 });
      if (code !== 'EXDEV' && code !== 'EPERM') throw e;
      await copyFile(this.pathOf(blob.sha256), destPath); // another file system: a hard link is impossible
      return null;
    }
    const proven = await this.provenDigests(blob.sha256, destPath);
    return proven?.size === blob.size ? proven : null;
  }

  /**
   * The blob's bytes, or those from `range.start` to `range.end` inclusive (an HTTP Range), as views into
   * staging slots, each valid only until the next is asked for (`directChunkViews`): the consumer finishes
   * with a chunk before asking for the next (a hash update; the blob endpoint's socket write) or copies it.
   */
  readChunks(sha256: string, range?: ByteRange): AsyncGenerator<Buffer> {
    this.reads ??= new StagingPool(this.options.readStaging ?? READ_STAGING);
    return directChunkViews(this.pathOf(sha256), range, this.reads, this.directReads);
  }

  /**
   * Streams `body` into the store under `sha256`, hashing as it writes. Bytes that differ from the
   * declared hash or size are refused with CHECKSUM_MISMATCH and nothing is stored under that hash (the
   * tmp file is removed). sha256 and md5 are computed in one pass as the body arrives (see `SlotSink`);
   * the blob is then marked "verified on write" with that md5 (`verified/<hex>`: inode, size, mtime and
   * md5), so validation need not read it again. INTERNAL if the md5 thread dies meanwhile.
   */
  async write(
    sha256: string,
    size: number,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    const existing = await this.stat(sha256);
    if (existing?.size === size && !existing.corrupt) {
      for await (const _ of body); // already stored and verified: drain so the client sees a clean 200
      return;
    }
    const tmp = join(this.tmpDir, `${sha256}.${randomBytes(6).toString('hex')}`);
    const refuse = (what: string) => mismatch(sha256, what);
    const actual = await this.receive(tmp, size, body, refuse);
    try {
      if (actual.sha256 !== sha256) throw refuse(`the bytes hash to ${actual.sha256}`);
      await this.install(tmp, { ...actual, size });
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }

  /**
   * A target for a file whose sha256 the sender does not know yet (`/blobs/uploads/<id>`, signed like a
   * blob URL), or null when a blob stored here has its size and head (`heads/<headSha256>.<size>` names
   * it): see `BlobStore.stagedUploadTarget`. UNAVAILABLE past `MAX_STAGED_UPLOADS`.
   */
  async stagedUploadTarget(file: StagedFile, ttlSeconds: number): Promise<StagedUploadTarget | null> {
    if (await this.holdsHead(file)) return null;
    const uploadId = this.staged.open(file.size, ttlSeconds);
    const path = `/blobs/uploads/${uploadId}`;
    const target = this.signedTarget('PUT', stagedResource(uploadId), path, file.size, ttlSeconds);
    return { uploadId, size: file.size, ...target };
  }

  /**
   * Receives the bytes of a staged upload into `tmp/`, hashing them (sha256 and md5) as `write` does, and
   * keeps them for `claimStagedUpload`. NOT_FOUND for an upload the store does not hold, CONFLICT for one
   * already sent, CHECKSUM_MISMATCH for a body longer or shorter than its target's size.
   */
  async writeStaged(uploadId: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    const size = this.staged.begin(uploadId);
    const tmp = join(this.tmpDir, `upload.${uploadId}`);
    try {
      const refuse = (what: string) =>
        new RegistryError('CHECKSUM_MISMATCH', `staged upload ${uploadId} rejected: ${what}`, {
          field: 'body',
          uploadId,
        });
      const digests = await this.receive(tmp, size, body, refuse);
      this.staged.received(uploadId, { path: tmp, size, ...digests });
    } catch (e) {
      this.staged.failed(uploadId);
      throw e;
    }
  }

  /** Drops a staged upload its sender no longer needs (see `StagedUploads.cancel`); never fails. */
  async cancelStaged(uploadId: string): Promise<void> {
    await this.staged.cancel(uploadId);
  }

  async claimStagedUpload(uploadId: string, blob: BlobInfo): Promise<void> {
    const upload = this.staged.take(uploadId);
    if (!upload)
      throw new RegistryError(
        'INVALID_REQUEST',
        `uploadId: no finished staged upload ${uploadId} (never sent, still arriving, expired, or the registry restarted): publish again`,
        { field: 'uploadId', uploadId },
      );
    try {
      if (upload.size !== blob.size || upload.sha256 !== blob.sha256)
        throw new RegistryError(
          'CHECKSUM_MISMATCH',
          `the bytes sent (${upload.size} bytes, sha256 ${upload.sha256}) are not the file declared with sha256 ${blob.sha256}`,
          { sha256: blob.sha256, actual: upload.sha256, uploadId },
        );
      const existing = await this.stat(blob.sha256);
      if (existing?.size === blob.size && !existing.corrupt) await unlink(upload.path);
      else await this.install(upload.path, upload);
    } catch (e) {
      await unlink(upload.path).catch(() => {});
      throw e;
    }
  }

  /**
   * Streams `body` into a new file `tmp` (created exclusively, mode 0600) through a staging area: sha256
   * and md5 in one pass, direct writes, then the tail, the mode, an mtime a second in the past and an
   * fsync. `refuse(what)` makes the error for a body longer or shorter than `size`. On any error the file
   * is removed. Without a staging area free within `UPLOAD_AREA_WAIT_MS` (see `UPLOAD_STAGING`) the body
   * goes through a `StreamSink` instead: buffered, hashed on this thread.
   */
  private async receive(
    tmp: string,
    size: number,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    refuse: (what: string) => RegistryError,
  ): Promise<SinkDigests> {
    const area = await this.uploadPool().acquireWithin(UPLOAD_AREA_WAIT_MS);
    let files: SinkFiles | undefined;
    let sink: UploadSink | undefined;
    try {
      files = await openSinkFiles(tmp, BLOB_MODE, area ? this.directWrites : BUFFERED);
      sink = area
        ? new SlotSink(area, files, this.md5().start(), this.directWrites)
        : new StreamSink(files.buffered);
      for await (const chunk of body) {
        if (sink.received + chunk.length > size) throw refuse(`more than the declared ${size} bytes`);
        await sink.add(chunk);
      }
      if (sink.received !== size) throw refuse(`${sink.received} bytes instead of the declared ${size}`);
      const actual = await sink.finish();
      await files.buffered.chmod(BLOB_MODE);
      // An mtime a second in the past: any later write in place stamps "now", so it always differs from
      // the one the mark records, even within the file system's clock tick.
      const stamp = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
      await files.buffered.utimes(stamp, stamp);
      await files.buffered.sync(); // the direct writes are on the device; this flushes the tail and metadata
      await files.close();
      files = undefined;
      return actual;
    } catch (e) {
      await sink?.settle();
      await files?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw e;
    } finally {
      area?.release(); // after `settle`: no write or digest of this upload still reads the area
    }
  }

  /**
   * Renames a received, proven file to the blob's name, marks it "verified on write" with its md5, and
   * records its head (`heads/<headSha256>.<size>`, holding the blob's sha256) for `stagedUploadTarget`.
   */
  private async install(tmp: string, blob: SinkDigests & { size: number }): Promise<void> {
    const final = this.pathOf(blob.sha256);
    await privateDir(dirname(final));
    await rename(tmp, final);
    await syncDir(dirname(final));
    // The mark names the replaced copy's inode, so it no longer applies; removing it is housekeeping.
    await unlink(this.markPath(blob.sha256)).catch(() => {});
    await this.markVerified(blob.sha256, blob.md5);
    await privateDir(join(this.options.root, 'heads'));
    const head = join(this.tmpDir, `head.${blob.sha256}.${randomBytes(6).toString('hex')}`);
    await writeFile(head, blob.sha256, { mode: 0o600 });
    await rename(head, this.headPath(blob));
  }

  private headPath(file: StagedFile): string {
    if (!isSha256Hex(file.headSha256) || !Number.isSafeInteger(file.size) || file.size < 0)
      throw new RegistryError('INVALID_REQUEST', 'headSha256: must be 64 lower-case hex digits', {
        field: 'headSha256',
      });
    return join(this.options.root, 'heads', `${file.headSha256}.${file.size}`);
  }

  /**
   * Whether a blob stored intact here has the file's size and head. A head record is a hint only (a
   * crash may leave one for a blob replaced since): the blob it names must still be stored, uncorrupted,
   * with that size. Two files with the same head and size but other bytes cost one hash before the upload.
   */
  private async holdsHead(file: StagedFile): Promise<boolean> {
    let named: string;
    try {
      named = (await readFile(this.headPath(file), 'utf8')).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    if (!isSha256Hex(named)) return false;
    const stored = await this.stat(named);
    return stored?.size === file.size && !stored.corrupt;
  }

  /** Where the blob's "verified on write" mark lives (`verified/<hex>`). */
  verifiedPath(sha256: string): string {
    return join(this.options.root, 'verified', basename(this.pathOf(sha256)));
  }

  /**
   * Records that the stored copy of the blob was hashed to its name while it was written, with its md5
   * from the same pass. The mark names the copy (inode, size, mtime), so a copy replaced or written to
   * since no longer counts as proven. Written by rename: a crash leaves the old mark, none, or this one.
   * A missing mark only costs a re-hash.
   */
  private async markVerified(sha256: string, md5: string): Promise<void> {
    const info = await stat(this.pathOf(sha256), { bigint: true });
    const mark: VerifiedMark = {
      ino: info.ino.toString(),
      size: Number(info.size),
      mtimeNs: info.mtimeNs.toString(),
      md5,
    };
    await privateDir(join(this.options.root, 'verified'));
    const tmp = join(this.tmpDir, `verified.${sha256}.${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, JSON.stringify(mark), { mode: 0o600 });
    await rename(tmp, this.verifiedPath(sha256));
  }

  /**
   * The digests the store proved for the bytes at `path` (the blob itself or a hard link to it): those of
   * the blob's "verified on write" mark when it names that very copy (same inode, size and mtime) and no
   * corrupt mark does; null otherwise, and the caller hashes the bytes itself. A copy tampered with in
   * place without touching its mtime still passes here: the scrub (`check`) re-reads every byte.
   */
  async provenDigests(sha256: string, path = this.pathOf(sha256)): Promise<ProvenDigests | null> {
    let raw: string;
    try {
      raw = await readFile(this.verifiedPath(sha256), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const mark = parseVerifiedMark(raw);
    if (!mark) return null;
    let info: BigIntStats;
    try {
      info = await stat(path, { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const ino = info.ino.toString();
    if (ino !== mark.ino || Number(info.size) !== mark.size || info.mtimeNs.toString() !== mark.mtimeNs)
      return null;
    if ((await this.markedInode(sha256)) === ino) return null;
    return { sha256, md5: mark.md5, size: mark.size };
  }

  /** Every stored blob, by its name and stored size (for integrity sweeps). */
  async *list(): AsyncIterable<BlobInfo> {
    const top = join(this.options.root, 'sha256');
    for (const prefix of await readdir(top).catch(() => [] as string[]))
      for (const name of await readdir(join(top, prefix)).catch(() => [] as string[])) {
        if (!isSha256Hex(name)) continue;
        const info = await this.stat(name);
        if (info) yield { sha256: name, size: info.size };
      }
  }
}

interface VerifiedMark {
  readonly ino: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly md5: string;
}

/** A mark as written by `markVerified`, or null for anything else (a torn or foreign file). */
function parseVerifiedMark(raw: string): VerifiedMark | null {
  if (raw.length > 512) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  const m = value as Partial<Record<keyof VerifiedMark, unknown>> | null;
  if (typeof m !== 'object' || m === null) return null;
  if (typeof m.ino !== 'string' || !/^\d{1,20}$/.test(m.ino)) return null;
  if (typeof m.mtimeNs !== 'string' || !/^\d{1,30}$/.test(m.mtimeNs)) return null;
  if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 0) return null;
  if (typeof m.md5 !== 'string' || !/^[0-9a-f]{32}$/.test(m.md5)) return null;
  return { ino: m.ino, size: m.size, mtimeNs: m.mtimeNs, md5: m.md5 };
}

/** What a staged upload's URL signs in place of a blob's sha256: the two can never be mistaken. */
export const stagedResource = (uploadId: string): string => `uploads/${uploadId}`;

const mismatch = (sha256: string, what: string) =>
  new RegistryError('CHECKSUM_MISMATCH', `upload for sha256 ${sha256} rejected: ${what}`, {
    field: 'body',
    sha256,
  });

/** fsync a directory so the rename that put a blob in it survives a power loss. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
