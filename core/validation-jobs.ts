import { type LoadError, ValidationReport } from '../schemas/report.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { notFound, RegistryError } from './errors.js';
import { recordValidationOutcome } from './load-reports.js';
import { fitNodeClasses } from './memory-fit.js';
import { eachItem } from './pages.js';
import type { RegistryDeps, VersionRef } from './ports.js';
import { signVerdict } from './provenance.js';
import { isBackingOff, isQueued, mayStartQueued } from './validation-rules.js';
import { transitionCondition } from './version-state.js';

/**
 * The validation job lifecycle, as conditional writes on the version itself:
 * claim (UPLOADED → VALIDATING with a lease), heartbeat (extend the lease), complete
 * (VALIDATING → VERIFIED | FAILED, only by the lease owner), and recovery of leases whose worker died
 * (retried with backoff up to maxValidationAttempts, then FAILED with TIMEOUT).
 *
 * On AWS a validation waits in a Batch job queue, possibly for a long time, before a GPU is free: the
 * version is only *reserved* for the waiting execution then (UPLOADED, `leaseOwner` = the execution,
 * `queuedUntil`), and the lease is taken when the job's container starts (startQueuedValidation). The
 * sweeper never takes a reserved version back; an attempt that dies with its host goes back to the
 * reservation, for the job's next attempt, not to a new execution.
 */

const isConflict = (e: unknown) => e instanceof RegistryError && e.code === 'CONFLICT';

/** The validation queue: UPLOADED versions, oldest update first. */
const uploaded = (deps: RegistryDeps, pageSize: number) =>
  eachItem((cursor) => deps.metadata.listVersionsByStatus('UPLOADED', { limit: pageSize, cursor }));

/** Exponential backoff between attempts: 1 s, 2 s, 4 s … capped at 60 s. */
export const retryBackoffMs = (attempts: number): number =>
  Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));

/**
 * Takes the lease of an UPLOADED version for `worker`: VALIDATING, one more attempt, the lease expiring
 * `settings.leaseMs` from now. Null when its backoff (`notBefore`) has not passed or another worker won
 * the race (the conditional write failed); other store errors are thrown.
 */
export async function claimValidation(
  deps: RegistryDeps,
  version: Version,
  worker: string,
): Promise<Version | null> {
  const now = deps.clock.now();
  if (isBackingOff(version, now.getTime())) return null;
  try {
    return await deps.metadata.updateVersion(version, transitionCondition(['UPLOADED'], 'VALIDATING'), {
      status: 'VALIDATING',
      updatedAt: now.toISOString(),
      validation: {
        attempts: version.validation.attempts + 1,
        leaseOwner: worker,
        leaseExpiresAt: new Date(now.getTime() + deps.settings.leaseMs).toISOString(),
      },
    });
  } catch (e) {
    if (isConflict(e)) return null; // another worker won the race
    throw e;
  }
}

/** Claims the oldest claimable UPLOADED version, if any. `accept` lets a pool skip jobs it cannot fit now. */
export async function claimNext(
  deps: RegistryDeps,
  worker: string,
  accept: (v: Version) => boolean = () => true,
): Promise<Version | null> {
  for await (const candidate of uploaded(deps, 25)) {
    if (!accept(candidate)) continue;
    const claimed = await claimValidation(deps, candidate, worker);
    if (claimed) return claimed;
  }
  return null;
}

/**
 * Extends `worker`'s lease by `settings.leaseMs` from now. False when the version is gone or the lease is
 * no longer `worker`'s (it expired and someone else took the job); other store errors are thrown.
 */
export async function heartbeat(deps: RegistryDeps, ref: VersionRef, worker: string): Promise<boolean> {
  const current = await deps.metadata.getVersion(ref);
  if (!current) return false;
  try {
    await deps.metadata.updateVersion(
      ref,
      { status: ['VALIDATING'], leaseOwner: worker },
      {
        validation: {
          ...current.validation,
          leaseExpiresAt: new Date(deps.clock.now().getTime() + deps.settings.leaseMs).toISOString(),
        },
      },
    );
    return true;
  } catch (e) {
    if (isConflict(e)) return false; // the lease was lost: the job belongs to someone else now
    throw e;
  }
}

/**
 * Records the report and settles the version. Only the lease owner may complete. The report is stored as
 * ValidationReport bounds it: names, messages and lists cut, at most MAX_FILE_REPORT_CHARS per file.
 */
