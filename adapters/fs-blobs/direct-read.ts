import { constants, createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { type DirectIoSwitch, isDirectRefused } from './slot-sink.js';
import { DIRECT_ALIGN, type StagingArea, type StagingPool } from './staging-pool.js';

/** Bytes `start` to `end` inclusive (an HTTP Range, already clamped to the file). */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The file's bytes (or `range`), read with O_DIRECT into the slots of a staging area of `pool`, every
 * slot's read in flight at once. Each chunk is a view valid only until the consumer asks for the next one
 * (its slot is then read into again): a consumer done with a chunk when it asks for the next (a hash
 * update, a socket write awaited to its callback) pays no copy; copying every MiB out of its slot cost
 * ~0.5 s of allocation and GC per GiB served. A range that starts unaligned is read from the 4 KiB
 * boundary below it and sliced.
 *
 * Why: blobs are written with O_DIRECT, so they are not in the page cache, and a buffered read of an
 * uncached file costs ~2.2 s of kernel time per GiB on this VM (page-cache allocation); direct reads skip it.
 * Falls back to a buffered stream when no area is free (memory stays bounded; nothing waits) and, remembered
 * in `directIo`, when the file system refuses O_DIRECT (EINVAL, e.g. tmpfs).
 */
export async function* directChunkViews(
  path: string,
  range: ByteRange | undefined,
  pool: StagingPool,
  directIo: DirectIoSwitch,
): AsyncGenerator<Buffer> {
  const area = directIo.enabled ? pool.tryAcquire() : null;
  if (!area) yield* createReadStream(path, { highWaterMark: 1024 * 1024, ...range }) as AsyncIterable<Buffer>;
  else yield* directChunks(path, range, area, directIo);
}

async function* directChunks(
  path: string,
  range: ByteRange | undefined,
  area: StagingArea,
  directIo: DirectIoSwitch,
): AsyncGenerator<Buffer> {
  const reads: Array<{ slot: number; at: number; bytes: Promise<number> }> = [];
  let handles: ReadHandles | undefined;
  try {
    handles = await ReadHandles.open(path, directIo);
    const start = range?.start ?? 0;
    const end = range ? range.end + 1 : Number.POSITIVE_INFINITY; // exclusive
    const slots = area.offsets.map((offset) => area.view(offset));
    let next = start - (start % DIRECT_ALIGN);
    const h = handles;
    const issue = (slot: number) => {
      reads.push({ slot, at: next, bytes: h.read(slots[slot]!, next) });
      reads.at(-1)!.bytes.catch(() => {}); // awaited in order below; a failure surfaces there
      next += area.slotBytes;
    };
    for (let slot = 0; slot < slots.length && next < end; slot += 1) issue(slot);
    while (reads.length > 0) {
      const { slot, at, bytes } = reads[0]!;
      const got = await bytes;
      reads.shift();
      const from = Math.max(0, start - at);
      const to = Math.min(got, end - at);
      const more = got === area.slotBytes && next < end;
      if (!more) next = end; // end of file or of the range: nothing more to ask
      // A view: the consumer is done with it when it asks for the next chunk; only then is the slot reused.
      if (to > from) yield slots[slot]!.subarray(from, to);
      if (more) issue(slot);
    }
  } finally {
    await Promise.allSettled(reads.map((r) => r.bytes)); // no read may land in a slot after the release
    await handles?.close();
    area.release();
  }
}

/** The file opened with O_DIRECT, or buffered once O_DIRECT is refused (on open or on the first read). */
class ReadHandles {
  private buffered: Promise<FileHandle> | undefined;
  /** The O_DIRECT handle while direct reads are in use; null once refused (the handle is closed by `close`). */
  private direct: FileHandle | null;

  private constructor(
    private readonly path: string,
    private readonly directHandle: FileHandle | null,
    private readonly directIo: DirectIoSwitch,
  ) {
    this.direct = directHandle;
  }

  static async open(path: string, directIo: DirectIoSwitch): Promise<ReadHandles> {
    try {
      return new ReadHandles(path, await open(path, constants.O_RDONLY | constants.O_DIRECT), directIo);
    } catch (e) {
      if (!isDirectRefused(e)) throw e;
      directIo.enabled = false;
      const handles = new ReadHandles(path, null, directIo);
      await handles.bufferedHandle();
      return handles;
    }
  }

  private bufferedHandle(): Promise<FileHandle> {
    this.buffered ??= open(this.path, 'r');
    return this.buffered;
  }

  /** Fills `into` from `position` as far as the file goes; answers the bytes read (short only at the end). */
  async read(into: Buffer, position: number): Promise<number> {
    let done = 0;
    while (done < into.length) {
      const n = await this.readOnce(into.subarray(done), position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  private async readOnce(into: Buffer, position: number): Promise<number> {
    const aligned = position % DIRECT_ALIGN === 0 && into.length % DIRECT_ALIGN === 0;
    if (this.direct && aligned) {
      try {
        return (await this.direct.read(into, 0, into.length, position)).bytesRead;
      } catch (e) {
        if (!isDirectRefused(e)) throw e;
        this.directIo.enabled = false;
        this.direct = null; // closed by `close`, after the reads in flight
      }
    }
    return (await (await this.bufferedHandle()).read(into, 0, into.length, position)).bytesRead;
  }

  async close(): Promise<void> {
    await this.directHandle?.close().catch(() => {});
    if (this.buffered) await (await this.buffered).close().catch(() => {});
  }
}
