/**
 * The polling rule of `modelgate sync`: every `intervalMs`, spread by ±10 % so a fleet started together
 * does not poll in step; while the registry is unreachable, the wait doubles per failed poll up to
 * 16 × the interval and at most 10 minutes (or one interval, if longer), so a registry coming back is not
 * met by every node at once.
 */
export const JITTER = 0.1;
export const MAX_BACKOFF_FACTOR = 16;
const MAX_BACKOFF_MS = 10 * 60 * 1000;

/**
 * Milliseconds until the next poll. `failures` is the number of consecutive polls that found no registry;
 * `random` is a number in [0, 1) (Math.random()).
 */
export function nextPollDelay(intervalMs: number, failures: number, random: number): number {
  const factor = Math.min(2 ** Math.max(0, failures), MAX_BACKOFF_FACTOR);
  const base =
    failures > 0 ? Math.min(intervalMs * factor, Math.max(intervalMs, MAX_BACKOFF_MS)) : intervalMs;
  return Math.round(base * (1 - JITTER + 2 * JITTER * random));
}

/**
 * The shortest interval taken: a shorter one would poll the registry in a loop. The longest keeps a
 * jittered wait (× 1.1) within a timer's 32-bit range: past it, Node fires the timer after 1 ms instead.
 */
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 480 * 3_600_000;

/**
 * `30s`, `5m`, `1h`, `500ms` or plain seconds → milliseconds; undefined when the text is none of these,
 * or outside MIN_INTERVAL_MS..MAX_INTERVAL_MS.
 */
export function parseInterval(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(Number(m[1]) * unit);
  return ms >= MIN_INTERVAL_MS && ms <= MAX_INTERVAL_MS ? ms : undefined;
}
