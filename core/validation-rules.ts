import type { NodeClass } from '../schemas/node-class.schema.js';
import type { Version, VersionStatus } from '../schemas/version.schema.js';
import { defaultMemoryBudget } from './memory-fit.js';
import { defaultSettings, type RegistrySettings } from './ports.js';

/**
 * The rules of a validation lease, written once for every validator (the local worker pool, the Step
 * Functions task steps, the Batch job): who holds a version, when a retry may start, how often a holder
 * heartbeats, and which memory budget a validation gets.
 */

/**
 * True when `owner` holds the validation lease of `version`: the version is VALIDATING and its lease
 * owner is `owner` (a worker id locally, the Step Functions execution id on AWS). Only the holder may
 * heartbeat, complete or give the job back (validation-jobs.ts makes each of those writes conditional).
 */
export function holdsLease(version: Pick<Version, 'status' | 'validation'> | null, owner: string): boolean {
  return version?.status === 'VALIDATING' && version.validation.leaseOwner === owner;
}

/**
 * Why `owner` does not hold the lease of `version`, in words for a log line, or undefined when it does.
 */
export function whyNotLeaseHolder(
  version: Pick<Version, 'status' | 'validation'> | null,
  owner: string,
): string | undefined {
  if (!version) return 'the version does not exist';
  if (version.status !== 'VALIDATING') return `the version is ${version.status}, not VALIDATING`;
  if (version.validation.leaseOwner !== owner)
    return `the lease belongs to ${version.validation.leaseOwner ?? 'nobody'}, not this execution`;
  return undefined;
}

/**
 * True while `version` is reserved for a validation job of its lease owner (a Step Functions execution)
 * that waits in, or is retried from, the AWS Batch queue: the reservation (`validation.queuedUntil`, an
 * ISO time that outlasts the execution) runs past `nowMs`. Nobody sweeps such a version back or hands it
 * to another execution: a queued job holds no lease, however long it waits for GPU capacity.
 */
export function isQueued(version: Pick<Version, 'validation'>, nowMs: number): boolean {
  const until = version.validation.queuedUntil;
  return version.validation.leaseOwner !== undefined && until !== undefined && Date.parse(until) > nowMs;
}

/**
 * True when a job of `owner` may start validating `version`: it is reserved for `owner` (UPLOADED) or
 * `owner` held its lease on an attempt that died with its host (VALIDATING).
 */
export function mayStartQueued(version: Pick<Version, 'status' | 'validation'>, owner: string): boolean {
  return (
    (version.status === 'UPLOADED' || version.status === 'VALIDATING') &&
    version.validation.leaseOwner === owner
  );
}

/**
 * True while a version given back after a failed attempt waits out its backoff (`validation.notBefore`,
 * an ISO time set by retryOrFail) at `nowMs` (epoch milliseconds): nobody may claim it before then.
 */
export function isBackingOff(version: Pick<Version, 'validation'>, nowMs: number): boolean {
  const notBefore = version.validation.notBefore;
  return notBefore !== undefined && Date.parse(notBefore) > nowMs;
}

/**
 * How often a lease holder extends its lease, in milliseconds: every third of the lease (`leaseMs`), so
 * one missed beat is retried at the next while the lease still runs; at least 250 ms.
 */
export const heartbeatIntervalMs = (leaseMs: number): number => Math.max(250, leaseMs / 3);

/**
 * How often an in-process pool looks for leases whose holder died, in milliseconds: every half lease,
 * at least 1 s, so a dead worker's job waits at most one and a half leases.
 */
export const leaseRecoveryIntervalMs = (leaseMs: number): number => Math.max(1000, leaseMs / 2);

/**
 * The validation budget of `version` in bytes: the one its publisher asked for, else the deployment's
 * (`settings.defaultMemoryBudgetBytes`, which every composition root resolves with deploymentMemoryBudget).
 */
export function effectiveMemoryBudget(
  version: Pick<Version, 'memoryBudgetBytes'> | null | undefined,
  settings: Pick<RegistrySettings, 'defaultMemoryBudgetBytes'>,
): number {
  return version?.memoryBudgetBytes ?? settings.defaultMemoryBudgetBytes;
}

/**
 * The deployment's validation budget in bytes, resolved once by each composition root (embedded server,
 * Lambdas, Batch job) into `settings.defaultMemoryBudgetBytes`: the configured one
 * (`MODELGATE_MEMORY_BUDGET`), else the memory of the smallest serving node class, else 4 GiB.
 */
export function deploymentMemoryBudget(
  configuredBytes: number | undefined,
  nodeClasses: readonly NodeClass[],
): number {
  return configuredBytes ?? defaultMemoryBudget(nodeClasses, defaultSettings.defaultMemoryBudgetBytes);
}

/**
 * The statuses in which validation is still to come or under way; every other status is settled for a
 * caller waiting on a verdict (VERIFIED, FAILED, QUARANTINED, DEPRECATED; PENDING_UPLOAD is before any).
 */
export const VALIDATION_PENDING: readonly VersionStatus[] = ['UPLOADED', 'VALIDATING'];

/** True while a version in `status` waits for validation or is being validated. */
export const isValidationPending = (status: VersionStatus): boolean => VALIDATION_PENDING.includes(status);

/** True when a version in `status` has its verdict: neither PENDING_UPLOAD nor waiting for validation. */
export const isVerdictSettled = (status: VersionStatus): boolean =>
  status !== 'PENDING_UPLOAD' && !isValidationPending(status);
