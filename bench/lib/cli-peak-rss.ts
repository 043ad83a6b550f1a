import { spawn } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, type ServerHandle, startServer } from '../../test/e2e/harness.js';

export interface CliRun {
  readonly ms: number;
  readonly maxRssKiB: number;
}

/** Runs the built `modelgate` CLI under `/usr/bin/time -v` and reads its "Maximum resident set size". */
function timedCli(args: string[], env: Record<string, string>, cwd: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-v', process.execPath, CLI, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      if (code !== 0 || !m) reject(new Error(`modelgate ${args[0]} exited with ${code}: ${stderr}`));
      else resolve({ ms, maxRssKiB: Number(m[1]) });
    });
  });
}

/**
 * The whole user path on the 1 GiB file: `modelgate publish --wait` (hash, upload through the signed blob
 * endpoint, validation) and `modelgate fetch` (download, hash, fsync, switch) against a real
 * `modelgate serve` on loopback. The file is published as `.bin`, so validation is integrity-only.
 */
export async function measureCli(file: string, dir: string): Promise<{ publish: CliRun; fetch: CliRun }> {
  const blob = join(dir, 'weights.bin');
  await copyFile(file, blob);
  let server: ServerHandle | undefined;
  try {
    server = await startServer({ dataDir: join(dir, 'registry') });
    const publish = await timedCli(['publish', 'bench-1gib@1', blob, '--wait'], server.env, dir);
    const fetch = await timedCli(
      ['fetch', 'bench-1gib@1', '--dest', join(dir, 'node', 'models')],
      server.env,
      dir,
    );
    return { publish, fetch };
  } finally {
    await server?.stop();
  }
}
