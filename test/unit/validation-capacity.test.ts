import { describe, expect, it } from 'vitest';
import { checkTaskCapacity } from '../../core/validation-capacity.js';

const GiB = 1024 ** 3;
const task = { diskBytes: 100 * GiB, memoryBytes: 13 * GiB };

describe('checkTaskCapacity', () => {
  it('accepts a version that fits, including exactly at both limits', () => {
    expect(checkTaskCapacity({ totalSizeBytes: 1, memoryBudgetBytes: 1 }, task)).toEqual({ fits: true });
    expect(
      checkTaskCapacity({ totalSizeBytes: task.diskBytes, memoryBudgetBytes: task.memoryBytes }, task),
    ).toEqual({
      fits: true,
    });
  });

  it('fails with INSUFFICIENT_DISK when the files exceed the scratch disk, naming both sizes', () => {
    const d = checkTaskCapacity({ totalSizeBytes: task.diskBytes + 1, memoryBudgetBytes: GiB }, task);
    expect(d.fits).toBe(false);
    if (d.fits) return;
    expect(d.error.code).toBe('INSUFFICIENT_DISK');
    expect(d.error.message).toContain(String(task.diskBytes + 1));
    expect(d.error.message).toContain(String(task.diskBytes));
  });

  it('fails with INSUFFICIENT_MEMORY when the budget exceeds what the task can give the model', () => {
    const d = checkTaskCapacity({ totalSizeBytes: GiB, memoryBudgetBytes: task.memoryBytes + 1 }, task);
    expect(d).toMatchObject({ fits: false, error: { code: 'INSUFFICIENT_MEMORY' } });
  });

  it('reports disk first when both are exceeded: a version that cannot be staged is never loaded', () => {
    const d = checkTaskCapacity(
      { totalSizeBytes: task.diskBytes * 2, memoryBudgetBytes: task.memoryBytes * 2 },
      task,
    );
    expect(d).toMatchObject({ fits: false, error: { code: 'INSUFFICIENT_DISK' } });
  });
});
