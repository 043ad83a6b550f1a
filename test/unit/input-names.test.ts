import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../../cli/cli-error.js';
import { EXIT } from '../../cli/exit-codes.js';
import { checkPublishInputs, parseInputValues } from '../../cli/files/model-inputs.js';
import { validateFiles } from '../../gpu-validator/engine.js';
import { checkInputNames } from '../../gpu-validator/input-names.js';
import { DataType, TensorProto } from '../fixtures/onnx-proto.js';
import { buildControlInputModel, buildImageModel } from '../fixtures/onnx-writer.js';
import { layOutVersion } from '../fixtures/version-files.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'input-names-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const models = [
  { path: 'det/model.onnx', inputs: [{ name: 'x', type: 'float32', shape: ['n', 3, 'h', 'w'] }] },
  { path: 'vad.onnx', inputs: [{ name: 'sr', type: 'int64', shape: [] }] },
];

describe('checkInputNames', () => {
  it('accepts names of any model of the version and shapes that agree with its fixed dims', () => {
    expect(
      checkInputNames(models, { shapes: { x: [1, 3, 960, 960] }, values: { sr: 16000 } }),
    ).toBeUndefined();
  });

  it('names the unknown input and the inputs that exist, per flag', () => {
    const failure = checkInputNames(models, { shapes: { image: [1, 3, 960, 960] } });
    expect(failure?.code).toBe('CONFIG_INVALID');
    expect(failure?.message).toBe(
      '--input-shape names "image", not an input of any model of this version: det/model.onnx has x; vad.onnx has sr',
    );
    expect(checkInputNames(models, { values: { rate: 1 } })?.message).toMatch(/^--input-value names "rate"/);
    expect(checkInputNames(models, { samples: ['y'] })?.message).toMatch(/^--sample-inputs names "y"/);
  });

  it('refuses a shape that contradicts a fixed dim or the rank', () => {
    expect(checkInputNames(models, { shapes: { x: [1, 4, 8, 8] } })?.message).toMatch(
      /--input-shape x: det\/model\.onnx: input "x" dimension 1 is fixed at 3/,
    );
    expect(checkInputNames(models, { shapes: { x: [1, 3] } })?.message).toMatch(/has rank 4/);
  });
});

/** The message of the usage error (exit 2) `fn` throws; fails the test if it throws none or another. */
function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.USAGE);
    return (error as CliError).message;
  }
  throw new Error('expected a usage error');
}

describe('publish input checks (CLI, before upload)', () => {
  it('parses --input-value as numbers where they are numbers, else strings', () => {
    expect(parseInputValues(['sr=16000', 'lang=en', 'gain=0.5'])).toEqual({
      sr: 16000,
      lang: 'en',
      gain: 0.5,
    });
    expect(usage(() => parseInputValues(['sr']))).toMatch(/NAME=VALUE/);
  });

  it('exits 2 on an unknown name, read from the local ONNX files', () => {
    const path = join(dir, 'det.onnx');
    writeFileSync(path, buildImageModel());
    const files = [{ path: 'det.onnx', localPath: path, size: 1 }];
    expect(usage(() => checkPublishInputs(files, { shapes: { x: [1, 3, 9, 9] }, values: {} }))).toMatch(
      /"x", not an input of any model of this version: det\.onnx has image/,
    );
    expect(checkPublishInputs(files, { shapes: { image: [1, 3, 9, 9] }, values: {} })).toEqual([]);
  });

  it('publishes a golden file beside its model and a test-data folder in the model folder', () => {
    const model = join(dir, 'chunker.onnx');
    writeFileSync(model, buildControlInputModel());
    const files = [{ path: 'audio/chunker.onnx', localPath: model, size: 1 }];
    const golden = join(dir, 'golden.json');
    writeFileSync(golden, JSON.stringify({ inputs: { frames: { type: 'int64', dims: [], data: [2] } } }));
    expect(checkPublishInputs(files, { shapes: {}, values: {}, sampleInputs: golden })).toEqual([
      { path: 'audio/chunker.golden.json', localPath: golden, size: expect.any(Number) },
    ]);
    const set = join(dir, 'samples', 'test_data_set_0');
    mkdirSync(set, { recursive: true });
    const pb = TensorProto.encode(
      TensorProto.fromObject({ name: 'frames', dims: [], dataType: DataType.INT64, int64Data: [2] }),
    );
    writeFileSync(join(set, 'input_1.pb'), pb.finish());
    // input_1.pb alone is refused as the validator refuses it: the files are numbered from 0.
    expect(
      usage(() => checkPublishInputs(files, { shapes: {}, values: {}, sampleInputs: join(dir, 'samples') })),
    ).toMatch(/test_data_set_0: input_K\.pb \/ output_K\.pb must be numbered from 0 without gaps/);
    const x = TensorProto.encode(
      TensorProto.fromObject({ name: 'x', dims: [4], dataType: DataType.FLOAT, floatData: [1, 2, 3, 4] }),
    );
    writeFileSync(join(set, 'input_0.pb'), x.finish());
    const added = checkPublishInputs(files, { shapes: {}, values: {}, sampleInputs: join(dir, 'samples') });
    expect(added.map((f) => f.path).sort()).toEqual([
      'audio/test_data_set_0/input_0.pb',
      'audio/test_data_set_0/input_1.pb',
    ]);
    const wrong = TensorProto.encode(
      TensorProto.fromObject({ name: 'nope', dims: [], dataType: DataType.INT64, int64Data: [2] }),
    );
    writeFileSync(join(set, 'input_1.pb'), wrong.finish());
    expect(
      usage(() => checkPublishInputs(files, { shapes: {}, values: {}, sampleInputs: join(dir, 'samples') })),
    ).toMatch(
      /--sample-inputs names "nope", not an input of any model of this version: audio\/chunker\.onnx has x, frames/,
    );
  });
});

