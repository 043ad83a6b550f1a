import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { HEAD_BYTES } from '../../schemas/version.schema.js';
import type { ThreadDigest } from './digest-thread.js';
import { DIRECT_ALIGN, type StagingArea } from './staging-pool.js';

/**
 * Whether O_DIRECT works in a store's folder: unknown until first tried, then remembered (`refused`
 * after EINVAL, e.g. on tmpfs), so a refusal costs one failed open or write per store, not one per blob.
 */
export interface DirectIoSwitch {
  enabled: boolean;
}

/** EINVAL is how Linux refuses O_DIRECT (on open for tmpfs, on a write for some file systems). */
export const isDirectRefused = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'EINVAL';

/** The tmp file of one upload: a direct handle (null when direct I/O is off or refused) and a buffered one. */
export interface SinkFiles {
  /** The O_DIRECT handle while direct writes are in use; null once refused (then closed by `close`). */
  direct: FileHandle | null;
  readonly buffered: FileHandle;
  close(): Promise<void>;
}

/** Creates `path` (exclusively, `mode`) with an O_DIRECT handle where allowed and a buffered handle. */
export async function openSinkFiles(
  path: string,
  mode: number,
  directIo: DirectIoSwitch,
): Promise<SinkFiles> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_DIRECT } = constants;
  let direct: FileHandle | null = null;
  if (directIo.enabled) {
    try {
      direct = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, mode);
    } catch (e) {
      if (!isDirectRefused(e)) throw e;
      directIo.enabled = false;
    }
  }
  const buffered = direct ? await open(path, O_WRONLY) : await open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
  const directHandle = direct;
  return {
    direct,
    buffered,
    close: async () => {
      await directHandle?.close().catch(() => {});
      await buffered.close();
    },
  };
}

/** What a sink proves of the bytes it wrote: sha256, md5 and the sha256 of the first `HEAD_BYTES`. */
export interface SinkDigests {
  readonly sha256: string;
  readonly md5: string;
  readonly headSha256: string;
}

/**
 * sha256 of a file's first `HEAD_BYTES` only, fed the file's bytes in order from `position`: how a staged
 * upload of a file the store already holds is recognised (see `StagedFile`).
 */
class HeadHash {
  private readonly hash = createHash('sha256');

