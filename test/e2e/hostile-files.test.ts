import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useServer } from './use-server.js';

const CASES = join(import.meta.dirname, '../fixtures/cases');

/**
 * Files crafted against the inspector, published to a real server through the real CLI: the version
 * fails MODEL_CORRUPTED on its first attempt within seconds, and the server keeps answering /health.
 */
describe('a crafted file on a real server', () => {
  const fixture = useServer();

  it('inspector-negative-length: FAILED MODEL_CORRUPTED on the first attempt, /health answering throughout', async () => {
    cpSync(join(CASES, 'inspector-negative-length/version'), join(fixture.work, 'neg'), { recursive: true });
    let healthChecks = 0;
    let slowestHealthMs = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const started = performance.now();
        const res = await fetch(`${fixture.server.url}/health`, { signal: AbortSignal.timeout(2000) });
        expect(res.status).toBe(200);
        slowestHealthMs = Math.max(slowestHealthMs, performance.now() - started);
        healthChecks++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const started = performance.now();
    const published = await fixture.run('publish', 'neg@1', 'neg', '--provider', 'p', '--wait');
    const elapsedMs = performance.now() - started;
    polling = false;
    await poll;
    expect(published.code).toBe(3);
    expect(published.stderr).toContain('error MODEL_CORRUPTED');
    expect(elapsedMs).toBeLessThan(15_000);
    expect(healthChecks).toBeGreaterThan(0);
    expect(slowestHealthMs).toBeLessThan(2000);
    const v = JSON.parse((await fixture.run('status', 'neg@1', '--json')).stdout);
    expect(v).toMatchObject({
      status: 'FAILED',
      statusReason: { code: 'MODEL_CORRUPTED', file: 'model.onnx' },
    });
    expect(v.report.attempt).toBe(1);
    expect(v.validation.attempts).toBe(1);
  }, 60_000);

  it('no-onnx-zero-byte-pt and ort-format-garbage: each FAILED MODEL_CORRUPTED, none called runtime-tested', async () => {
    for (const name of ['no-onnx-zero-byte-pt', 'ort-format-garbage']) {
      cpSync(join(CASES, name, 'version'), join(fixture.work, name), { recursive: true });
      const published = await fixture.run('publish', `${name}@1`, name, '--provider', 'p', '--wait');
      expect(published.code).toBe(3);
      expect(published.stderr).toContain('error MODEL_CORRUPTED');
      const status = await fixture.run('status', `${name}@1`);
      expect(status.stdout).not.toContain('passed on onnxruntime');
    }
  }, 60_000);
});
