import { describe, expect, it } from 'vitest';
import { StagingPool } from '../../adapters/fs-blobs/staging-pool.js';

/** The staging pool's hand-out rules: bounded areas, a bounded wait, and no area lost to a waiter that gave up. */
const layout = { slotBytes: 64 * 1024, slots: 2, areas: 2 } as const;

describe('StagingPool.acquireWithin', () => {
  it('hands out free areas at once, then answers null once the wait is over', async () => {
    const pool = new StagingPool(layout);
    const a = await pool.acquireWithin(0);
    const b = await pool.acquireWithin(1000);
    expect(a && b).toBeTruthy();
    expect(a!.offsets).not.toEqual(b!.offsets);
    expect(pool.inUse).toBe(2);
    const started = performance.now();
    expect(await pool.acquireWithin(80)).toBeNull();
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(await pool.acquireWithin(0)).toBeNull();
  });

  it('gives an area released during the wait to the waiter, first come first served', async () => {
    const pool = new StagingPool(layout);
    const a = (await pool.acquireWithin(0))!;
    await pool.acquireWithin(0);
    const first = pool.acquireWithin(5000);
    const second = pool.acquireWithin(5000);
    setTimeout(() => a.release(), 20);
    const got = await first;
    expect(got?.offsets).toEqual(a.offsets);
    got!.release();
    expect((await second)?.offsets).toEqual(a.offsets);
    expect(pool.inUse).toBe(2);
  });

  it('returns an area released after its waiter gave up to the free list', async () => {
    const pool = new StagingPool(layout);
    const a = (await pool.acquireWithin(0))!;
    await pool.acquireWithin(0);
    expect(await pool.acquireWithin(30)).toBeNull();
    a.release();
    expect(pool.inUse).toBe(1);
    expect((await pool.acquireWithin(0))?.offsets).toEqual(a.offsets);
  });
});
