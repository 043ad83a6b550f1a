/**
 * Runs `work` over `items`, at most `limit` at once, results in the items' order. The first failure
 * stops new items from starting and is what the returned promise rejects with (items already running
 * finish on their own). Used for whole files of a publish and for the parts of one large file.
 */
export async function inPool<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await work(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** Runs work under a bound on how much runs at once (see `limiter`). */
export interface Limiter {
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * Runs at most `limit` pieces of work at once, the others waiting in order. Unlike `inPool`, each piece
 * has its own promise and may start or be given up on its own (publish's staged sends).
 */
export function limiter(limit: number): Limiter {
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    async run(work) {
      // A finishing piece hands its place straight to the next waiting one, so `active` never passes `limit`.
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      else active++;
      try {
        return await work();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
  };
}
