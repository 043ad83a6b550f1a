import type { ChildProcess } from 'node:child_process';

/**
 * The URL a `modelgate serve` (or any server of the benchmarks) prints as `listening on URL` on stderr.
 * Rejects when the process exits first, or after `timeoutMs`, quoting what it wrote to stderr.
 */
export function listeningUrl(child: ChildProcess, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(
      () => reject(new Error(`server did not start in ${timeoutMs / 1000} s: ${stderr}`)),
      timeoutMs,
    );
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
}
