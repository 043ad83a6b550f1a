import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { rethrowFsError } from './fs-errors.js';
import { HASH_WORKER_SOURCE } from './hash-worker-source.js';

export type ProgressCallback = (bytes: number) => void;

export interface PublishHashes {
  size: number;
  sha256: string;
  md5: string;
}

export interface Sha256Result {
  size: number;
  sha256: string;
}

/** Large reads: per-call overhead (thread-pool hop, hash update) vanishes next to the hashing itself. */
const READ_BYTES = 4 * 1024 * 1024;
/** The publish ring: 8 × 2 MiB = 16 MiB shared, whatever the file size, so memory stays flat. */
const SLOT_BYTES = 2 * 1024 * 1024;
const SLOT_COUNT = 8;
const PUBLISH_ALGORITHMS = ['sha256', 'md5'] as const;

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
  } catch (err) {
    return rethrowFsError(err, `cannot read ${path}`);
  } finally {
    await fh.close();
  }
}

/**
 * A ring of slots in one SharedArrayBuffer. The reader fills a free slot, every consumer hashes it, and
 * the slot is free again once all of them acknowledged it: the reader never waits for the slower
 * digest unless the whole ring is in flight.
 */
class SlotRing {
  readonly views: Buffer[];
  private readonly free: number[];
  private readonly waiting: Array<{ resolve: (slot: number) => void; reject: (err: unknown) => void }> = [];
  private readonly pendingAcks: number[];
  private readonly lengths: number[];
  private failure: unknown;

  /** Called with the length of every slot all consumers are done with (the file being hashed sets it). */
  onConsumed: (bytes: number) => void = () => {};

  constructor(
    readonly buffer: SharedArrayBuffer,
    slotBytes: number,
    private readonly consumers: number,
  ) {
    const count = buffer.byteLength / slotBytes;
    this.views = Array.from({ length: count }, (_, i) => Buffer.from(buffer, i * slotBytes, slotBytes));
    this.free = Array.from({ length: count }, (_, i) => i);
    this.pendingAcks = new Array<number>(count).fill(0);
    this.lengths = new Array<number>(count).fill(0);
  }

  acquire(): Promise<number> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const slot = this.free.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Marks a filled slot as in flight to every consumer. */
  publish(slot: number, length: number): void {
    this.pendingAcks[slot] = this.consumers;
    this.lengths[slot] = length;
  }

  ack(slot: number): void {
    const left = (this.pendingAcks[slot] ?? 0) - 1;
    this.pendingAcks[slot] = left;
    if (left > 0) return;
    this.onConsumed(this.lengths[slot] ?? 0);
    this.release(slot);
  }

  release(slot: number): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(slot);
    else this.free.push(slot);
  }

  fail(err: unknown): void {
    this.failure ??= err;
    for (const waiter of this.waiting.splice(0)) waiter.reject(err);
  }
}

interface DigestWorker {
  send(slot: number, length: number): void;
  /** Asks for the digest; resolves once every slot sent before was hashed. */
  finish(): Promise<string>;
  terminate(): Promise<number>;
}

function startDigestWorker(algorithm: string, ring: SlotRing, slotBytes: number): DigestWorker {
  const worker = new Worker(HASH_WORKER_SOURCE, {
    eval: true,
    workerData: { algorithm, ring: ring.buffer, slotBytes },
  });
  // One digest per file, answered in order.
  const pending: Array<{ resolve: (digest: string) => void; reject: (err: unknown) => void }> = [];
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    for (const p of pending.splice(0)) p.reject(err);
    ring.fail(err);
  };
  worker.on('message', (msg: { slot?: number; digest?: string }) => {
    if (msg.digest !== undefined) pending.shift()?.resolve(msg.digest);
    else if (msg.slot !== undefined) ring.ack(msg.slot);
  });
  worker.on('error', fail);
  // Reached when terminated or when the worker died (e.g. out of memory): nothing is pending after a terminate.
  worker.on('exit', (code) => fail(new Error(`${algorithm} worker exited with code ${code}`)));
  return {
    send: (slot, length) => worker.postMessage({ slot, length }),
    finish: () =>
      new Promise<string>((resolve, reject) => {
        if (failure !== undefined) {
          reject(failure);
          return;
        }
        pending.push({ resolve, reject });
        worker.postMessage({ slot: -1, length: 0 });
      }),
    terminate: () => worker.terminate(),
  };
}

/** Reads the whole file once into the ring, handing every filled slot to all workers. Returns the size. */
async function pumpFile(fh: FileHandle, ring: SlotRing, workers: readonly DigestWorker[]): Promise<number> {
  let position = 0;
  for (;;) {
    const slot = await ring.acquire();
    const view = ring.views[slot]!;
    const { bytesRead } = await fh.read(view, 0, view.byteLength, position);
    if (bytesRead === 0) {
      ring.release(slot);
      return position;
    }
    position += bytesRead;
    ring.publish(slot, bytesRead);
    for (const worker of workers) worker.send(slot, bytesRead);
  }
}

/** Hashes the files of one publish, one after the other, with the same ring and worker threads. */
export interface PublishHasher {
  hash(path: string, onProgress?: ProgressCallback): Promise<PublishHashes>;
  close(): Promise<void>;
}

/**
 * sha256 and md5 of files for publishing, each from ONE read of its data: the two digests run on two
 * worker threads in parallel, so the total time is about that of md5 alone (the slower digest). The
 * workers and the 16 MiB ring serve every file of the publish (starting two isolates per file would cost
 * time and, before they are collected, memory). `onProgress` gets the bytes of the file hashed so far.
 */
export function createPublishHasher(): PublishHasher {
  const ring = new SlotRing(
    new SharedArrayBuffer(SLOT_BYTES * SLOT_COUNT),
    SLOT_BYTES,
    PUBLISH_ALGORITHMS.length,
  );
  const workers = PUBLISH_ALGORITHMS.map((algorithm) => startDigestWorker(algorithm, ring, SLOT_BYTES));
  return {
    async hash(path, onProgress) {
      const fh = await openForRead(path);
      let hashed = 0;
      ring.onConsumed = (bytes) => {
        hashed += bytes;
        onProgress?.(hashed);
      };
      try {
        const size = await pumpFile(fh, ring, workers);
        const [sha256, md5] = await Promise.all(workers.map((worker) => worker.finish()));
        return { size, sha256: sha256!, md5: md5! };
      } catch (err) {
        return rethrowFsError(err, `cannot read ${path}`);
      } finally {
        await fh.close();
      }
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

/** `createPublishHasher` for a single file. */
export async function hashForPublish(path: string, onProgress?: ProgressCallback): Promise<PublishHashes> {
  const hasher = createPublishHasher();
  try {
    return await hasher.hash(path, onProgress);
  } finally {
    await hasher.close();
  }
}
