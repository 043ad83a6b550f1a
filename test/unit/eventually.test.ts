import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';

describe('eventually', () => {
  it('resolves with the first value that is not undefined or false, probing again until then', async () => {
    let calls = 0;
    const value = await eventually(
      () => (++calls >= 3 ? `after ${calls}` : calls === 1 ? undefined : false),
      {
        intervalMs: 1,
      },
    );
    expect(value).toBe('after 3');
    expect(calls).toBe(3);
  });

  it('treats a thrown error as not yet, and names it with what was awaited on timeout', async () => {
    let calls = 0;
    const waiting = eventually(
      () => {
        calls++;
        expect(calls).toBe(-1);
        return true;
      },
      { what: 'the impossible', timeoutMs: 50, intervalMs: 5 },
    );
    await expect(waiting).rejects.toThrow(
      /timed out after 50 ms waiting for the impossible: .*expected \d+ to be -1/,
    );
    expect(calls).toBeGreaterThan(1);
  });

  it('awaits asynchronous probes', async () => {
    const started = Date.now();
    const value = await eventually(async () => (Date.now() - started >= 30 ? 42 : undefined), {
      intervalMs: 5,
    });
    expect(value).toBe(42);
  });
});
