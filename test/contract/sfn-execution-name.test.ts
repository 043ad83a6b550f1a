import { describe, expect, it } from 'vitest';
import { executionName, MAX_EXECUTION_NAME_LENGTH } from '../../adapters/sfn-queue/sfn-validation-queue.js';

// SfnValidationQueue.enqueue itself is not run here: no local Step Functions server exists on this
// machine (and a mocked client would prove nothing). What can be proven offline is the naming, on which
// its idempotence rests.
describe('SfnValidationQueue execution names', () => {
  const valid = /^[A-Za-z0-9_-]+$/;

  it('is deterministic for the same version and window, and readable', () => {
    const name = executionName({ model: 'ocr-det', version: '1.2.0' }, 42);
    expect(name).toBe(executionName({ model: 'ocr-det', version: '1.2.0' }, 42));
    expect(name).toMatch(/^ocr-det-1_2_0-[0-9a-f]{12}$/);
  });

  it('changes with the window, so a later re-validation is not swallowed', () => {
    const ref = { model: 'ocr-det', version: '1.2.0' };
    expect(executionName(ref, 42)).not.toBe(executionName(ref, 43));
  });

  it('keeps versions apart that sanitize or split to the same text', () => {
    const pairs = [
      [
        { model: 'a.b', version: '1' },
        { model: 'a_b', version: '1' },
      ],
      [
        { model: 'a-b', version: 'c' },
        { model: 'a', version: 'b-c' },
      ],
      [
        { model: 'm', version: '1+cpu' },
        { model: 'm', version: '1.cpu' },
      ],
    ];
    for (const [x, y] of pairs) expect(executionName(x!, 1)).not.toBe(executionName(y!, 1));
  });

  it('fits Step Functions limits for the longest names the schemas allow', () => {
    const long = { model: `m${'x'.repeat(99)}`, version: `v${'y'.repeat(63)}` };
    const other = { ...long, version: `v${'y'.repeat(62)}z` }; // differs only past the cut
    for (const ref of [long, other]) {
      const name = executionName(ref, 123456);
      expect(name.length).toBeLessThanOrEqual(MAX_EXECUTION_NAME_LENGTH);
      expect(name).toMatch(valid);
    }
    expect(executionName(long, 1)).not.toBe(executionName(other, 1));
  });
});
