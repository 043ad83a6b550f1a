import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from './harness.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

describe('npx modelgate in the repository', () => {
  // A private npm cache: the first `npx` of a local bin links the package into the cache (and runs its
  // prepare script), which must work on a fresh machine too.
  const cache = tempDir('modelgate-npx-cache-');
  afterAll(() => removeDir(cache));

  it('runs the CLI from the package.json bin', async () => {
    const { stdout } = await run('npx', ['--yes', 'modelgate', '--help'], {
      cwd: ROOT,
      env: { ...process.env, npm_config_cache: cache, npm_config_update_notifier: 'false' },
      timeout: 120_000,
    });
    expect(stdout).toContain('Usage: modelgate COMMAND');
    expect(stdout).toMatch(/^ {2}fetch /m);
  }, 150_000);
});
