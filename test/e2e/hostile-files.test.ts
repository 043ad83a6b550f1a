import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_NAME_CHARS, truncationMarker } from '../../schemas/bounded-text.js';
import { buildLongNamesModel } from '../fixtures/onnx-writer.js';
import { api } from './harness.js';
import { useServer } from './use-server.js';

const CASES = join(import.meta.dirname, '../fixtures/cases');

/**
 * Files crafted against the inspector, published to a real server through the real CLI: the version
 * fails MODEL_CORRUPTED on its first attempt within seconds, and the server keeps answering /health. A
 * valid model with huge names passes, and its record stays small.
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

  it('a valid model with 2 MB names: VERIFIED, its record under 32 KiB, its names cut with their length', async () => {
    const LENGTH = 2_000_000;
    writeFileSync(join(fixture.work, 'long-names.onnx'), buildLongNamesModel(LENGTH));
    const published = await fixture.run(
      'publish',
      'longname@1.0.0',
      'long-names.onnx',
      '--provider',
      'p',
      '--wait',
    );
    expect(published.code, published.stderr).toBe(0);
    const got = await fetch(`${fixture.server.url}/api/v1/models/longname/versions/1.0.0`);
    const record = await got.text();
    expect(got.status).toBe(200);
    // Before the bounds the record held five copies of the 2 MB names (inputs, shapes, fed inputs): 10 MB.
    expect(Buffer.byteLength(record)).toBeLessThan(32 * 1024);
    const version = JSON.parse(record);
    expect(version.status).toBe('VERIFIED');
    const [file] = version.report.files;
    expect(file.smokeRun).toBe('ran');
    const marker = truncationMarker(LENGTH);
    const inputName = 'X'.repeat(MAX_NAME_CHARS - marker.length) + marker;
    expect(file.fedInputs.map((f: { name: string }) => f.name)).toEqual(['a', inputName]);
    expect(file.inspection.inputs[1].name).toBe(inputName);
    // Every attempt's report is kept too: the history is as small.
    const history = await api(fixture.server, 'GET', '/api/v1/models/longname/versions/1.0.0/reports');
    expect(JSON.stringify(history.json).length).toBeLessThan(32 * 1024);
  }, 60_000);
});
