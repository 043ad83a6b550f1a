import { spawnSync } from 'node:child_process';
import { requireProgram } from './system-programs.js';

/**
 * promtool from Debian's `prometheus` package (.ci/run installs it). Throws, naming the install line,
 * when it is missing; tests that call it skip through `needs(['promtool'])` (system-programs.ts).
 */
export function promtool(
  args: string[],
  input?: string,
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(requireProgram('promtool'), args, { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
