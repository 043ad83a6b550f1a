import { spawnSync } from 'node:child_process';

/**
 * promtool from Debian's `prometheus` package (.ci/run installs it). A test that needs it fails with
 * this reason when it is missing: a skipped check would look like a passed one.
 */
export function promtool(
  args: string[],
  input?: string,
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new Error(
      'promtool is not installed: apt-get install -y prometheus (Debian package; .ci/run installs it)',
    );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