  update(bytes: Uint8Array, position: number): void {
    if (position < HEAD_BYTES) this.hash.update(bytes.subarray(0, HEAD_BYTES - position));
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Where an upload's bytes go as they arrive: written, and hashed into `SinkDigests`. */
export interface UploadSink {
  /** Bytes added so far. */
  readonly received: number;
  add(chunk: Uint8Array): Promise<void>;
  /** Waits until every byte is written and hashed; answers the digests (hex). */
  finish(): Promise<SinkDigests>;
  /** After a failure: waits until no write is in flight (errors ignored), so the files can be closed. */
  settle(): Promise<void>;
}

/**
 * The upload sink for when every staging area is taken: each chunk hashed (sha256, md5, head) on the
 * calling thread and written buffered, one write at a time. Slower than `SlotSink` (md5 on the event
 * loop, page-cache writes), but an upload never waits for another: a publisher on a slow link, or four
 * uploads trickling bytes, can hold every staging area for as long as their bodies last.
 */
export class StreamSink implements UploadSink {
  received = 0;
  private readonly sha256 = createHash('sha256');
  private readonly md5 = createHash('md5');
  private readonly head = new HeadHash();

  constructor(private readonly file: FileHandle) {}

  async add(chunk: Uint8Array): Promise<void> {
    const position = this.received;
    this.received += chunk.length;
    this.sha256.update(chunk);
    this.md5.update(chunk);
    this.head.update(chunk, position);
    await writeFully(this.file, chunk, position);
  }

  async finish(): Promise<SinkDigests> {
    return { sha256: this.sha256.digest('hex'), md5: this.md5.digest('hex'), headSha256: this.head.digest() };
  }

  /** Nothing to wait for: no write outlives the `add` that started it. */
  async settle(): Promise<void> {}
}

/**
 * The write half of `FsBlobStore.write`. Socket chunks are copied into the slots of a staging area; each
 * full slot is hashed with sha256 here, handed to the digest thread for md5 (it reads the slot in place)
 * and written with O_DIRECT, while the next slot fills: up to `slots - 1` writes and md5 updates in
 * flight. A slot is refilled only once both its write and its md5 are done. The last, partial slot is
 * written direct up to its last whole 4 KiB block; the tail goes through the buffered handle.
 *
 * Why: buffered writes of fresh page cache cost ~2.5 s of kernel time per GiB on this VM and one write
 * in flight serialised the socket and the disk; O_DIRECT writes go to the device as they come (the
 * final fsync is then nearly free) at ~0.15 s of kernel time per GiB.
 */
export class SlotSink implements UploadSink {
  received = 0;
  private readonly sha256 = createHash('sha256');
  private readonly head = new HeadHash();
  private readonly busy: Array<Promise<unknown> | null>;
  private readonly slots: Buffer[];
  private current = 0;
  private fill = 0;
  private position = 0;
  private failure: unknown;

  constructor(
    private readonly area: StagingArea,
    private readonly files: SinkFiles,
    private readonly md5: ThreadDigest,
    private readonly directIo: DirectIoSwitch,
  ) {
    this.busy = area.offsets.map(() => null);
    this.slots = area.offsets.map((offset) => area.view(offset));
  }

  async add(chunk: Uint8Array): Promise<void> {
    const { slotBytes } = this.area;
    for (let from = 0; from < chunk.length; ) {
      const n = Math.min(chunk.length - from, slotBytes - this.fill);
      this.slots[this.current]!.set(chunk.subarray(from, from + n), this.fill);
      this.fill += n;
      from += n;
      this.received += n;
      if (this.fill === slotBytes) await this.flush();
    }
  }

  /** Writes the last slot, waits for every write and digest; answers the digests (hex). */
  async finish(): Promise<SinkDigests> {
    if (this.fill > 0) this.launch(true);
    await Promise.all(this.busy);
    if (this.failure !== undefined) throw this.failure;
    return {
      sha256: this.sha256.digest('hex'),
      md5: await this.md5.digest(),
      headSha256: this.head.digest(),
    };
  }

  /** After a failure: waits until no write is in flight (errors ignored), so the files can be closed. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.busy);
    this.md5.drop();
  }

  /** Starts the current slot's write and md5, moves to the next slot and waits until it is free. */
  private async flush(): Promise<void> {
    this.launch(false);
    this.current = (this.current + 1) % this.busy.length;
    const next = this.busy[this.current];
    if (next) {
      await next;
      this.busy[this.current] = null;
    }
    if (this.failure !== undefined) throw this.failure;
  }

  private launch(last: boolean): void {
    const offset = this.area.offsets[this.current]!;
    const length = this.fill;
    const view = this.slots[this.current]!.subarray(0, length);
    this.sha256.update(view);
    this.head.update(view, this.position);
    const work = Promise.all([this.writeSlot(view, this.position, last), this.md5.update(offset, length)]);
    this.busy[this.current] = work.catch((e) => {
      this.failure ??= e;
    });
    this.position += length;
    this.fill = 0;
  }

  private async writeSlot(view: Buffer, position: number, last: boolean): Promise<void> {
    const aligned = last ? view.length - (view.length % DIRECT_ALIGN) : view.length;
    let done = 0;
    if (this.files.direct && aligned > 0) {
      try {
        await writeFully(this.files.direct, view.subarray(0, aligned), position);
        done = aligned;
      } catch (e) {
        if (!isDirectRefused(e)) throw e;
        // Refused on write rather than on open: the rest of this file and the store go buffered.
        this.directIo.enabled = false;
        this.files.direct = null;
      }
    }
    await writeFully(this.files.buffered, view.subarray(done), position + done);
  }
}

async function writeFully(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const r = await file.write(bytes, done, bytes.length - done, position + done);
    if (r.bytesWritten === 0) throw new Error(`write of ${bytes.length - done} bytes wrote nothing`);
    done += r.bytesWritten;
  }
}
