import { describe, expect, it } from 'vitest';
import {
  deploymentMemoryBudget,
  effectiveMemoryBudget,
  heartbeatIntervalMs,
  holdsLease,
  isBackingOff,
  isValidationPending,
  isVerdictSettled,
  leaseRecoveryIntervalMs,
  whyNotLeaseHolder,
} from '../../core/validation-rules.js';
import type { Version } from '../../schemas/version.schema.js';

const GiB = 1024 ** 3;
const at = (status: Version['status'], validation: Version['validation'] = { attempts: 1 }) => ({
  status,
  validation,
});

describe('the lease', () => {
  it('is held only by its owner, and only while VALIDATING', () => {
    expect(holdsLease(at('VALIDATING', { attempts: 1, leaseOwner: 'w/0' }), 'w/0')).toBe(true);
    expect(holdsLease(at('VALIDATING', { attempts: 1, leaseOwner: 'w/1' }), 'w/0')).toBe(false);
    expect(holdsLease(at('UPLOADED', { attempts: 1, leaseOwner: 'w/0' }), 'w/0')).toBe(false);
    expect(holdsLease(null, 'w/0')).toBe(false);
  });

  it('says why a caller does not hold it', () => {
    expect(whyNotLeaseHolder(null, 'x')).toBe('the version does not exist');
    expect(whyNotLeaseHolder(at('VERIFIED'), 'x')).toBe('the version is VERIFIED, not VALIDATING');
    expect(whyNotLeaseHolder(at('VALIDATING', { attempts: 1, leaseOwner: 'y' }), 'x')).toBe(
      'the lease belongs to y, not this execution',
    );
    expect(whyNotLeaseHolder(at('VALIDATING', { attempts: 1, leaseOwner: 'x' }), 'x')).toBeUndefined();
  });

  it('is extended every third of its length and recovered every half, with floors', () => {
    expect(heartbeatIntervalMs(30_000)).toBe(10_000);
    expect(heartbeatIntervalMs(300)).toBe(250);
    expect(leaseRecoveryIntervalMs(30_000)).toBe(15_000);
    expect(leaseRecoveryIntervalMs(1000)).toBe(1000);
  });
});

describe('the backoff', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('holds until notBefore, and not without one', () => {
    expect(isBackingOff({ validation: { attempts: 1, notBefore: '2026-01-01T00:00:01Z' } }, now)).toBe(true);
    expect(isBackingOff({ validation: { attempts: 1, notBefore: '2026-01-01T00:00:00Z' } }, now)).toBe(false);
    expect(isBackingOff({ validation: { attempts: 1 } }, now)).toBe(false);
  });
});

describe('the memory budget', () => {
  const classes = [
    { name: 'small', memoryBytes: 8 * GiB, executionProviders: ['cpu'] },
    { name: 'big', memoryBytes: 32 * GiB, executionProviders: ['cpu'] },
  ];
  it("is the version's own, else the deployment's", () => {
    expect(effectiveMemoryBudget({ memoryBudgetBytes: GiB }, { defaultMemoryBudgetBytes: 2 * GiB })).toBe(
      GiB,
    );
    expect(effectiveMemoryBudget({}, { defaultMemoryBudgetBytes: 2 * GiB })).toBe(2 * GiB);
    expect(effectiveMemoryBudget(null, { defaultMemoryBudgetBytes: 2 * GiB })).toBe(2 * GiB);
  });
  it("deployment's: the configured one, else the smallest node class, else 4 GiB", () => {
    expect(deploymentMemoryBudget(2 * GiB, classes)).toBe(2 * GiB);
    expect(deploymentMemoryBudget(undefined, classes)).toBe(8 * GiB);
    expect(deploymentMemoryBudget(undefined, [])).toBe(4 * GiB);
  });
});

describe('settled statuses', () => {
  it('a verdict is settled once validation is neither pending nor to come', () => {
    expect(
      ['VERIFIED', 'FAILED', 'QUARANTINED', 'DEPRECATED'].every((s) => isVerdictSettled(s as never)),
    ).toBe(true);
    expect(['PENDING_UPLOAD', 'UPLOADED', 'VALIDATING'].some((s) => isVerdictSettled(s as never))).toBe(
      false,
    );
    expect(isValidationPending('UPLOADED')).toBe(true);
    expect(isValidationPending('PENDING_UPLOAD')).toBe(false);
  });
});
