import { randomBytes } from 'node:crypto';
import { RegistryError } from '../../core/errors.js';
import type { Clock, ProvenDigests } from '../../core/ports.js';

/**
 * Staged uploads waiting, arriving or unclaimed at once, per store. Each holds a map entry and, once its
 * bytes arrived, a file in `tmp/` until it is claimed or dropped: the bound keeps a publisher that asks
 * for targets and never claims them from growing either without end.
 */
export const MAX_STAGED_UPLOADS = 256;

/** How often dropped uploads' files are looked for, while any upload is staged. */
const SWEEP_INTERVAL_MS = 60_000;

/** A staged upload whose bytes arrived: where they are, and what the store proved about them. */
export interface ReceivedUpload extends ProvenDigests {
  readonly path: string;
  /** sha256 of the first `HEAD_BYTES` (see `StagedFile`). */
  readonly headSha256: string;
}

type Entry =
  | { readonly state: 'waiting'; readonly size: number; readonly ttlMs: number; readonly deadlineMs: number }
  | { readonly state: 'receiving'; readonly size: number; readonly ttlMs: number; cancelled?: boolean }
  | { readonly state: 'received'; readonly upload: ReceivedUpload; readonly deadlineMs: number };

/**
 * The folder store's staged uploads, in memory: a target waits for its bytes until its URL expires; bytes
 * that arrived wait to be claimed for as long again; then both are dropped (the file deleted). A restart
 * forgets them all, and the store's `init` empties `tmp/` with their files.
 */
export class StagedUploads {
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly clock: Clock,
    /** Deletes a dropped upload's file; must not throw. */
    private readonly deleteFile: (path: string) => Promise<void>,
    private readonly limit = MAX_STAGED_UPLOADS,
  ) {}

  /** Staged uploads the store holds now, in any state. */
  get size(): number {
    return this.entries.size;
  }

  /** A new upload id for `size` bytes. UNAVAILABLE when `limit` uploads are staged already. */
  open(size: number, ttlSeconds: number): string {
    this.sweep();
    if (this.entries.size >= this.limit)
      throw new RegistryError(
        'UNAVAILABLE',
        `${this.entries.size} staged uploads wait to be sent or claimed: try again once some are committed or dropped`,
      );
    const id = randomBytes(16).toString('hex');
    const ttlMs = ttlSeconds * 1000;
    this.entries.set(id, { state: 'waiting', size, ttlMs, deadlineMs: this.now() + ttlMs });
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();
    return id;
  }

  /**
   * The upload's bytes start to arrive: answers the size its target was made for. NOT_FOUND for an id
   * the store does not hold (dropped, or made before a restart); CONFLICT for one already being sent or sent.
   */
  begin(id: string): number {
    this.sweep();
    const entry = this.entries.get(id);
    if (!entry)
      throw new RegistryError(
        'NOT_FOUND',
        `staged upload ${id} is not held here (its target expired, or the registry restarted): ask for a new target`,
        { field: 'uploadId', uploadId: id },
      );
    if (entry.state !== 'waiting')
      throw new RegistryError('CONFLICT', `staged upload ${id} was already sent: ask for a new target`, {
        field: 'uploadId',
        uploadId: id,
      });
    this.entries.set(id, { state: 'receiving', size: entry.size, ttlMs: entry.ttlMs });
    return entry.size;
  }

  /**
   * The upload's bytes arrived, proven: they wait for a claim as long as the target waited for them,
   * unless the upload was cancelled meanwhile (then they are dropped at once).
   */
  received(id: string, upload: ReceivedUpload): void {
    const entry = this.entries.get(id);
    if (entry?.state !== 'receiving' || entry.cancelled) {
      this.forget(id);
      void this.deleteFile(upload.path);
      return;
    }
    this.entries.set(id, { state: 'received', upload, deadlineMs: this.now() + entry.ttlMs });
  }

  /** The upload's bytes did not arrive whole: the id is spent (its caller removed the file). */
  failed(id: string): void {
    this.forget(id);
  }

  /**
   * Cancels an upload its sender no longer needs: a target not used yet is dropped, bytes that arrived are
   * dropped and their file deleted, bytes still arriving are dropped once they are in (the sender may
   * have sent the last byte before it cancelled). An id the store does not hold is nothing to cancel.
   */
  async cancel(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (entry.state === 'receiving') {
      entry.cancelled = true;
      return;
    }
    this.forget(id);
    if (entry.state === 'received') await this.deleteFile(entry.upload.path);
  }

  /** Takes a received upload out (the caller owns its file from now on); undefined when there is none. */
  take(id: string): ReceivedUpload | undefined {
    this.sweep();
    const entry = this.entries.get(id);
    if (entry?.state !== 'received') return undefined;
    this.forget(id);
    return entry.upload;
  }

  /** Drops every upload past its deadline; uploads still arriving are never dropped. */
  sweep(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      if (entry.state === 'receiving' || entry.deadlineMs > now) continue;
      this.forget(id);
      if (entry.state === 'received') void this.deleteFile(entry.upload.path);
    }
  }

  /** Drops every staged upload and deletes their files (the store closes). */
  async clear(): Promise<void> {
    const files = [...this.entries.values()].flatMap((e) => (e.state === 'received' ? [e.upload.path] : []));
    for (const id of [...this.entries.keys()]) this.forget(id);
    await Promise.all(files.map((f) => this.deleteFile(f)));
  }

  private forget(id: string): void {
    this.entries.delete(id);
    if (this.entries.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}
