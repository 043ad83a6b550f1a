import type { VersionStatus } from '../schemas/version.schema.js';

/**
 * DESIGN.md's version state machine. A transition not listed here is refused, whoever asks:
 * PENDING_UPLOAD → UPLOADED → VALIDATING → VERIFIED | FAILED; VALIDATING → UPLOADED when a lease
 * expires and the job is retried; VERIFIED ⇄ QUARANTINED; VERIFIED | FAILED → UPLOADED for a
 * re-validation; any → DEPRECATED.
 */
const TRANSITIONS: Readonly<Record<VersionStatus, readonly VersionStatus[]>> = {
  PENDING_UPLOAD: ['UPLOADED', 'DEPRECATED'],
  UPLOADED: ['VALIDATING', 'DEPRECATED'],
  VALIDATING: ['VERIFIED', 'FAILED', 'UPLOADED', 'DEPRECATED'],
  VERIFIED: ['QUARANTINED', 'UPLOADED', 'DEPRECATED'],
  FAILED: ['UPLOADED', 'DEPRECATED'],
  QUARANTINED: ['VERIFIED', 'DEPRECATED'],
  DEPRECATED: [],
};

/** Whether the state machine allows `from` → `to`. */
export function canTransition(from: VersionStatus, to: VersionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states from which `to` may be reached: the condition of a conditional write. */
export function sourcesOf(to: VersionStatus): VersionStatus[] {
  return (Object.keys(TRANSITIONS) as VersionStatus[]).filter((from) => TRANSITIONS[from].includes(to));
}

/** Only a VERIFIED version may be downloaded or aliased. */
export const isServable = (status: VersionStatus): boolean => status === 'VERIFIED';

/**
 * The condition of a conditional write that moves a version from one of `from` to `to`. Throws on a
 * transition the machine does not allow: that is a bug in the caller, never a race.
 */
export function transitionCondition(
  from: readonly VersionStatus[],
  to: VersionStatus,
  leaseOwner?: string,
): { status: VersionStatus[]; leaseOwner?: string } {
  for (const f of from)
    if (f !== to && !canTransition(f, to)) throw new Error(`illegal transition ${f} → ${to}`);
  return { status: [...from], ...(leaseOwner === undefined ? {} : { leaseOwner }) };
}
