import { chmodSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel, buildMultiInputModel } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { useServer } from './use-server.js';

interface DoctorJson {
  ok: boolean;
  version: { model: string; version: string } | null;
  findings: { code: string; file?: string; message: string; fix: string }[];
  checks: { name: string; step: string; status: string; detail: string }[];
}

/**
 * `modelgate doctor` on folders a real `fetch` installed from a real server, then damaged the ways the
 * runbook's investigation looks for; `--load` loads the real models in the validator's isolated child.
 */
describe('doctor: the runbook on a fetched folder', () => {
  const fixture = useServer();
  const run = (...args: string[]) => fixture.run(...args);
  let n = 0;
  /** A fresh fetch of the bundle into its own folder: each case damages its own copy. */
  const fetched = async (): Promise<string> => {
    const dest = join(fixture.work, `node-${n++}`, 'paddle');
    const r = await run('fetch', 'bundle@1', '--dest', dest);
    expect(r.code, r.stderr).toBe(0);
    return dest;
  };
  const doctor = async (...args: string[]) => {
    const r = await run('doctor', ...args, '--json');
    return { code: r.code, stderr: r.stderr, json: JSON.parse(r.stdout) as DoctorJson };
  };

  beforeAll(async () => {
    const bundle = join(fixture.work, 'bundle');
    mkdirSync(join(bundle, 'dict'), { recursive: true });
    writeFileSync(join(bundle, 'det.onnx'), buildMlpModel({ layers: 2, dim: 64, seed: 1 }));
    writeFileSync(join(bundle, 'rec.onnx'), buildMultiInputModel());
    writeFileSync(join(bundle, 'dict', 'keys.txt'), 'a\nb\nc\n');
    const published = await run('publish', 'bundle@1', bundle, '--wait');
    expect(published.code, published.stderr).toBe(0);
  }, 180_000);

  it('is all clear on a clean fetch (exit 0), every check in the runbook order', async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest);
    expect(code).toBe(0);
    expect(json).toMatchObject({ ok: true, version: { model: 'bundle', version: '1' }, findings: [] });
    expect(json.checks.map((c) => c.name)).toEqual([
      'files',
      'permissions',
      'memory',
      'disk',
      'gpu',
      'runtime',
      'model-support',
    ]);
    expect(json.checks.find((c) => c.name === 'gpu')).toMatchObject({ status: 'skipped' });
    expect(json.checks.find((c) => c.name === 'runtime')?.detail).toContain(
      'execution provider cpu available',
    );
    const human = await run('doctor', dest);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('bundle@1 (provider default)');
    expect(human.stdout.trimEnd().split('\n').at(-1)).toBe('all clear');
  });

  it('names a missing file (exit 6, FILE_MISSING) with the runbook fix', async () => {
    const dest = await fetched();
    rmSync(join(dest, 'dict', 'keys.txt'));
    const { code, json } = await doctor(dest);
    expect(code).toBe(6);
    expect(json.findings).toEqual([
      {
        code: 'FILE_MISSING',
        file: 'dict/keys.txt',
        message: 'dict/keys.txt is missing (6 bytes expected)',
        fix: `runbook "Fix: Missing Model Files": re-download with \`modelgate fetch bundle@1 --dest ${dest}\``,
      },
    ]);
  });

  it('names a file with one changed byte (exit 6, CHECKSUM_MISMATCH)', async () => {
    const dest = await fetched();
    const path = join(dest, 'det.onnx');
    const bytes = readFileSync(path);
    bytes[bytes.length - 3]! ^= 0x01;
    writeFileSync(path, bytes);
    const { code, json } = await doctor(dest);
    expect(code).toBe(6);
    expect(json.findings).toHaveLength(1);
    expect(json.findings[0]).toMatchObject({ code: 'CHECKSUM_MISMATCH', file: 'det.onnx' });
    expect(json.findings[0]!.fix).toContain('Fix: Corrupted Model Files');
  });

  it('names a file a service user cannot read, with its mode (exit 7, PERMISSION_DENIED)', async () => {
    const dest = await fetched();
    chmodSync(join(dest, 'rec.onnx'), 0o600);
    const { code, json } = await doctor(dest);
    expect(code).toBe(7);
    expect(json.findings).toEqual([
      expect.objectContaining({
        code: 'PERMISSION_DENIED',
        file: 'rec.onnx',
        message: 'rec.onnx: mode 0600: not readable by others (want 0644)',
      }),
    ]);
    expect(json.findings[0]!.fix).toContain('chmod 644');
    expect(json.checks.find((c) => c.name === 'permissions')?.detail).toMatch(/owner uid \d+, gid \d+/);
  });

  it("refuses free memory below the version's profiled peak × 1.5 (exit 5, INSUFFICIENT_MEMORY)", async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest, '--free-memory', '1MiB');
    expect(code).toBe(5);
    expect(json.findings).toEqual([expect.objectContaining({ code: 'INSUFFICIENT_MEMORY' })]);
    expect(json.findings[0]!.message).toMatch(
      /^1\.0 MiB available, the version's profiled peak .* × 1\.5 = .* does not fit$/,
    );
    // The most severe finding decides: integrity (6) over memory (5).
    rmSync(join(dest, 'rec.onnx'));
    expect((await doctor(dest, '--free-memory', '1MiB')).code).toBe(6);
  });

  it('--load loads and smoke-runs each real model in an isolated child, with its peak memory', async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest, '--load');
    expect(code).toBe(0);
    const load = json.checks.find((c) => c.name === 'load')!;
    expect(load).toMatchObject({ step: 'Test model loading directly', status: 'ok' });
    expect(load.detail).toMatch(/det\.onnx: loaded, peak \d+\.\d MiB/);
    expect(load.detail).toMatch(/rec\.onnx: loaded, peak \d+\.\d MiB/);
  }, 120_000);

  it('--load under a budget the runtime cannot load in: the child is stopped, the finding says so', async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest, '--load', '--load-budget', '1MiB');
    expect(code).toBe(5);
    expect(json.checks.find((c) => c.name === 'load')?.status).toBe('failed');
    expect(json.findings.map((f) => [f.code, f.file])).toEqual([
      ['INSUFFICIENT_MEMORY', 'det.onnx'],
      ['INSUFFICIENT_MEMORY', 'rec.onnx'],
    ]);
  }, 120_000);

  it('reports an extra file a loader may pick up, but never the registry signatures', async () => {
    const dest = await fetched();
    const content = realpathSync(dest);
    writeFileSync(join(content, 'model.sig'), '{}');
    writeFileSync(join(content, 'validation.sig'), '{}');
    expect((await doctor(dest)).code).toBe(0);
    expect((await run('verify', dest)).code).toBe(0);
    writeFileSync(join(content, 'old.onnx'), 'stale');
    const { code, json } = await doctor(dest);
    expect(code).toBe(6);
    expect(json.findings).toEqual([
      expect.objectContaining({
        code: 'CHECKSUM_MISMATCH',
        file: 'old.onnx',
        fix: expect.stringContaining(`rm ${join(dest, 'old.onnx')}`),
      }),
    ]);
  });

  it('names a folder that does not exist (exit 6, FILE_MISSING)', async () => {
    const { code, json } = await doctor(join(fixture.work, 'nowhere'));
    expect(code).toBe(6);
    expect(json).toMatchObject({ ok: false, version: null, findings: [{ code: 'FILE_MISSING' }] });
  });

  it('--report sends the most severe finding as a field report', async () => {
    const dest = await fetched();
    chmodSync(join(dest, 'rec.onnx'), 0o600);
    const r = await run('doctor', dest, '--report', '--node', 'doctor-node-1');
    expect(r.code).toBe(7);
    expect(r.stderr).not.toContain('warning');
    // /metrics is computed from the store at most every few seconds: wait for the next computation.
    await eventually(
      async () => {
        const metrics = await (await fetch(`${fixture.server.url}/metrics`)).text();
        expect(metrics).toMatch(/ocr_errors_total\{[^}]*reason="PERMISSION_DENIED"[^}]*\} 1/);
        return true;
      },
      { what: 'the field report in /metrics', timeoutMs: 20_000, intervalMs: 500 },
    );
  });
});
