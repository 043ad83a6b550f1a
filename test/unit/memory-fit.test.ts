import { describe, expect, it } from 'vitest';
import { defaultMemoryBudget, fitNodeClasses, versionPeakBytes } from '../../core/memory-fit.js';
import type { FileReport } from '../../schemas/report.schema.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const file = (peak: number, check: FileReport['check'] = 'loaded'): FileReport => ({
  path: 'f',
  sha256: 'a'.repeat(64),
  size: 1,
  format: 'onnx',
  check,
  ok: true,
  peakRssBytes: peak,
  baselineRssBytes: 60 * MiB,
  inputs: [],
  outputs: [],
});

describe('memory fit (the runbook rule: peak × 1.5 ≤ memory)', () => {
  it('counts the runtime baseline once and each loaded file’s own share', () => {
    expect(
      versionPeakBytes({ files: [file(160 * MiB), file(260 * MiB), file(999 * GiB, 'integrity-only')] }),
    ).toBe(60 * MiB + 100 * MiB + 200 * MiB);
    expect(versionPeakBytes({ files: [] })).toBe(0);
  });

  it('judges each node class at the 1.5 headroom boundary', () => {
    const report = { files: [file(1 * GiB)], executionProvider: 'cpu', outcome: 'passed' as const };
    const fits = fitNodeClasses(report, [
      { name: 'exact', memoryBytes: 1.5 * GiB, executionProviders: ['cpu'] },
      { name: 'short', memoryBytes: 1.5 * GiB - 1, executionProviders: ['cpu'] },
      { name: 'gpu-only', memoryBytes: 64 * GiB, executionProviders: ['cuda'] },
    ]);
    expect(fits.map((f) => [f.nodeClass, f.fits])).toEqual([
      ['exact', true],
      ['short', false],
      ['gpu-only', false],
    ]);
    expect(fits[1]!.reason).toContain('× 1.5 >');
  });

  it('fits nothing when validation failed', () => {
    const fits = fitNodeClasses({ files: [], executionProvider: 'cpu', outcome: 'failed' }, [
      { name: 'big', memoryBytes: 64 * GiB, executionProviders: ['cpu'] },
    ]);
    expect(fits[0]!.fits).toBe(false);
  });

  it('defaults the validation budget to the smallest node class', () => {
    expect(defaultMemoryBudget([], 4 * GiB)).toBe(4 * GiB);
    expect(
      defaultMemoryBudget(
        [
          { name: 'a', memoryBytes: 16 * GiB, executionProviders: ['cpu'] },
          { name: 'b', memoryBytes: 2 * GiB, executionProviders: ['cpu'] },
        ],
        4 * GiB,
      ),
    ).toBe(2 * GiB);
  });
});
