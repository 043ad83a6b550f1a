import { describe, expect, it } from 'vitest';
import { parseComputeApps, parseMemoryUsed } from '../../gpu-validator/nvidia-smi.js';

const MIB = 1024 * 1024;

describe('parseComputeApps', () => {
  it('parses `--query-compute-apps=pid,used_memory --format=csv,noheader,nounits` output', () => {
    // nvidia-smi's documented CSV: one line per process and GPU, MiB, ", " separated (no GPU was lent to
    // this task, so this is written to that format rather than captured from a device).
    const sample = '12345, 1536\n23456, 80\n12345, 512\n';
    const usage = parseComputeApps(sample);
    expect(usage.get(12345)).toBe((1536 + 512) * MIB);
    expect(usage.get(23456)).toBe(80 * MIB);
    expect(usage.size).toBe(2);
  });

  it('leaves out lines without a number (MIG, no permission) and blank output', () => {
    expect(parseComputeApps('4242, [N/A]\n\n').size).toBe(0);
    expect(parseComputeApps('').size).toBe(0);
    expect(parseComputeApps('No running processes found\n').size).toBe(0);
  });
});

describe('parseMemoryUsed', () => {
  it('sums every GPU and returns undefined when nothing parses', () => {
    expect(parseMemoryUsed('1024\n2048\n')).toBe(3072 * MIB);
    expect(parseMemoryUsed('[N/A]\n')).toBeUndefined();
  });
});
