import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
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
import type { Readable } from 'node:stream';
import { RegistryError } from '../../core/errors.js';
import type { BlobCheck, BlobInfo, BlobStat, BlobStore, Clock } from '../../core/ports.js';
import { isSha256Hex } from '../../schemas/names.schema.js';
import type { TransferTarget } from '../../schemas/version.schema.js';
import type { UrlSigner } from './url-signer.js';

export interface FsBlobStoreOptions {
  /** The folder holding `sha256/ab/<hex>`, `corrupt/<hex>` marks and `tmp/`. */
  readonly root: string;
  readonly signer: UrlSigner;
  /** Base URL of the server's blob endpoint, e.g. http://127.0.0.1:8080 (known only once it listens). */
  readonly publicUrl: () => string;
  readonly clock: Clock;
}

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
  constructor(private readonly options: FsBlobStoreOptions) {}

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
  }

  async check(blob: BlobInfo, throttle?: (bytes: number) => Promise<void>): Promise<BlobCheck> {
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of this.openRead(blob.sha256) as AsyncIterable<Buffer>) {
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
    const expires = Math.floor(this.options.clock.now().getTime() / 1000) + ttlSeconds;
    const sig = this.options.signer.sign({ method, sha256: blob.sha256, size: blob.size, expires });
    const url = `${this.options.publicUrl()}/blobs/sha256/${blob.sha256}?size=${blob.size}&expires=${expires}&sig=${sig}`;
    const headers: Record<string, string> =
      method === 'PUT'
        ? { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) }
        : {};
    return { url, method, headers, expiresAt: new Date(expires * 1000).toISOString() };
  }

  async materialize(blob: BlobInfo, destPath: string): Promise<void> {
    await mkdir(dirname(destPath), { recursive: true, mode: DIR_MODE });
    try {
      await link(this.pathOf(blob.sha256), destPath);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new RegistryError('FILE_MISSING', `blob ${blob.sha256} is not stored`, { sha256: blob.sha256 });
      if (code !== 'EXDEV' && code !== 'EPERM') throw e;
      await copyFile(this.pathOf(blob.sha256), destPath); // another file system: a hard link is impossible
    }
  }

  /** The blob's bytes, or those from `range.start` to `range.end` inclusive (an HTTP Range). */
  openRead(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.pathOf(sha256), { highWaterMark: 1024 * 1024, ...range });
  }

  /**
   * Streams `body` into the store under `sha256`, hashing as it writes. Bytes that differ from the
   * declared hash or size are refused with CHECKSUM_MISMATCH and nothing is stored under that hash.
   */
  async write(
    sha256: string,
    size: number,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    const final = this.pathOf(sha256);
    const existing = await this.stat(sha256);
    if (existing?.size === size && !existing.corrupt) {
      for await (const _ of body); // already stored and verified: drain so the client sees a clean 200
      return;
    }
    const tmp = join(this.tmpDir, `${sha256}.${randomBytes(6).toString('hex')}`);
    const file = await open(tmp, 'wx', BLOB_MODE);
    const hash = createHash('sha256');
    let written = 0;
    try {
      for await (const chunk of body) {
        written += chunk.length;
        if (written > size) throw mismatch(sha256, `more than the declared ${size} bytes`);
        hash.update(chunk);
        await file.write(chunk);
      }
      if (written !== size) throw mismatch(sha256, `${written} bytes instead of the declared ${size}`);
      const actual = hash.digest('hex');
      if (actual !== sha256) throw mismatch(sha256, `the bytes hash to ${actual}`);
      await file.chmod(BLOB_MODE);
      await file.sync();
      await file.close();
      await privateDir(dirname(final));
      await rename(tmp, final);
      await syncDir(dirname(final));
      // The mark names the replaced copy's inode, so it no longer applies; removing it is housekeeping.
      await unlink(this.markPath(sha256)).catch(() => {});
    } catch (e) {
      await file.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw e;
    }
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

const mismatch = (sha256: string, what: string) =>
  new RegistryError('CHECKSUM_MISMATCH', `upload for sha256 ${sha256} rejected: ${what}`, { sha256 });

/** fsync a directory so the rename that put a blob in it survives a power loss. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
