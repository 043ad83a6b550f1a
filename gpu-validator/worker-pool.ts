import type { RegistryDeps } from '../core/ports.js';
import {
  claimNext,
  completeValidation,
  heartbeat,
  recoverExpiredLeases,
  retryOrFail,
} from '../core/validation-jobs.js';
import { heartbeatIntervalMs, holdsLease, leaseRecoveryIntervalMs } from '../core/validation-rules.js';
import type { ValidationReport } from '../schemas/report.schema.js';
import type { Version } from '../schemas/version.schema.js';

export interface WorkerPoolOptions {
  readonly workers: number;
  /** Unique per server process: lease owners are `${id}/${n}`. */
  readonly id: string;
  /** How often an idle worker looks for work it was not woken for (retries whose backoff ended). */
  readonly pollMs?: number;
  readonly validate: (version: Version, worker: string) => Promise<ValidationReport>;
  /**
   * Memory the pool may hand out to validations at once, and each job's share (core's
   * estimateValidationBytes). A job starts only when its share fits what is left; a single job
   * always may, since its child is held to its own budget anyway.
   */
  readonly memory?: { readonly capacityBytes: number; readonly estimateBytes: (v: Version) => number };
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * The in-process validation workers of the local server. Each worker claims a job (a lease on an
 * UPLOADED version), heartbeats while the engine runs it in a child process, and completes it. A
 * worker never dies with a job: an unexpected error gives the job back for a retry.
 */
export class WorkerPool {
  private stopped = false;
  private readonly wakers = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private recoveryTimer: NodeJS.Timeout | undefined;
  private readonly busy = new Map<string, number>();
  /** Memory shares of the jobs running or being claimed right now. */
  private reservedBytes = 0;

  constructor(
    private readonly deps: RegistryDeps,
    private readonly options: WorkerPoolOptions,
  ) {}

  /** Takes back jobs that a previous server process left VALIDATING, then starts the workers. */
  async start(): Promise<void> {
    const ownedByOthers = (v: Version) => !v.validation.leaseOwner?.startsWith(`${this.options.id}/`);
    const recovered = await recoverExpiredLeases(this.deps, ownedByOthers);
    for (const v of recovered)
      this.log('validation_recovered', { model: v.model, version: v.version, status: v.status });
    for (let n = 0; n < this.options.workers; n++) this.loops.push(this.loop(`${this.options.id}/${n}`));
    this.recoveryTimer = setInterval(() => {
      recoverExpiredLeases(this.deps)
        .then((changed) => {
          for (const v of changed)
            this.log('validation_lease_expired', { model: v.model, version: v.version, status: v.status });
        })
        .catch((e) => this.log('validation_recovery_error', { level: 'error', error: String(e) }));
    }, leaseRecoveryIntervalMs(this.deps.settings.leaseMs));
    this.recoveryTimer.unref();
  }

  wake(): void {
    for (const w of this.wakers) w();
  }

  /** Number of jobs being validated right now. */
  get active(): number {
    return this.busy.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.recoveryTimer);
    this.wake();
    await Promise.all(this.loops);
  }

  private async loop(worker: string): Promise<void> {
    while (!this.stopped) {
      let job: Version | null = null;
      // The share is reserved when a candidate is accepted, before the (async) claim, so two workers
      // cannot both take the last share; a candidate another worker wins gives its share back.
      let share = 0;
      const accept = (v: Version) => {
        this.reservedBytes -= share;
        share = 0;
        if (!this.fits(v)) return false;
        share = this.options.memory?.estimateBytes(v) ?? 0;
        this.reservedBytes += share;
        return true;
      };
      try {
        job = await claimNext(this.deps, worker, accept);
      } catch (e) {
        this.log('validation_claim_error', { level: 'error', worker, error: String(e) });
      }
      if (job) await this.run(job, worker, share);
      else {
        this.reservedBytes -= share;
        await this.idle();
      }
    }
  }

  private fits(v: Version): boolean {
    const memory = this.options.memory;
    if (!memory || this.reservedBytes === 0) return true;
    return this.reservedBytes + memory.estimateBytes(v) <= memory.capacityBytes;
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.options.pollMs ?? 1000);
      this.wakers.add(done);
    });
  }

  private async run(job: Version, worker: string, share: number): Promise<void> {
    const key = `${job.model}@${job.version}`;
    this.busy.set(key, share);
    this.log('validation_started', {
      model: job.model,
      version: job.version,
      provider: job.provider,
      worker,
      attempt: job.validation.attempts,
    });
    const beat = setInterval(() => {
      heartbeat(this.deps, job, worker).catch(() => {});
    }, heartbeatIntervalMs(this.deps.settings.leaseMs));
    try {
      const report = await this.options.validate(job, worker);
      const done = await completeValidation(this.deps, job, worker, report);
      this.log('validation_finished', {
        model: job.model,
        version: job.version,
        provider: job.provider,
        status: done.status,
        durationMs: report.durationMs,
        ...(report.error ? { reason: report.error.code, message: report.error.message } : {}),
      });
    } catch (e) {
      this.log('validation_error', {
        level: 'error',
        model: job.model,
        version: job.version,
        worker,
        error: String(e),
      });
      const current = await this.deps.metadata.getVersion(job).catch(() => null);
      if (current && holdsLease(current, worker))
        await retryOrFail(this.deps, current, `infrastructure error: ${(e as Error).message}`).catch(
          () => {},
        );
    } finally {
      clearInterval(beat);
      this.busy.delete(key);
      this.reservedBytes -= share;
    }
  }

  private log(event: string, fields: Record<string, unknown>): void {
    this.options.log?.(event, fields);
  }
}
