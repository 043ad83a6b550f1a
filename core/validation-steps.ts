import type { LoadError, ValidationReport } from '../schemas/report.schema.js';
import {
  FailedBatchJob,
  type FinalizeInput,
  type TaskFailure,
  type TaskInput,
} from '../schemas/validation-task.schema.js';
import { RegistryError } from './errors.js';
import type { RegistryDeps } from './ports.js';
import { checkTaskCapacity, type TaskCapacity } from './validation-capacity.js';
import {
  claimValidation,
  completeValidation,
  releaseReservation,
  reserveForQueue,
} from './validation-jobs.js';
import {
  effectiveMemoryBudget,
  holdsLease,
  isBackingOff,
  isQueued,
  mayStartQueued,
} from './validation-rules.js';
import { signVerifiedVersion } from './version-signatures.js';

/**
 * The two Step Functions task steps around the GPU validation job, over the ports only (so they run against
 * any MetadataStore in tests); the Lambda entries (lambdas/aws/validation-*.lambda.ts) add AWS wiring
 * and metrics. Also the report recorded when a version fails without the validator ever running, and
 * how an infrastructure failure is named.
 */

export interface PrecheckOutcome extends PrecheckResult {
  /** Set when the pre-check itself failed the version (INSUFFICIENT_DISK / INSUFFICIENT_MEMORY). */
  readonly failedWith?: LoadError;
}

/**
 * Reserves the version for this execution's Batch job (the execution id is the owner; no lease yet: the
 * job takes it when it starts, however long it waited for capacity), or fails it at once, before any GPU
 * starts for nothing, if it cannot fit a validation job. `queueHoldMs` is how long the reservation lasts:
 * the state machine's time limit, so it outlives the execution.
 */
export async function precheckValidation(
  deps: RegistryDeps,
  capacity: TaskCapacity,
  input: TaskInput,
  queueHoldMs: number,
): Promise<PrecheckOutcome> {
  const ref = { model: input.model, version: input.version };
  const current = await deps.metadata.getVersion(ref);
  if (!current) return { run: false, reason: 'version not found' };
  // A retry of this very step (a lost Lambda response) finds the version already reserved by us.
  if (mayStartQueued(current, input.executionId)) return { run: true, reason: 'reserved' };
  if (current.status !== 'UPLOADED') return { run: false, reason: `not claimable: ${current.status}` };
  const now = deps.clock.now().getTime();
  if (isBackingOff(current, now)) {
    return {
      run: false,
      waitUntil: current.validation.notBefore,
      reason: 'backing off before the next attempt',
    };
  }
  if (isQueued(current, now)) return { run: false, reason: 'queued for another execution' };

  const memoryBudgetBytes = effectiveMemoryBudget(current, deps.settings);
  const decision = checkTaskCapacity({ totalSizeBytes: current.totalSize, memoryBudgetBytes }, capacity);
  if (decision.fits) {
    const reserved = await reserveForQueue(deps, current, input.executionId, queueHoldMs);
    return reserved
      ? { run: true, reason: 'reserved' }
      : { run: false, reason: 'taken by another execution' };
  }
  // Too big: claimed only to record the refusal, in one attempt and without a job.
  const claimed = await claimValidation(deps, current, input.executionId);
  if (!claimed) return { run: false, reason: 'taken by another execution' };
  const at = deps.clock.now();
  await completeValidation(
    deps,
    ref,
    input.executionId,
    notRunReport({
      error: decision.error,
      worker: input.executionId,
      attempt: claimed.validation.attempts,
      memoryBudgetBytes,
      startedAt: at,
      finishedAt: at,
    }),
  );
  return { run: false, reason: decision.error.code, failedWith: decision.error };
}

/**
 * After the Batch job (or its exhausted retries), with the failure Step Functions caught, if any:
 * - a version still VALIDATING under this execution's lease will never be settled by anyone else, so it
 *   is FAILED with TIMEOUT (INSUFFICIENT_MEMORY when a container was killed for memory) and a message
 *   naming the failure (`failed`);
 * - a version still only reserved by this execution (UPLOADED: the job never started, or its last
 *   attempt died with its host and was swept back) is released without failing it: the model was never
 *   at fault, and the sweeper queues it again (`released`);
 * - anything else (settled, taken by another execution) is left alone: the conditional writes on the
 *   owner make that race safe.
 */
