import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from './harness.js';

/**
 * `serve` on the aws backend constructs AWS SDK clients, which on Node 20 warn about the SDK's own Node
 * support policy. That advice is for the SDK's maintainers' users, not for someone running modelgate:
 * the CLI keeps it off stderr. The endpoints point at a closed port, so the server gets as far as its
 * first SDK call (proving the clients were built) and reports that call's failure, which must still print.
 */
describe('the CLI keeps dependencies quiet', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelgate-quiet-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints no NodeVersionSupportWarning from the AWS SDK, but still its own errors', async () => {
    const env = { ...process.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', join(dir, 'data')], {
      env: {
        ...env,
        MODELGATE_BACKEND: 'aws',
        MODELGATE_TABLE_NAME: 'quiet-table',
        MODELGATE_BUCKET_NAME: 'quiet-bucket',
        MODELGATE_DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
        MODELGATE_S3_ENDPOINT: 'http://127.0.0.1:9',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'quiet',
        AWS_SECRET_ACCESS_KEY: 'quiet',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 20_000);
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/^error [A-Z_]+:/m.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    child.kill('SIGKILL');
    await exited;
    expect(stderr).toMatch(/^error UNAVAILABLE: .*ECONNREFUSED/m);
    expect(stderr).not.toContain('NodeVersionSupportWarning');
    expect(stderr).not.toContain('Warning:');
  }, 30_000);
});
