import { describe, expect, it } from 'vitest';
import { canTransition, isServable, sourcesOf } from '../../core/version-state.js';
import { VersionStatus } from '../../schemas/version.schema.js';

describe('version state machine', () => {
  it('follows DESIGN.md: upload, validate, verdict', () => {
    expect(canTransition('PENDING_UPLOAD', 'UPLOADED')).toBe(true);
    expect(canTransition('UPLOADED', 'VALIDATING')).toBe(true);
    expect(canTransition('VALIDATING', 'VERIFIED')).toBe(true);
    expect(canTransition('VALIDATING', 'FAILED')).toBe(true);
    expect(canTransition('VERIFIED', 'QUARANTINED')).toBe(true);
    expect(canTransition('QUARANTINED', 'VERIFIED')).toBe(true);
  });

  it('never skips validation or revives a deprecated version', () => {
    expect(canTransition('PENDING_UPLOAD', 'VERIFIED')).toBe(false);
    expect(canTransition('UPLOADED', 'VERIFIED')).toBe(false);
    expect(canTransition('FAILED', 'VERIFIED')).toBe(false);
    for (const to of VersionStatus.options) expect(canTransition('DEPRECATED', to)).toBe(false);
  });

  it('lets any live state be deprecated', () => {
    for (const from of VersionStatus.options.filter((s) => s !== 'DEPRECATED'))
      expect(canTransition(from, 'DEPRECATED')).toBe(true);
    expect(sourcesOf('DEPRECATED')).toHaveLength(VersionStatus.options.length - 1);
  });

  it('serves only VERIFIED versions', () => {
    expect(VersionStatus.options.filter(isServable)).toEqual(['VERIFIED']);
  });
});