export async function finalizeValidation(
  deps: RegistryDeps,
  input: FinalizeInput,
): Promise<{ failed: boolean; released?: boolean; message?: string }> {
  const ref = { model: input.model, version: input.version };
  const current = await deps.metadata.getVersion(ref);
  // The validator has no signing key: a version it made VERIFIED is signed here.
  if (current?.status === 'VERIFIED') await signVerifiedVersion(deps, current);
  if (!current || current.validation.leaseOwner !== input.executionId) return { failed: false };
  const message = describeInfrastructureFailure(input.failure);
  if (current.status === 'UPLOADED') {
    const released = await releaseReservation(deps, current, input.executionId);
    return { failed: false, released, message };
  }
  if (!holdsLease(current, input.executionId)) return { failed: false };
  try {
    await completeValidation(
      deps,
      ref,
      input.executionId,
      notRunReport({
        error: { code: infrastructureFailureCode(input.failure), message },
        worker: input.executionId,
        attempt: current.validation.attempts,
        memoryBudgetBytes: effectiveMemoryBudget(current, deps.settings),
        startedAt: new Date(current.updatedAt),
        finishedAt: deps.clock.now(),
      }),
    );
  } catch (e) {
    // The validator settled it between our read and our write: its result stands.
    if (e instanceof RegistryError && e.code === 'CONFLICT') return { failed: false };
    throw e;
  }
  return { failed: true, message };
}

/** `run`: submit the Batch job. `waitUntil`: the version is backing off; the state machine waits and asks again. */
export interface PrecheckResult {
  readonly run: boolean;
  readonly waitUntil?: string;
  readonly reason: string;
}

/** A report for a validation that ended before any file was loaded: nothing was measured. */
export function notRunReport(args: {
  readonly error: LoadError;
  readonly worker: string;
  readonly attempt: number;
  readonly memoryBudgetBytes: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
}): ValidationReport {
  return {
    outcome: 'failed',
    error: args.error,
    runtime: { name: 'none', version: 'none' },
    executionProvider: 'none',
    worker: args.worker,
    attempt: Math.max(1, args.attempt),
    startedAt: args.startedAt.toISOString(),
    finishedAt: args.finishedAt.toISOString(),
    durationMs: Math.max(0, args.finishedAt.getTime() - args.startedAt.getTime()),
    memoryBudgetBytes: args.memoryBudgetBytes,
    files: [],
    totals: { loadMs: 0, inferenceMs: 0, peakRssBytes: 0 },
    nodeClasses: [],
  };
}

const MAX_MESSAGE = 1000;

/**
 * Batch's reason for a container the kernel killed past its hard memory limit. The model's load outgrew
 * the job faster than the validator's watchdog could stop it: the runbook's INSUFFICIENT_MEMORY, not a
 * timeout.
 */
const CONTAINER_OOM = /^OutOfMemoryError\b/;

/**
 * The code a version is failed with when its job ended without a result: INSUFFICIENT_MEMORY when an
 * attempt's container was killed for memory, TIMEOUT (never settled) otherwise.
 */
export function infrastructureFailureCode(
  failure: TaskFailure | undefined,
): 'TIMEOUT' | 'INSUFFICIENT_MEMORY' {
  const job = batchJobOf(failure);
  const oom = (job?.Attempts ?? []).some((a) => CONTAINER_OOM.test(a.Container?.Reason ?? ''));
  return oom ? 'INSUFFICIENT_MEMORY' : 'TIMEOUT';
}

/** The failed Batch job description a Catch carries as its Cause, or undefined for any other cause. */
function batchJobOf(failure: TaskFailure | undefined): FailedBatchJob | undefined {
  const cause = failure?.Cause?.trim();
  if (!cause) return undefined;
  try {
    const job = FailedBatchJob.safeParse(JSON.parse(cause));
    return job.success ? job.data : undefined;
  } catch {
    return undefined; // not JSON: the cause is a message
  }
}

/**
 * One line naming the infrastructure failure for the version's statusReason or a log line: the Step
 * Functions error and, when the cause is a Batch job description, its status reason and each attempt's
 * (exit code, reason), so an operator knows whether capacity, the image, the host or the container gave out.
 */
export function describeInfrastructureFailure(failure: TaskFailure | undefined): string {
  if (!failure)
    return 'the validation job ended without recording a result (the validator exited before completing)';
  const parts = [`validation infrastructure failed after retries: ${failure.Error}`];
  const cause = failure.Cause?.trim();
  if (cause) {
    let detail = cause;
    const job = batchJobOf(failure);
    if (job) {
      const attempts = (job.Attempts ?? []).map((a, i) => {
        const c = a.Container;
        const exit = c?.ExitCode === undefined ? '' : ` exit ${c.ExitCode}`;
        const why = [a.StatusReason, c?.Reason].filter(Boolean).join(', ');
        return `attempt ${i + 1}${exit}${why ? ` (${why})` : ''}`;
      });
      const summary = [job.StatusReason, ...attempts].filter(Boolean).join('; ');
      if (summary) detail = summary;
    }
    parts.push(detail);
  }
  const message = parts.join(': ');
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}
