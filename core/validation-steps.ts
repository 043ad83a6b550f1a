import type { LoadError, ValidationReport } from '../schemas/report.schema.js';
import {
  type FinalizeInput,
  StoppedTask,
  type TaskFailure,
  type TaskInput,
} from '../schemas/validation-task.schema.js';
import { RegistryError } from './errors.js';
import type { RegistryDeps } from './ports.js';
import { checkTaskCapacity, type TaskCapacity } from './validation-capacity.js';
import { claimValidation, completeValidation } from './validation-jobs.js';
import { effectiveMemoryBudget, holdsLease, isBackingOff } from './validation-rules.js';
import { signVerifiedVersion } from './version-signatures.js';

/**
 * The two Step Functions task steps around the GPU task, over the ports only (so they run against
 * any MetadataStore in tests); the Lambda entries (lambdas/aws/validation-*.lambda.ts) add AWS wiring
 * and metrics. Also the report recorded when a version fails without the validator ever running, and
 * how an infrastructure failure is named.
 */

export interface PrecheckOutcome extends PrecheckResult {
  /** Set when the pre-check itself failed the version (INSUFFICIENT_DISK / INSUFFICIENT_MEMORY). */
  readonly failedWith?: LoadError;
}

/**
 * Claims the version for this execution (the lease owner is the execution id, which the ECS task
 * inherits), then fails it at once if it cannot fit a validation task.
 */
export async function precheckValidation(
  deps: RegistryDeps,
  capacity: TaskCapacity,
  input: TaskInput,
): Promise<PrecheckOutcome> {
  const ref = { model: input.model, version: input.version };
  const current = await deps.metadata.getVersion(ref);
  if (!current) return { run: false, reason: 'version not found' };

  // A retry of this very step (a lost Lambda response) finds the version already claimed by us.
  let claimed = holdsLease(current, input.executionId) ? current : null;
  if (!claimed) {
    if (current.status === 'UPLOADED' && isBackingOff(current, deps.clock.now().getTime())) {
      return {
        run: false,
        waitUntil: current.validation.notBefore,
        reason: 'backing off before the next attempt',
      };
    }
    claimed = await claimValidation(deps, current, input.executionId);
  }
  if (!claimed)
    return { run: false, reason: `not claimable: ${current.status} or claimed by another execution` };

  const memoryBudgetBytes = effectiveMemoryBudget(claimed, deps.settings);
  const decision = checkTaskCapacity({ totalSizeBytes: claimed.totalSize, memoryBudgetBytes }, capacity);
  if (decision.fits) return { run: true, reason: 'claimed' };

  const now = deps.clock.now();
  await completeValidation(
    deps,
    ref,
    input.executionId,
    notRunReport({
      error: decision.error,
      worker: input.executionId,
      attempt: claimed.validation.attempts,
      memoryBudgetBytes,
      startedAt: now,
      finishedAt: now,
    }),
  );
  return { run: false, reason: decision.error.code, failedWith: decision.error };
}

/**
 * After the ECS task (or its exhausted retries): a version still VALIDATING under this execution's
 * lease will never be settled by anyone else, so it is FAILED with TIMEOUT and a message naming the
 * infrastructure failure. Anything else (already settled, re-claimed by another execution) is left
 * alone: the conditional write on the lease owner makes that race safe.
 */
export async function finalizeValidation(
  deps: RegistryDeps,
  input: FinalizeInput,
): Promise<{ failed: boolean; message?: string }> {
  const ref = { model: input.model, version: input.version };
  const current = await deps.metadata.getVersion(ref);
  // The validator has no signing key: a version it made VERIFIED is signed here.
  if (current?.status === 'VERIFIED') await signVerifiedVersion(deps, current);
  if (!current || !holdsLease(current, input.executionId)) return { failed: false };
  const message = describeInfrastructureFailure(input.failure);
  try {
    await completeValidation(
      deps,
      ref,
      input.executionId,
      notRunReport({
        error: { code: 'TIMEOUT', message },
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

/** `run`: start the ECS task. `waitUntil`: the version is backing off; the state machine waits and asks again. */
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
 * One line naming the infrastructure failure for the version's statusReason: the Step Functions error
 * and, when the cause is an ECS task description, its stop code, reason and container exit codes, so
 * an operator reading `FAILED / TIMEOUT` knows whether capacity, the image or the instance gave out.
 */
export function describeInfrastructureFailure(failure: TaskFailure | undefined): string {
  if (!failure)
    return 'the validation task ended without recording a result (the validator exited before completing)';
  const parts = [`validation infrastructure failed after retries: ${failure.Error}`];
  const cause = failure.Cause?.trim();
  if (cause) {
    let detail = cause;
    try {
      const task = StoppedTask.safeParse(JSON.parse(cause));
      if (task.success) {
        const containers = (task.data.Containers ?? [])
          .map((c) => `${c.Name ?? 'container'} exit ${c.ExitCode ?? '?'}${c.Reason ? ` (${c.Reason})` : ''}`)
          .join(', ');
        const summary = [task.data.StopCode, task.data.StoppedReason, containers].filter(Boolean).join('; ');
        if (summary) detail = summary;
      }
    } catch {
      // not JSON: the cause is already a message
    }
    parts.push(detail);
  }
  const message = parts.join(': ');
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}
