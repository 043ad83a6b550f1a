import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateFiles } from '../../gpu-validator/engine.js';
import { compareGolden, goldenPathFor, parseGoldenFile } from '../../gpu-validator/golden-io.js';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { ValidationReport } from '../../schemas/report.schema.js';
import { buildMultiInputModel } from '../fixtures/onnx-writer.js';
import { type FixtureFile, layOutVersion, manifestEntry } from '../fixtures/version-files.js';

/** Golden I/O (golden-io.ts) with a real model: output = a + b, inputs [N, 8]. */

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'validator-golden-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const a = Array.from({ length: 16 }, (_, i) => i / 4);
const b = Array.from({ length: 16 }, (_, i) => 1 - i / 8);
const sum = a.map((v, i) => Math.fround(v + (b[i] ?? 0)));

function golden(overrides: { output?: number[]; tolerance?: number; inputs?: object } = {}): string {
  return JSON.stringify({
    inputs: overrides.inputs ?? {
      a: { type: 'float32', dims: [2, 8], data: a },
      b: { type: 'float32', dims: [2, 8], data: b },
    },
    outputs: { output: { dims: [2, 8], data: overrides.output ?? sum } },
    ...(overrides.tolerance === undefined ? {} : { tolerance: overrides.tolerance }),
  });
}

async function validate(files: FixtureFile[]) {
  const dir = mkdtempSync(join(root, 'v-'));
  return validateFiles({
    files: layOutVersion(dir, files),
    dir,
    inputShapes: {},
    memoryBudgetBytes: 2 * 1024 ** 3,
    timeoutMs: 30_000,
    worker: 'test',
    attempt: 1,
  });
}

const model = { path: 'det/add.onnx', bytes: buildMultiInputModel() };
const goldenFile = (text: string): FixtureFile => ({
  path: 'det/add.golden.json',
  bytes: text,
  format: 'other',
});

describe('golden I/O', () => {
  it('finds the golden file by name: det/add.onnx → det/add.golden.json', () => {
    expect(goldenPathFor('det/add.onnx')).toBe('det/add.golden.json');
    expect(goldenPathFor('add.onnx')).toBe('add.golden.json');
  });

  it('passes when the outputs match: runs the golden inputs at their shapes and reports the difference', async () => {
    const report = await validate([model, goldenFile(golden())]);
    expect(report.outcome).toBe('passed');
    expect(ValidationReport.parse(report)).toEqual(report);
    const [loaded, checked] = report.files;
    expect(loaded?.inputShapes).toEqual({ a: [2, 8], b: [2, 8] });
    expect(loaded?.golden).toEqual({
      file: 'det/add.golden.json',
      tolerance: 1e-4,
      outputs: [{ name: 'output', maxAbsDiff: 0 }],
    });
    expect(checked).toMatchObject({ path: 'det/add.golden.json', check: 'integrity-only', ok: true });
  });

  it('fails a mismatch as INFERENCE_FAILED naming the output and the max abs difference', async () => {
    const wrong = sum.map((v, i) => (i === 5 ? v + 0.5 : v));
    const report = await validate([model, goldenFile(golden({ output: wrong }))]);
    expect(report.error).toMatchObject({ code: 'INFERENCE_FAILED', file: 'det/add.onnx' });
    expect(report.error?.message).toMatch(
      /output "output" differs from det\/add\.golden\.json: max abs difference 0\.5 /,
    );
    // The runtime loaded and ran it: the failure is the outputs', and the report says a runtime ran.
    expect(report.loadTested).toBe(true);
    expect(report.files.find((f) => f.path === 'det/add.onnx')?.loadMs).toBeGreaterThan(0);
  });

  it('honours the tolerance', async () => {
    const close = sum.map((v) => v + 0.001);
    expect((await validate([model, goldenFile(golden({ output: close, tolerance: 0.01 }))])).outcome).toBe(
      'passed',
    );
    const strict = await validate([model, goldenFile(golden({ output: close, tolerance: 1e-6 }))]);
    expect(strict.error?.code).toBe('INFERENCE_FAILED');
  });

  it('refuses a golden file that does not fit the model as CONFIG_INVALID', async () => {
    const missingInput = golden({ inputs: { a: { type: 'float32', dims: [2, 8], data: a } } });
    const report = await validate([model, goldenFile(missingInput)]);
    expect(report.error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(report.error?.message).toContain('"b"');
    expect((await validate([model, goldenFile('{ not json')])).error?.code).toBe('CONFIG_INVALID');
  });

  it('does not judge a model by a golden file whose bytes are not the published ones: CHECKSUM_MISMATCH', async () => {
    const dir = mkdtempSync(join(root, 'v-'));
    const [m, g] = layOutVersion(dir, [model, goldenFile(golden({ output: sum.map((v) => v + 1) }))]);
    const declared = { ...g!, ...manifestEntry(g!.path, golden(), 'other') };
    const report = await validateFiles({
      files: [m!, declared],
      dir,
      inputShapes: {},
      memoryBudgetBytes: 2 * 1024 ** 3,
      timeoutMs: 30_000,
      worker: 'test',
      attempt: 1,
    });
    expect(report.files.map((f) => f.error?.code)).toEqual(['CHECKSUM_MISMATCH', 'CHECKSUM_MISMATCH']);
    expect(report.files[0]?.error?.message).toContain('det/add.golden.json');
  });
});

describe('compareGolden', () => {
  const file = parseGoldenFile('g.json', golden());

  it('says which output differs, and by how much', () => {
    const results = {
      output: { dims: [2, 8], data: Float32Array.from(sum, (v, i) => (i === 3 ? v - 2 : v)) },
    };
    try {
      compareGolden('g.json', file, results);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LoadFailure);
      expect((error as LoadFailure).details).toMatchObject({ output: 'output', maxAbsDiff: 2 });
    }
  });

  it('fails a wrong shape and a NaN where a number was expected', () => {
    expect(() =>
      compareGolden('g.json', file, { output: { dims: [16], data: Float32Array.from(sum) } }),
    ).toThrow(/has shape \[16\]/);
    const nan = Float32Array.from(sum, (v, i) => (i === 0 ? Number.NaN : v));
    expect(() => compareGolden('g.json', file, { output: { dims: [2, 8], data: nan } })).toThrow(/NaN/);
  });
});
