import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ValidationInput, validateFiles } from '../../gpu-validator/engine.js';
import { MAX_NAME_CHARS, truncationMarker } from '../../schemas/bounded-text.js';
import { ValidationReport } from '../../schemas/report.schema.js';
import {
  buildCustomDomainModel,
  buildExternalDataModel,
  buildImageModel,
  buildLongNamesModel,
  buildMlpModel,
  buildNanModel,
  buildTooNewOpsetModel,
  buildUnknownOpModel,
  flipBytes,
  graphTagOffset,
  longNames,
  modelOfSize,
  truncate,
} from '../fixtures/onnx-writer.js';
import {
  engineInput,
  type FixtureFile,
  type LaidOutFile,
  layOutVersion,
  manifestEntry,
} from '../fixtures/version-files.js';

const MIB = 1024 ** 2;

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'validator-engine-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function input(files: LaidOutFile[], dir: string, overrides: Partial<ValidationInput> = {}): ValidationInput {
  return engineInput(files, dir, overrides);
}

/** Lays the files out in a fresh folder and validates them. */
async function validate(files: FixtureFile[], overrides: Partial<ValidationInput> = {}) {
  const dir = mkdtempSync(join(root, 'v-'));
  const laidOut = layOutVersion(dir, files);
  return validateFiles(input(laidOut, dir, overrides));
}