describe('publish reads --sample-inputs test data by the rule the validator runs', () => {
  it('publishes onnx test data whose input and output are sequences (no longer parsed as tensors)', () => {
    const data = join(import.meta.dirname, '../fixtures/onnx-test-data/test_sequence_insert_at_back');
    const model = join(data, 'model.onnx');
    const files = [{ path: 'seq/model.onnx', localPath: model, size: statSync(model).size }];
    const added = checkPublishInputs(files, { shapes: {}, values: {}, sampleInputs: data });
    expect(added.map((f) => f.path).sort()).toEqual([
      'seq/test_data_set_0/input_0.pb',
      'seq/test_data_set_0/input_1.pb',
      'seq/test_data_set_0/output_0.pb',
    ]);
  });

  it('refuses a sample of the wrong element type with the message the validator fails the version with', async () => {
    const model = join(dir, 'typed.onnx');
    writeFileSync(model, buildControlInputModel());
    const set = join(dir, 'typed', 'test_data_set_0');
    mkdirSync(set, { recursive: true });
    const encode = (o: Record<string, unknown>) =>
      Buffer.from(TensorProto.encode(TensorProto.fromObject(o)).finish());
    const x = encode({ name: 'x', dims: [2], dataType: DataType.INT64, int64Data: [1, 2] });
    const frames = encode({ name: 'frames', dims: [], dataType: DataType.INT64, int64Data: [2] });
    writeFileSync(join(set, 'input_0.pb'), x);
    writeFileSync(join(set, 'input_1.pb'), frames);
    const files = [{ path: 'typed.onnx', localPath: model, size: 1 }];
    const cli = usage(() =>
      checkPublishInputs(files, { shapes: {}, values: {}, sampleInputs: join(dir, 'typed') }),
    );
    const rule = 'test_data_set_0/input_0.pb holds int64; the model\'s input "x" is tensor(float32)';
    expect(cli).toContain(`--sample-inputs ${join(dir, 'typed')}: ${rule}`);
    const vdir = mkdtempSync(join(dir, 'typed-engine-'));
    const report = await validateFiles({
      files: layOutVersion(vdir, [
        { path: 'typed.onnx', bytes: buildControlInputModel() },
        { path: 'test_data_set_0/input_0.pb', bytes: x },
        { path: 'test_data_set_0/input_1.pb', bytes: frames },
      ]),
      dir: vdir,
      inputShapes: {},
      memoryBudgetBytes: 2 * 1024 ** 3,
      timeoutMs: 30_000,
      worker: 'test',
      attempt: 1,
    });
    expect(report.error).toMatchObject({ code: 'CONFIG_INVALID', file: 'typed.onnx', message: rule });
  });
});

describe('the engine checks the same names before any load (API users)', () => {
  it('fails the version CONFIG_INVALID naming the inputs that exist, without loading', async () => {
    const vdir = mkdtempSync(join(dir, 'engine-'));
    const files = layOutVersion(vdir, [{ path: 'det.onnx', bytes: buildImageModel() }]);
    const report = await validateFiles({
      files,
      dir: vdir,
      inputShapes: { x: [1, 3, 960, 960] },
      memoryBudgetBytes: 2 * 1024 ** 3,
      timeoutMs: 30_000,
      worker: 'test',
      attempt: 1,
    });
    expect(report.error).toMatchObject({ code: 'CONFIG_INVALID', file: 'det.onnx' });
    expect(report.error?.message).toMatch(/--input-shape names "x", .*det\.onnx has image/);
    expect(report.files[0]?.loadMs).toBeUndefined();
  });
});
