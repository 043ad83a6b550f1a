import { Worker } from 'node:worker_threads';
import { RegistryError } from '../../core/errors.js';

/**
 * Source of the store's digest thread, run with `new Worker(source, { eval: true })`: an eval worker
 * needs no path resolution, so the same code runs from `dist/` and from TS sources under vitest/tsx.
 *
 * Protocol: workerData = { memory: SharedArrayBuffer, algorithm }. `{ id, offset, length }` hashes that
 * range of the memory into digest `id` (created on first use) and answers `{ id }`; `{ id, offset: -1 }`
 * answers `{ id, digest }` (hex) and forgets `id`; `{ id, offset: -2 }` forgets `id` silently. Messages
 * are handled in order, so answers for one id come in the order asked.
 */
const DIGEST_THREAD_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto')]).then(([threads, crypto]) => {
  const { parentPort, workerData } = threads;
  const memory = new Uint8Array(workerData.memory);
  const digests = new Map();
  parentPort.on('message', ({ id, offset, length }) => {
    if (offset === -2) { digests.delete(id); return; }
    let hash = digests.get(id);
    if (hash === undefined) { hash = crypto.createHash(workerData.algorithm); digests.set(id, hash); }
    if (offset === -1) {
      digests.delete(id);
      parentPort.postMessage({ id, digest: hash.digest('hex') });
      return;
    }
    hash.update(memory.subarray(offset, offset + length));
    parentPort.postMessage({ id });
  });
});
`;

/** One running digest of the thread: updates are answered in order; `digest` ends it. */
export interface ThreadDigest {
  /** Resolves once `length` bytes at `offset` of the shared memory are hashed (the range may then be reused). */
  update(offset: number, length: number): Promise<void>;
  /** Resolves with the hex digest of everything updated so far. */
  digest(): Promise<string>;
  /** Forgets the digest (after a failure); pending answers are dropped. */
  drop(): void;
}

interface Pending {
  resolve(value: string | undefined): void;
  reject(err: unknown): void;
}

/**
 * A digest thread shared by every upload of a store, over the store's staging memory. Started by the
 * first `start`, kept referenced only while a digest is open (an idle store does not keep the process
 * alive). If the thread dies, every open digest fails with INTERNAL and the thread is never used again:
 * the store asks for a new one (`alive`).
 */
export class DigestThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending[]>();
  private nextId = 1;
  private failure: RegistryError | undefined;

  constructor(memory: SharedArrayBuffer, algorithm: string) {
    this.worker = new Worker(DIGEST_THREAD_SOURCE, { eval: true, workerData: { memory, algorithm } });
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; digest?: string }) => {
      const queue = this.pending.get(msg.id);
      const next = queue?.shift();
      if (queue && queue.length === 0 && msg.digest !== undefined) this.forget(msg.id);
      next?.resolve(msg.digest);
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the digest thread exited with code ${code}`)));
  }

  get alive(): boolean {
    return this.failure === undefined;
  }

  /** Stops the thread; open digests fail with INTERNAL. */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  start(): ThreadDigest {
    const id = this.nextId;
    this.nextId += 1;
    this.pending.set(id, []);
    if (this.pending.size === 1) this.worker.ref();
    const ask = (offset: number, length: number) =>
      new Promise<string | undefined>((resolve, reject) => {
        const queue = this.pending.get(id);
        if (this.failure) reject(this.failure);
        else if (!queue) reject(new RegistryError('INTERNAL', 'digest already finished or dropped'));
        else {
          queue.push({ resolve, reject });
          this.worker.postMessage({ id, offset, length });
        }
      });
    return {
      update: async (offset, length) => {
        await ask(offset, length);
      },
      digest: async () => {
        const digest = await ask(-1, 0);
        if (digest === undefined) throw new RegistryError('INTERNAL', 'the digest thread answered no digest');
        return digest;
      },
      drop: () => {
        if (!this.pending.has(id)) return;
        this.forget(id);
        if (this.alive) this.worker.postMessage({ id, offset: -2, length: 0 });
      },
    };
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  private fail(err: unknown): void {
    this.failure ??= new RegistryError('INTERNAL', `digest thread failed: ${(err as Error).message ?? err}`);
    for (const [id, queue] of [...this.pending]) {
      this.forget(id);
      for (const p of queue) p.reject(this.failure);
    }
  }
}
