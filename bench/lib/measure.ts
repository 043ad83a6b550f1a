import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Timed<T> {
  ms: number;
  value: T;
}

export async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** Wall time of a spawned command, start-up included (as a user running it would see it). */
export function timedCommand(command: string, args: string[], cwd?: string): Promise<Timed<string>> {
  return timed(async () => (await execFileAsync(command, args, { cwd, maxBuffer: 1024 * 1024 })).stdout);
}

/** The best of several runs: on a shared machine noise only ever adds time. */
export function best<T>(runs: ReadonlyArray<Timed<T>>): Timed<T> {
  return runs.reduce((a, b) => (b.ms < a.ms ? b : a));
}

export const mbPerSecond = (bytes: number, ms: number) => bytes / (1024 * 1024) / (ms / 1000);