export async function completeValidation(
  deps: RegistryDeps,
  ref: VersionRef,
  worker: string,
  given: ValidationReport,
): Promise<Version> {
  const current = await deps.metadata.getVersion(ref);
  if (!current) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  // The GPU task, the local pool and the Step Functions steps all complete here. Parsing cuts over-long
  // texts and lists (with a marker, never refusing), so a model's megabyte-long names stay out of the
  // version record, the report history and the events, whichever worker wrote the report.
  const bounded = ValidationReport.parse(given);
  const passed = bounded.outcome === 'passed';
  // The fit per node class is the registry's rule, applied here so every validator (local or Batch) gets it.
  const report = { ...bounded, nodeClasses: fitNodeClasses(bounded, deps.settings.nodeClasses) };
  // A pass is signed in the same write that makes it VERIFIED; any other outcome drops older signatures.
  const signatures =
    passed && deps.signer ? await signVerdict(deps.signer, current, report, deps.clock.now()) : undefined;
  const updated = await deps.metadata.updateVersion(
    ref,
    transitionCondition(['VALIDATING'], passed ? 'VERIFIED' : 'FAILED', worker),
    {
      status: passed ? 'VERIFIED' : 'FAILED',
      report,
      ...(passed ? { statusReason: undefined } : { statusReason: report.error }),
      updatedAt: deps.clock.now().toISOString(),
      validation: { attempts: current.validation.attempts },
      signatures,
    },
  );
  await deps.metadata.appendReport(ref, report);
  await recordValidationOutcome(deps, updated, worker, {
    error: passed ? undefined : report.error,
    durationMs: report.durationMs,
    peakRssBytes: report.totals.peakRssBytes,
  });
  return updated;
}

/**
 * Gives up a job after an attempt that did not finish (its worker died, or hit an infrastructure error):
 * back to UPLOADED with exponential backoff, or FAILED with TIMEOUT once the attempts are spent.
 * Conditional on the lease owner, so a job that another worker already took over is left alone.
 */
export async function retryOrFail(deps: RegistryDeps, v: Version, why: string): Promise<Version | null> {
  const now = deps.clock.now();
  const exhausted = v.validation.attempts >= deps.settings.maxValidationAttempts;
  // A Batch job's attempt died: its next attempt comes from the queue under the same owner.
  const requeue = isQueued(v, now.getTime());
  const reason: LoadError = {
    code: 'TIMEOUT',
    message: `validation did not finish after ${v.validation.attempts} attempt(s): ${why}`,
  };
  try {
    const updated = await deps.metadata.updateVersion(
      v,
      transitionCondition(['VALIDATING'], exhausted ? 'FAILED' : 'UPLOADED', v.validation.leaseOwner),
      exhausted
        ? {
            status: 'FAILED',
            statusReason: reason,
            updatedAt: now.toISOString(),
            validation: { attempts: v.validation.attempts },
          }
        : {
            status: 'UPLOADED',
            updatedAt: now.toISOString(),
            validation: requeue
              ? {
                  attempts: v.validation.attempts,
                  leaseOwner: v.validation.leaseOwner,
                  queuedUntil: v.validation.queuedUntil,
                }
              : {
                  attempts: v.validation.attempts,
                  notBefore: new Date(now.getTime() + retryBackoffMs(v.validation.attempts)).toISOString(),
                },
          },
    );
    if (exhausted)
      await recordValidationOutcome(deps, updated, v.validation.leaseOwner ?? 'unknown', { error: reason });
    return updated;
  } catch (e) {
    if (isConflict(e)) return null;
    throw e;
  }
}

/**
 * Finds VALIDATING versions whose lease has expired (or that `orphaned` says no live worker holds) and
 * retries or fails them (retryOrFail). Returns the versions it changed.
 */
export async function recoverExpiredLeases(
  deps: RegistryDeps,
  orphaned: (v: Version) => boolean = () => false,
): Promise<Version[]> {
  const now = deps.clock.now().getTime();
  const changed: Version[] = [];
  const validating = eachItem((cursor) =>
    deps.metadata.listVersionsByStatus('VALIDATING', { limit: 100, cursor }),
  );
  for await (const listed of validating) {
    if (!isRecoverable(listed, now, orphaned)) continue;
    // The listing may be stale (a DynamoDB index is eventually consistent) and the write below is
    // conditional on the owner only: a lease a heartbeat has just extended must not be taken from a
    // live validator on the strength of an old copy. The version as stored decides.
    const v = await deps.metadata.getVersion(listed);
    if (v?.status !== 'VALIDATING' || !isRecoverable(v, now, orphaned)) continue;
    const updated = await retryOrFail(deps, v, 'the worker died or its lease expired');
    if (updated) changed.push(updated);
  }
  return changed;
}

/** Whether a VALIDATING version's lease has expired, or no live worker holds it (`orphaned`). */
function isRecoverable(v: Version, now: number, orphaned: (v: Version) => boolean): boolean {
  const expired = !v.validation.leaseExpiresAt || Date.parse(v.validation.leaseExpiresAt) <= now;
  return expired || orphaned(v);
}

/** Queues a VERIFIED or FAILED version for a new validation (new runtime, new node class). History is kept. */
export async function requestRevalidation(deps: RegistryDeps, ref: VersionRef): Promise<Version> {
  const current = await deps.metadata.getVersion(ref);
  if (!current) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  if (current.status !== 'VERIFIED' && current.status !== 'FAILED')
    throw new RegistryError(
      'CONFLICT',
      `${ref.model}@${ref.version} is ${current.status}: only VERIFIED or FAILED versions can be re-validated`,
      {
        status: current.status,
      },
    );
  const updated = await deps.metadata.updateVersion(ref, transitionCondition([current.status], 'UPLOADED'), {
    status: 'UPLOADED',
    updatedAt: deps.clock.now().toISOString(),
    validation: { attempts: 0 },
  });
  await deps.queue.enqueue(ref);
  return updated;
}