describe('validateFiles', () => {
  it('passes a valid model: load and inference timing, peak RSS, baseline, runtime, a schema-valid report', async () => {
    const report = await validate([{ path: 'det/model.onnx', bytes: buildMlpModel({ layers: 2, dim: 32 }) }]);
    expect(ValidationReport.parse(report)).toEqual(report);
    expect(report.outcome).toBe('passed');
    expect(report.error).toBeUndefined();
    expect(report.runtime).toEqual({ name: 'onnxruntime-node', version: '1.30.0' });
    expect(report.executionProvider).toBe('cpu');
    const [file] = report.files;
    expect(file).toMatchObject({
      path: 'det/model.onnx',
      check: 'loaded',
      ok: true,
      executionProvider: 'cpu',
    });
    expect(file?.loadMs).toBeGreaterThan(0);
    expect(file?.inferenceMs).toBeGreaterThan(0);
    expect(file?.peakRssBytes).toBeGreaterThan(30 * MIB);
    expect(file?.baselineRssBytes).toBeGreaterThan(30 * MIB);
    expect(file?.peakRssBytes).toBeGreaterThanOrEqual(file?.baselineRssBytes ?? Number.POSITIVE_INFINITY);
    expect(file?.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 32] }]);
    expect(file?.inspection).toMatchObject({ irVersion: 8, initializerCount: 4 });
    expect(report.totals.loadMs).toBe(file?.loadMs);
    expect(report.totals.peakRssBytes).toBe(file?.peakRssBytes);
  });

  it('applies the version input shapes to every model having that input, and totals across files', async () => {
    const report = await validate(
      [
        { path: 'a.onnx', bytes: buildImageModel(4) },
        { path: 'b.onnx', bytes: buildImageModel(2) },
        { path: 'c.onnx', bytes: buildMlpModel({ layers: 1, dim: 8 }) },
      ],
      { inputShapes: { image: [1, 3, 32, 16] } },
    );
    expect(report.outcome).toBe('passed');
    expect(report.files.map((f) => f.inputShapes)).toEqual([
      { image: [1, 3, 32, 16] },
      { image: [1, 3, 32, 16] },
      { input: [1, 8] },
    ]);
    const sum = report.files.reduce((a, f) => a + (f.loadMs ?? 0), 0);
    expect(report.totals.loadMs).toBeCloseTo(sum, 6);
    expect(report.totals.peakRssBytes).toBe(Math.max(...report.files.map((f) => f.peakRssBytes ?? 0)));
  });

  it('checks a non-ONNX file for integrity only', async () => {
    const report = await validate([{ path: 'labels.txt', bytes: 'cat\ndog\n', format: 'other' }]);
    expect(report.outcome).toBe('passed');
    expect(report.files[0]).toMatchObject({ check: 'integrity-only', ok: true });
    expect(report.files[0]?.loadMs).toBeUndefined();
  });

  it('fails a truncated model as MODEL_CORRUPTED', async () => {
    const report = await validate([{ path: 'm.onnx', bytes: truncate(modelOfSize(300_000), 150_000) }]);
    expect(report.outcome).toBe('failed');
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED', file: 'm.onnx' });
  });

  it('fails flipped bytes as CHECKSUM_MISMATCH when the manifest has the original checksum', async () => {
    const original = buildMlpModel({ layers: 1, dim: 8 });
    const dir = mkdtempSync(join(root, 'v-'));
    const [laidOut] = layOutVersion(dir, [{ path: 'm.onnx', bytes: flipBytes(original, 100, 4) }]);
    const declared = { ...laidOut!, ...manifestEntry('m.onnx', original, 'onnx') };
    const report = await validateFiles(input([declared], dir));
    expect(report.error).toMatchObject({ code: 'CHECKSUM_MISMATCH', file: 'm.onnx' });
    expect(report.files[0]?.loadMs).toBeUndefined();
  });

  it('fails a wrong md5 as CHECKSUM_MISMATCH even when the sha256 is right (nodes check md5)', async () => {
    const dir = mkdtempSync(join(root, 'v-'));
    const [laidOut] = layOutVersion(dir, [{ path: 'm.onnx', bytes: buildMlpModel({ layers: 1, dim: 8 }) }]);
    const report = await validateFiles(input([{ ...laidOut!, md5: '0'.repeat(32) }], dir));
    expect(report.error).toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect(report.error?.message).toContain('md5');
  });

  it('fails flipped structure bytes with a recomputed checksum as MODEL_CORRUPTED', async () => {
    const original = buildMlpModel({ layers: 1, dim: 8 });
    const report = await validate([{ path: 'm.onnx', bytes: flipBytes(original, graphTagOffset(original)) }]);
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
  });

  it('fails a wrong size as FILE_MISSING and a missing file as FILE_MISSING', async () => {
    const dir = mkdtempSync(join(root, 'v-'));
    const [laidOut] = layOutVersion(dir, [{ path: 'm.onnx', bytes: buildMlpModel({ layers: 1, dim: 8 }) }]);
    const wrongSize = await validateFiles(input([{ ...laidOut!, size: laidOut!.size + 1 }], dir));
    expect(wrongSize.error).toMatchObject({ code: 'FILE_MISSING' });
    const absent = await validateFiles(input([{ ...laidOut!, localPath: join(dir, 'absent.onnx') }], dir));
    expect(absent.error).toMatchObject({ code: 'FILE_MISSING' });
  });

  it('fails unknown operators, too-new opsets and custom domains as UNSUPPORTED_MODEL, naming them', async () => {
    const report = await validate([
      { path: 'unknown.onnx', bytes: buildUnknownOpModel() },
      { path: 'opset.onnx', bytes: buildTooNewOpsetModel(99) },
      { path: 'custom.onnx', bytes: buildCustomDomainModel('com.example') },
    ]);
    expect(report.files.map((f) => f.error?.code)).toEqual([
      'UNSUPPORTED_MODEL',
      'UNSUPPORTED_MODEL',
      'UNSUPPORTED_MODEL',
    ]);
    expect(report.files[0]?.error?.message).toContain('NoSuchOp');
    expect(report.files[1]?.error?.message).toContain('ai.onnx opset 99');
    expect(report.files[2]?.error?.message).toContain('com.example');
    // The pre-check refused the last two without spending a load.
    expect(report.files[1]?.peakRssBytes).toBeUndefined();
    expect(report.files[2]?.peakRssBytes).toBeUndefined();
    expect(report.error).toMatchObject({ code: 'UNSUPPORTED_MODEL', file: 'unknown.onnx' });
  });

  it('passes a model with 2 MB names, fed by its whole names, and reports them cut with their length', async () => {
    const LENGTH = 2_000_000;
    const bytes = buildLongNamesModel(LENGTH);
    const names = longNames(LENGTH);
    // Bare onnxruntime: a good model, run by its whole names, and a feed by a cut name is refused, so a
    // smoke run that ran fed the whole name.
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['a', names.input]);
    const feed = (value: number) => new ort.Tensor('float32', new Float32Array(8).fill(value), [1, 8]);
    const outputs = await session.run({ a: feed(1), [names.input]: feed(2) });
    expect(Array.from((outputs[names.output]?.data ?? []) as Float32Array)).toEqual(new Array(8).fill(3));
    await expect(session.run({ a: feed(1), [names.input.slice(0, 200)]: feed(2) })).rejects.toThrow();
    await session.release();

    const report = await validate([{ path: 'long-names.onnx', bytes }]);
    expect(report.outcome).toBe('passed');
    const [file] = report.files;
    expect(file?.smokeRun).toBe('ran');
    const marker = truncationMarker(LENGTH);
    const cut = (char: string) => char.repeat(MAX_NAME_CHARS - marker.length) + marker;
    expect(file?.fedInputs?.map((f) => [f.name, f.source])).toEqual([
      ['a', 'synthesized'],
      [cut('X'), 'synthesized'],
    ]);
    expect(file?.inputs.map((i) => i.name)).toEqual(['a', cut('X')]);
    expect(Object.keys(file?.inputShapes ?? {})).toEqual(['a', cut('X')]);
    expect(file?.outputs.map((o) => o.name)).toEqual([cut('Y')]);
    // Before the bounds this report was 10 MB: five copies of the 2 MB names.
    expect(JSON.stringify(report).length).toBeLessThan(16 * 1024);
  });

  it('passes a model that computes NaN on synthesized inputs, noting it in the report', async () => {
    const report = await validate([{ path: 'nan.onnx', bytes: buildNanModel() }]);
    expect(report.outcome).toBe('passed');
    expect(report.files[0]?.notes?.[0]).toMatch(/NaN or infinite on synthesized inputs/);
    expect(report.files[0]?.loadMs).toBeGreaterThan(0);
  });

  it('fails a model that computes NaN on its golden inputs (no expected outputs) as INFERENCE_FAILED', async () => {
    const golden = { inputs: { input: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } } };
    const report = await validate([
      { path: 'nan.onnx', bytes: buildNanModel() },
      { path: 'nan.golden.json', bytes: JSON.stringify(golden) },
    ]);
    expect(report.error).toMatchObject({ code: 'INFERENCE_FAILED', file: 'nan.onnx' });
    expect(report.error?.message).toMatch(/output "output"/);
    expect(report.files[0]?.fedInputs?.[0]).toMatchObject({ source: 'golden', shape: [1, 4] });
  });

  it("fails a budget below the runtime's own footprint as CONFIG_INVALID: the budget is wrong, not the model", async () => {
    const report = await validate([{ path: 'm.onnx', bytes: buildMlpModel({ layers: 1, dim: 8 }) }], {
      memoryBudgetBytes: 16 * MIB,
    });
    expect(report.error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(report.error?.message).toMatch(/raise the memory budget/);
    expect(report.files[0]?.peakRssBytes).toBeGreaterThan(16 * MIB);
    expect(ValidationReport.safeParse(report).success).toBe(true);
  });

  it('fails a load over the time limit as TIMEOUT', async () => {
    const report = await validate([{ path: 'm.onnx', bytes: modelOfSize(4e6) }], { timeoutMs: 1 });
    expect(report.error).toMatchObject({ code: 'TIMEOUT' });
  });

  it('loads a model with external data laid out beside it', async () => {
    const { model, data } = buildExternalDataModel('weights.bin');
    const report = await validate([
      { path: 'm/model.onnx', bytes: model },
      { path: 'm/weights.bin', bytes: data, format: 'other' },
    ]);
    expect(report.outcome).toBe('passed');
    expect(report.files.map((f) => f.check)).toEqual(['loaded', 'integrity-only']);
  });

  it('fails external data that is not a file of the version as FILE_MISSING', async () => {
    const { model } = buildExternalDataModel('weights.bin');
    const report = await validate([{ path: 'm/model.onnx', bytes: model }]);
    expect(report.error).toMatchObject({ code: 'FILE_MISSING', file: 'm/model.onnx' });
    expect(report.error?.message).toContain('weights.bin');
  });
});
