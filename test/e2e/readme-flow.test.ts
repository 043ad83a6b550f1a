import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { BACKENDS } from './harness.js';
import { useServer } from './use-server.js';

/** The README's flow, as a new user runs it: a real server, real files, real onnxruntime-node. */
describe.each(BACKENDS)(
  'README flow on the %s backend: publish, validate, alias, fetch, verify',
  (backend) => {
    const fixture = useServer({ backend });
    const { run } = fixture;

    beforeAll(() => {
      mkdirSync(join(fixture.work, 'models'));
      writeFileSync(join(fixture.work, 'models', 'det.onnx'), buildMlpModel({ layers: 3, dim: 64 }));
      mkdirSync(join(fixture.work, 'bundle', 'rec'), { recursive: true });
      writeFileSync(join(fixture.work, 'bundle', 'det.onnx'), buildMlpModel({ layers: 2, dim: 32, seed: 2 }));
      writeFileSync(
        join(fixture.work, 'bundle', 'rec', 'rec.onnx'),
        buildMlpModel({ layers: 2, dim: 48, seed: 3 }),
      );
      writeFileSync(join(fixture.work, 'bundle', 'rec', 'vocab.txt'), 'a\nb\nc\n');
    });

    it('publishes a single file and waits for VERIFIED', async () => {
      const r = await run('publish', 'ocr-det@1.0.0', './models/det.onnx', '--provider', 'paddle', '--wait');
      expect(r.stderr).toContain('published ocr-det@1.0.0');
      expect(r.stdout.trim()).toBe('ocr-det@1.0.0 VERIFIED');
      expect(r.code).toBe(0);
    });

    it('publishes a folder: every file in it is part of the version', async () => {
      const r = await run(
        'publish',
        'ocr-bundle@2.0.0',
        './bundle/',
        '--provider',
        'paddle',
        '--wait',
        '--json',
      );
      expect(r.code).toBe(0);
      const v = JSON.parse(r.stdout);
      expect(v.status).toBe('VERIFIED');
      expect(v.files.map((f: { path: string }) => f.path)).toEqual([
        'det.onnx',
        'rec/rec.onnx',
        'rec/vocab.txt',
      ]);
      const checks = Object.fromEntries(
        v.report.files.map((f: { path: string; check: string }) => [f.path, f.check]),
      );
      expect(checks).toEqual({
        'det.onnx': 'loaded',
        'rec/rec.onnx': 'loaded',
        'rec/vocab.txt': 'integrity-only',
      });
    });

    it('shows status with the validation report', async () => {
      const r = await run('status', 'ocr-det@1.0.0', '--json');
      expect(r.code).toBe(0);
      const v = JSON.parse(r.stdout);
      expect(v.status).toBe('VERIFIED');
      expect(v.provider).toBe('paddle');
      const file = v.report.files[0];
      expect(file.loadMs).toBeGreaterThan(0);
      expect(file.inferenceMs).toBeGreaterThanOrEqual(0);
      expect(file.peakRssBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(file.inputs[0]).toMatchObject({ name: 'input', type: 'float32' });
      const human = await run('status', 'ocr-det@1.0.0');
      expect(human.stdout).toContain('ocr-det@1.0.0  VERIFIED');
    });

    it('lists versions', async () => {
      const r = await run('list', 'ocr-det', '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).items.map((v: { version: string }) => v.version)).toEqual(['1.0.0']);
    });

    it('sets an alias and fetches through it, verified end to end', async () => {
      expect((await run('alias', 'set', 'ocr-det', 'production', '1.0.0')).code).toBe(0);
      const dest = join(fixture.work, 'app', 'models', 'paddle');
      const r = await run('fetch', 'ocr-det@production', '--dest', dest);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(readFileSync(join(dest, 'det.onnx'))).toEqual(
        readFileSync(join(fixture.work, 'models', 'det.onnx')),
      );
      expect(statSync(join(dest, 'det.onnx')).mode & 0o777).toBe(0o644);
      // the runbook's own integrity checks pass on what fetch wrote
      execFileSync('md5sum', ['-c', 'checksums.txt'], { cwd: dest });
      execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dest });
      expect(readlinkSync(dest)).toContain('.paddle.modelgate');

      const ok = await run('verify', dest);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('intact');
    });

    it('verify names a file that changed after the fetch (exit 6)', async () => {
      const dest = join(fixture.work, 'app', 'models', 'tampered');
      const fetched = await run('fetch', 'ocr-bundle@2.0.0', '--dest', dest);
      expect(fetched.code, fetched.stderr).toBe(0);
      const vocab = join(dest, 'rec', 'vocab.txt');
      writeFileSync(vocab, 'a\nb\nX\n');
      const r = await run('verify', dest);
      expect(r.code).toBe(6);
      expect(r.stdout).toContain('rec/vocab.txt');
    });
  },
);