/**
 * The sweep a deployment without an in-process worker pool runs on a schedule (AWS): recovers expired
 * leases, then hands back to the queue every UPLOADED version whose backoff is over and that has waited
 * longer than `staleAfterMs` (a retry, or a commit whose queue message was lost), unless it is reserved
 * for a job waiting in the Batch queue (isQueued). Queues dedupe, so a version started twice is
 * validated once.
 */
export async function requeueStalled(deps: RegistryDeps, staleAfterMs: number): Promise<Version[]> {
  await recoverExpiredLeases(deps);
  const now = deps.clock.now().getTime();
  const requeued: Version[] = [];
  for await (const v of uploaded(deps, 100)) {
    if (isBackingOff(v, now) || isQueued(v, now) || Date.parse(v.updatedAt) > now - staleAfterMs) continue;
    await deps.queue.enqueue(v);
    requeued.push(v);
  }
  return requeued;
}

/**
 * Reserves an UPLOADED version for the job `owner` (a Step Functions execution) submits to the Batch
 * queue, for `holdMs` from now (the execution's own time limit, so the reservation outlives it): no lease
 * and no attempt yet. Null when the version is no longer UPLOADED, is backing off, or is reserved by
 * another execution whose reservation still runs. The write is conditional on the owner it was read
 * with; two executions that both read "unreserved" may both write, and the last one wins: the job start
 * (startQueuedValidation) is conditional on the owner, so only that one validates.
 */
export async function reserveForQueue(
  deps: RegistryDeps,
  version: Version,
  owner: string,
  holdMs: number,
): Promise<Version | null> {
  const now = deps.clock.now();
  if (version.status !== 'UPLOADED' || isBackingOff(version, now.getTime())) return null;
  if (isQueued(version, now.getTime()) && version.validation.leaseOwner !== owner) return null;
  try {
    return await deps.metadata.updateVersion(
      version,
      transitionCondition(['UPLOADED'], 'UPLOADED', version.validation.leaseOwner),
      {
        updatedAt: now.toISOString(),
        validation: {
          attempts: version.validation.attempts,
          leaseOwner: owner,
          queuedUntil: new Date(now.getTime() + holdMs).toISOString(),
        },
      },
    );
  } catch (e) {
    if (isConflict(e)) return null;
    throw e;
  }
}

/**
 * Takes the lease when a queued job of `owner` starts on a GPU: a version reserved for `owner`
 * (UPLOADED), or whose lease `owner` held on an attempt that died with its host (VALIDATING), becomes
 * VALIDATING under `owner` with one more attempt and the lease expiring `settings.leaseMs` from now. The
 * reservation is kept, so that an attempt that dies goes back to the queue (retryOrFail), not to a new
 * execution. Null when the job has nothing to do: the version is settled or another execution's. An
 * attempt after `maxValidationAttempts` died ones fails the version with TIMEOUT and returns null.
 */
export async function startQueuedValidation(
  deps: RegistryDeps,
  ref: VersionRef,
  owner: string,
): Promise<Version | null> {
  const current = await deps.metadata.getVersion(ref);
  if (!current || !mayStartQueued(current, owner)) return null;
  if (current.status === 'VALIDATING' && current.validation.attempts >= deps.settings.maxValidationAttempts) {
    await retryOrFail(deps, current, 'every attempt ended with its host');
    return null;
  }
  const now = deps.clock.now();
  const { queuedUntil } = current.validation;
  try {
    return await deps.metadata.updateVersion(
      ref,
      transitionCondition(['UPLOADED', 'VALIDATING'], 'VALIDATING', owner),
      {
        status: 'VALIDATING',
        updatedAt: now.toISOString(),
        validation: {
          attempts: current.validation.attempts + 1,
          leaseOwner: owner,
          leaseExpiresAt: new Date(now.getTime() + deps.settings.leaseMs).toISOString(),
          ...(queuedUntil ? { queuedUntil } : {}),
        },
      },
    );
  } catch (e) {
    if (isConflict(e)) return null;
    throw e;
  }
}

/**
 * Gives up `owner`'s reservation of an UPLOADED version without spending an attempt: its job ended
 * without ever starting the validation (no GPU capacity before the queue's time limit, an image that
 * cannot be pulled, a misconfigured container). The model was never at fault, so it is not failed; the
 * sweeper queues it again. False when the version is not reserved by `owner`.
 */
export async function releaseReservation(
  deps: RegistryDeps,
  version: Version,
  owner: string,
): Promise<boolean> {
  if (version.status !== 'UPLOADED' || version.validation.leaseOwner !== owner) return false;
  try {
    await deps.metadata.updateVersion(version, transitionCondition(['UPLOADED'], 'UPLOADED', owner), {
      updatedAt: deps.clock.now().toISOString(),
      validation: { attempts: version.validation.attempts },
    });
    return true;
  } catch (e) {
    if (isConflict(e)) return false;
    throw e;
  }
}
