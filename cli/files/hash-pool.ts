import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { rethrowFsError } from './fs-errors.js';
import type { Sha256Result } from './hash-file.js';
import { HASH_POOL_WORKER_SOURCE } from './hash-pool-worker-source.js';

/** Large reads: per-call overhead (thread-pool hop, hash update) vanishes next to the hashing itself. */
const READ_BYTES = 4 * 1024 * 1024;
/**
 * Buffers per thread: one read ahead of the hash hides the read (4 of them, 16 MiB, measured no
 * faster on the 1 GiB verify and 15 MiB more RSS).
 */
const READ_DEPTH = 2;
/** Two threads fill the two cores of a small node; more only queue for the same cores and memory. */
const MAX_THREADS = 2;

/** sha256 of whole files on worker threads, several files at once. */
export interface Sha256Pool {
  /**
   * `{ size, sha256 }` of the regular file at `path` (a final symlink is not followed unless
   * `followSymlinks`: publish follows the links its file collection vetted). `onProgress` gets the bytes
   * hashed so far after every read. Rejects with the RegistryError of `rethrowFsError` (FILE_MISSING,
   * PERMISSION_DENIED…) whose message names `path`.
   */
  hash(path: string, options?: HashOptions): Promise<Sha256Result>;
  /** Resolves once the first thread listens (never rejects: a thread that fails rejects its files). */
  readonly started: Promise<void>;
  /** Stops the threads; a file still queued or being hashed is rejected. */
  close(): Promise<void>;
}

export interface HashOptions {
  readonly followSymlinks?: boolean;
  readonly onProgress?: (bytes: number) => void;
}

interface Job {
  id: number;
  path: string;
  options: HashOptions;
  resolve: (result: Sha256Result) => void;
  reject: (err: unknown) => void;
}

type Done =
  | { id: number; size: number; sha256: string }
  | { id: number; error: { code?: string; message: string } };
type Reply = Done | { id: number; hashed: number };

/** The thread count for `files` files: at most one per file, per core and MAX_THREADS. */
export const poolThreads = (files = Number.POSITIVE_INFINITY): number =>
  Math.max(1, Math.min(files, MAX_THREADS, availableParallelism()));

/**
 * Up to `maxThreads` hashing threads (each ~10 MB and READ_DEPTH 4 MiB buffers, reused for every file). The
 * first starts at once, so it is ready by the time the caller knows what to hash; another starts when
 * a file waits and every thread is busy. Hashing on a thread leaves the main thread free to load
 * modules and parse while the first file is read; two threads hash two files on two cores. A file is
 * never held in memory: 8 MiB of buffers per thread, whatever its size.
 */
export function createSha256Pool(maxThreads: number): Sha256Pool {
  const queue: Job[] = [];
  const idle: Worker[] = [];
  const workers: Worker[] = [];
  const running = new Map<Worker, Job>();
  let nextId = 0;
  let closed: Error | undefined;
  let onStarted = () => {};
  const started = new Promise<void>((resolve) => {
    onStarted = resolve;
  });

  const failAll = (err: Error) => {
    closed ??= err;
    onStarted();
    for (const job of queue.splice(0)) job.reject(err);
    for (const job of running.values()) job.reject(err);
    running.clear();
  };
  const settle = (job: Job, reply: Done) => {
    if (!('error' in reply)) {
      job.resolve({ size: reply.size, sha256: reply.sha256 });
      return;
    }
    const err = Object.assign(new Error(reply.error.message), { code: reply.error.code });
    try {
      rethrowFsError(err, `cannot read ${job.path}`);
    } catch (e) {
      job.reject(e);
    }
  };
  const startThread = () => {
    const worker = new Worker(HASH_POOL_WORKER_SOURCE, {
      eval: true,
      workerData: { readBytes: READ_BYTES, depth: READ_DEPTH },
    });
    worker.on('message', (reply: Reply) => {
      if ('ready' in reply) {
        onStarted();
        return;
      }
      const job = running.get(worker);
      if (!job || job.id !== reply.id) return;
      if ('hashed' in reply) {
        job.options.onProgress?.(reply.hashed);
        return;
      }
      running.delete(worker);
      idle.push(worker);
      settle(job, reply);
      dispatch();
    });
    worker.on('error', (err) => failAll(err));
    // Reached when closed or when a thread died (e.g. out of memory): every pending file is refused then.
    worker.on('exit', (code) => failAll(new Error(`sha256 thread exited with code ${code}`)));
    workers.push(worker);
    idle.push(worker);
  };
  const dispatch = () => {
    if (queue.length > idle.length && workers.length < maxThreads) startThread();
    while (idle.length > 0 && queue.length > 0) {
      const worker = idle.pop()!;
      const job = queue.shift()!;
      running.set(worker, job);
      worker.postMessage({
        id: job.id,
        path: job.path,
        follow: job.options.followSymlinks === true,
        progress: job.options.onProgress !== undefined,
      });
    }
  };
  startThread();

  return {
    started,
    hash(path, options = {}) {
      if (closed) return Promise.reject(closed);
      return new Promise((resolve, reject) => {
        queue.push({ id: nextId++, path, options, resolve, reject });
        dispatch();
      });
    },
    async close() {
      failAll(new Error('the sha256 pool was closed'));
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
