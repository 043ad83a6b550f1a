import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { inPool, limiter } from '../../cli/in-pool.js';

/** Work that records how many pieces run at once. */
function counted() {
  let running = 0;
  let most = 0;
  return {
    get most() {
      return most;
    },
    async piece<T>(value: T, ms: number): Promise<T> {
      running++;
      most = Math.max(most, running);
      await sleep(ms);
      running--;
      return value;
    },
  };
}

describe('concurrency bounds of the CLI (publish: files and parts)', () => {
  it("inPool runs at most `limit` items at once and answers in the items' order", async () => {
    const c = counted();
    const out = await inPool([5, 1, 4, 2, 3], 2, (n) => c.piece(n, n * 3));
    expect(out).toEqual([5, 1, 4, 2, 3]);
    expect(c.most).toBe(2);
  });

  it('limiter runs at most `limit` pieces at once, each with its own result, even as new ones arrive', async () => {
    const c = counted();
    const lanes = limiter(3);
    const first = Array.from({ length: 5 }, (_, i) => lanes.run(() => c.piece(i, 5 + i)));
    await first[0]; // a place frees up while others still wait; a newcomer must not squeeze in beside them
    const late = Array.from({ length: 4 }, (_, i) => lanes.run(() => c.piece(10 + i, 2)));
    expect(await Promise.all([...first, ...late])).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 13]);
    expect(c.most).toBe(3);
  });

  it('limiter frees the place of a piece that fails', async () => {
    const lanes = limiter(1);
    await expect(lanes.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lanes.run(async () => 'next')).toBe('next');
  });
});
