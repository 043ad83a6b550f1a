import { readFileSync } from 'node:fs';

/**
 * Reads a `kB` field (VmRSS, VmHWM) of /proc/PID/status in bytes, or undefined when the process is gone
 * or the system has no procfs. Synchronous on purpose: the file is tiny, and the watchdog must not wait
 * behind other I/O for its next sample.
 */
export function readProcStatusBytes(pid: number | 'self', field: 'VmRSS' | 'VmHWM'): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}
