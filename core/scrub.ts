import type { AffectedVersion, ScrubReport } from '../schemas/scrub.schema.js';
import { RegistryError } from './errors.js';
import type { BlobInfo, RegistryDeps } from './ports.js';

/**
 * Scrubbing: every stored blob is re-read and re-hashed at a bounded rate, in the background of the
 * server. A blob whose bytes do not hash to its name is marked corrupt in the store (BlobStore.markCorrupt),
 * which makes publish ask for it again, so re-publishing the same files repairs it. The report names the
 * versions that hold a corrupt blob.
 *
 * What the scrubber knows to have been corrupt is kept in memory: `repaired` counts blobs found corrupt
 * (by a scrub, or marked corrupt by a validation) since the server started that hash right now.
 */

/** The background scrub of a server; absent where nothing can run in the background (Lambda). */
export interface ScrubService {
  /** Starts a scrub unless one is running (default rate: the service's); answers the running one's report. */
  start(bytesPerSecond?: number): ScrubReport;
  current(): ScrubReport;
  /** Re-hashes these blobs now (a node reported a checksum mismatch) and marks the corrupt ones. */
  checkNow(blobs: readonly BlobInfo[]): Promise<void>;
  /** Ends a running scrub (server shutdown) and waits for it. */
  stop(): Promise<void>;
}

/** What a Scrubber needs besides the registry: a sleep and a monotonic clock (injected for tests), rates. */
export interface ScrubberOptions {
  readonly sleep: (ms: number) => Promise<void>;
  /** Milliseconds from any fixed origin (performance.now): the rate is measured against it. */
  readonly monotonicMs: () => number;
  /** Rate of a scrub that names none, and of `checkNow`. */
  readonly defaultBytesPerSecond: number;
  /** A scrub that failed is reported here as well as in its report. */
  readonly onError?: (error: unknown) => void;
}

const emptyReport = (bytesPerSecond: number): ScrubReport => ({
  state: 'idle',
  bytesPerSecond,
  checked: 0,
  checkedBytes: 0,
  corrupt: 0,
  repaired: 0,
  missing: 0,
  corruptBlobs: [],
  repairedBlobs: [],
  affectedVersions: [],
});

/**
 * A throttle for `bytesPerSecond`: after each chunk it sleeps until the bytes read so far are no ahead of
 * the rate since the start. Cancellation is checked at every chunk.
 */
export function rateLimiter(
  bytesPerSecond: number,
  options: Pick<ScrubberOptions, 'sleep' | 'monotonicMs'>,
  cancelled: () => boolean = () => false,
): (bytes: number) => Promise<void> {
  const start = options.monotonicMs();
  let total = 0;
  return async (bytes) => {
    if (cancelled()) throw new RegistryError('UNAVAILABLE', 'the scrub was stopped');
    total += bytes;
    const ahead = (total / bytesPerSecond) * 1000 - (options.monotonicMs() - start);
    if (ahead > 0) await options.sleep(ahead);
  };
}

/**
 * The background scrub of the local server: one scrub at a time over every stored blob at a bounded rate,
 * its report readable while it runs, `checkNow` for single blobs; see the module comment.
 */
export class Scrubber implements ScrubService {
  private report: ScrubReport;
  private running: Promise<void> | null = null;
  private stopping = false;
  /** Blobs known to have been corrupt: one that hashes right later was repaired. */
  private readonly knownCorrupt = new Set<string>();
  /** Blobs `checkNow` is re-hashing right now. */
  private readonly checking = new Set<string>();

  constructor(
    private readonly deps: Pick<RegistryDeps, 'blobs' | 'metadata' | 'clock'>,
    private readonly options: ScrubberOptions,
  ) {
    this.report = emptyReport(options.defaultBytesPerSecond);
  }

  current(): ScrubReport {
    return structuredClone(this.report);
  }

  start(bytesPerSecond = this.options.defaultBytesPerSecond): ScrubReport {
    if (this.running) return this.current();
    this.stopping = false;
    this.report = {
      ...emptyReport(bytesPerSecond),
      state: 'running',
      startedAt: this.deps.clock.now().toISOString(),
    };
    this.running = this.run(bytesPerSecond).finally(() => {
      this.running = null;
    });
    return this.current();
  }

  /** Resolves when no scrub is running. */
  async settled(): Promise<void> {
    await this.running;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  async checkNow(blobs: readonly BlobInfo[]): Promise<void> {
    const throttle = rateLimiter(this.options.defaultBytesPerSecond, this.options);
    // Many nodes may report the same version at once: each blob is checked by one of them at a time.
    const mine = [...new Map(blobs.map((b) => [b.sha256, b])).values()].filter(
      (b) => !this.checking.has(b.sha256),
    );
    for (const b of mine) this.checking.add(b.sha256);
    try {
      for (const blob of mine) {
        const verdict = await this.deps.blobs.check(blob, throttle);
        if (verdict === 'corrupt') {
          await this.deps.blobs.markCorrupt(blob.sha256);
          this.knownCorrupt.add(blob.sha256);
        }
      }
    } finally {
      for (const b of mine) this.checking.delete(b.sha256);
    }
  }

  private async run(bytesPerSecond: number): Promise<void> {
    const report = this.report;
    const throttle = rateLimiter(bytesPerSecond, this.options, () => this.stopping);
    const corrupt = new Set<string>();
    try {
      for await (const blob of this.deps.blobs.list()) {
        if (this.stopping) throw new RegistryError('UNAVAILABLE', 'the scrub was stopped');
        if ((await this.deps.blobs.stat(blob.sha256))?.corrupt) this.knownCorrupt.add(blob.sha256);
        const verdict = await this.deps.blobs.check(blob, throttle);
        report.checked += 1;
        if (verdict === 'missing') {
          report.missing += 1;
          continue;
        }
        report.checkedBytes += blob.size;
        if (verdict === 'corrupt') {
          await this.deps.blobs.markCorrupt(blob.sha256);
          this.knownCorrupt.add(blob.sha256);
          corrupt.add(blob.sha256);
          report.corrupt += 1;
          report.corruptBlobs.push(blob.sha256);
        } else if (this.knownCorrupt.delete(blob.sha256)) {
          report.repaired += 1;
          report.repairedBlobs.push(blob.sha256);
        }
      }
      report.affectedVersions = await affectedVersions(this.deps, corrupt);
      report.state = 'finished';
    } catch (e) {
      report.state = 'failed';
      report.error = e instanceof Error ? e.message : String(e);
      this.options.onError?.(e);
    }
    report.finishedAt = this.deps.clock.now().toISOString();
  }
}

/** Every version with a file among `corrupt`, walking all models and versions page by page. */
export async function affectedVersions(
  deps: Pick<RegistryDeps, 'metadata'>,
  corrupt: ReadonlySet<string>,
): Promise<AffectedVersion[]> {
  const out: AffectedVersion[] = [];
  if (corrupt.size === 0) return out;
  let modelCursor: string | undefined;
  do {
    const models = await deps.metadata.listModels({ limit: 100, cursor: modelCursor });
    for (const model of models.items) {
      let cursor: string | undefined;
      do {
        const versions = await deps.metadata.listVersions(model.name, { limit: 100, cursor });
        for (const v of versions.items) {
          const paths = v.files.filter((f) => corrupt.has(f.sha256)).map((f) => f.path);
          if (paths.length > 0) out.push({ model: v.model, version: v.version, status: v.status, paths });
        }
        cursor = versions.nextCursor;
      } while (cursor);
    }
    modelCursor = models.nextCursor;
  } while (modelCursor);
  return out;
}
