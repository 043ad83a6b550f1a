import { RegistryError } from '../../core/errors.js';
import { defaultMemoryBudget } from '../../core/memory-fit.js';
import type { RegistryDeps } from '../../core/ports.js';
import { checkTaskCapacity, type TaskCapacity } from '../../core/validation-capacity.js';
import { claimValidation, completeValidation } from '../../core/validation-jobs.js';
import type { LoadError } from '../../schemas/report.schema.js';
import {
  describeInfrastructureFailure,
  type FinalizeInput,
  notRunReport,
  type PrecheckResult,
  type TaskInput,
} from './validation-task.js';

/**
 * The two Step Functions task steps around the GPU task, over the ports only (so they run against
 * any MetadataStore in tests); the Lambda entries (validation-*.lambda.ts) add AWS wiring and metrics.
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
  let claimed =
    current.status === 'VALIDATING' && current.validation.leaseOwner === input.executionId ? current : null;
  if (!claimed) {
    const notBefore = current.validation.notBefore;
    if (current.status === 'UPLOADED' && notBefore && Date.parse(notBefore) > deps.clock.now().getTime()) {
      return { run: false, waitUntil: notBefore, reason: 'backing off before the next attempt' };
    }
    claimed = await claimValidation(deps, current, input.executionId);
  }
  if (!claimed)
    return { run: false, reason: `not claimable: ${current.status} or claimed by another execution` };

  const memoryBudgetBytes =
    claimed.memoryBudgetBytes ??
    defaultMemoryBudget(deps.settings.nodeClasses, deps.settings.defaultMemoryBudgetBytes);
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
  if (current?.status !== 'VALIDATING' || current.validation.leaseOwner !== input.executionId)
    return { failed: false };
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
        memoryBudgetBytes:
          current.memoryBudgetBytes ??
          defaultMemoryBudget(deps.settings.nodeClasses, deps.settings.defaultMemoryBudgetBytes),
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
