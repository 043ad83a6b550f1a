import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  /** What is awaited, for the timeout message ("the version to be VERIFIED"). */
  what?: string;
  /** Give up after this many ms (default 10 000). */
  timeoutMs?: number;
  /** Pause between two probes in ms (default 50). */
  intervalMs?: number;
}

/**
 * Polls `probe` until it yields a value: the way to wait for a state a test cannot be told about, instead
 * of a fixed sleep that is too long on a fast machine and too short on a busy one. A probe result of
 * `undefined` or `false`, or a thrown error (a failed `expect` included), means "not yet". Resolves with
 * the first other value; rejects after `timeoutMs` with an error naming `what` and the last thrown error.
 */
export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: EventuallyOptions = {},
): Promise<T> {
  const { what = 'a condition', timeoutMs = 10_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}
