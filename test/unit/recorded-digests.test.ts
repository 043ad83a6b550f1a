import { describe, expect, it } from 'vitest';
import { withRecordedDigests } from '../../core/recorded-digests.js';
import type { Version } from '../../schemas/version.schema.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function version(
  files: Version['files'],
  reported?: Array<{ path: string; sha256: string; md5?: string }>,
): Version {
  return {
    model: 'm',
    version: '1',
    seq: 1,
    provider: 'p',
    status: 'VERIFIED',
    files,
    totalSize: 0,
    inputShapes: {},
    publisher: 'x',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    validation: { attempts: 1 },
    ...(reported
      ? {
          report: {
            files: reported.map((r) => ({
              ...r,
              size: 1,
              format: 'other',
              check: 'integrity-only',
              ok: true,
              inputs: [],
              outputs: [],
            })),
          } as unknown as Version['report'],
        }
      : {}),
  };
}

describe('withRecordedDigests', () => {
  it('fills the md5 validation recorded for a file declared without one', () => {
    const v = version(
      [{ path: 'w.bin', size: 1, sha256: A, format: 'other' }],
      [{ path: 'w.bin', sha256: A, md5: '1'.repeat(32) }],
    );
    expect(withRecordedDigests(v).files[0]!.md5).toBe('1'.repeat(32));
  });

  it('never replaces a declared md5, even when the report found another', () => {
    const v = version(
      [{ path: 'w.bin', size: 1, sha256: A, md5: '2'.repeat(32), format: 'other' }],
      [{ path: 'w.bin', sha256: A, md5: '1'.repeat(32) }],
    );
    expect(withRecordedDigests(v).files[0]!.md5).toBe('2'.repeat(32));
  });

  it('takes only a report entry for the same path and sha256', () => {
    const v = version(
      [
        { path: 'w.bin', size: 1, sha256: A, format: 'other' },
        { path: 'x.bin', size: 1, sha256: B, format: 'other' },
      ],
      [
        { path: 'w.bin', sha256: B, md5: '1'.repeat(32) },
        { path: 'y.bin', sha256: B, md5: '3'.repeat(32) },
      ],
    );
    expect(withRecordedDigests(v).files.map((f) => f.md5)).toEqual([undefined, undefined]);
  });

  it('leaves a version without a report (not validated yet) as it is', () => {
    const v = version([{ path: 'w.bin', size: 1, sha256: A, format: 'other' }]);
    expect(withRecordedDigests(v)).toBe(v);
  });
});
