import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateFiles } from '../../gpu-validator/engine.js';
import { analyzeInputs } from '../../gpu-validator/input-consumers.js';
import { isolatedLoad } from '../../gpu-validator/isolated-load.js';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { MAX_ATTEMPTS, planAttempts, probeDim } from '../../gpu-validator/probe-ladder.js';
import { findSampleSet } from '../../gpu-validator/sample-io.js';
import { synthesizeInput, toHalfBits } from '../../gpu-validator/synthesize-inputs.js';
import { parseTensorProto } from '../../gpu-validator/tensor-proto.js';
import { DataType, TensorProto } from '../fixtures/onnx-proto.js';
import { buildControlInputModel, buildMlpModel, buildRowsModel } from '../fixtures/onnx-writer.js';
import { layOutVersion } from '../fixtures/version-files.js';

const GIB = 1024 ** 3;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'probe-ladder-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('probe ladder planning', () => {
  it('gives a model with only fixed dims two runs: plausible values, then the plain ones', () => {
    const plans = planAttempts([{ name: 'x', shape: [1, 4] }], {}, { defaultDim: 1, maxInputBytes: GIB });
    expect(plans).toEqual([
      { dims: { x: [1, 4] }, style: 'plausible' },
      { dims: { x: [1, 4] }, style: 'plain' },
    ]);
  });

  it('tries representative dims by name and rank, at most MAX_ATTEMPTS runs, never changing configured dims', () => {
    const inputs = [
      { name: 'image', shape: ['batch', 3, 'height', 'width'] },
      { name: 'tokens', shape: ['batch', 'sequence'] },
      { name: 'fixed', shape: ['n'] },
    ];
    const plans = planAttempts(inputs, { fixed: [5] }, { defaultDim: 1, maxInputBytes: GIB });
    expect(plans.length).toBeLessThanOrEqual(MAX_ATTEMPTS);
    expect(plans[0]?.dims).toEqual({ image: [1, 3, 1, 1], tokens: [1, 1], fixed: [5] });
    const image = plans.map((p) => p.dims.image);
    expect(image).toContainEqual([1, 3, 64, 64]);
    expect(image).toContainEqual([1, 3, 224, 224]);
    expect(plans.map((p) => p.dims.tokens)).toContainEqual([1, 512]);
    expect(plans.every((p) => p.dims.fixed?.[0] === 5)).toBe(true);
    expect(new Set(plans.map((p) => JSON.stringify(p))).size).toBe(plans.length);
  });

  it('keeps a batch dim at 1 wherever it sits, and tries an audio input with unnamed state dims at 1', () => {
    expect(probeDim('batch', 1, 3, 'large', 1)).toBe(1);
    // Silero VAD v5 as onnxruntime declares it: no dim names at all.
    const plans = planAttempts(
      [
        { name: 'input', shape: ['', ''] },
        { name: 'state', shape: [2, '', 128] },
        { name: 'sr', shape: [] },
      ],
      {},
      { defaultDim: 1, maxInputBytes: GIB },
    );
    expect(plans.map((p) => p.dims)).toContainEqual({ input: [1, 512], state: [2, 1, 128], sr: [] });
  });

  it('leaves out probes whose inputs would take more than the memory cap', () => {
    const plans = planAttempts(
      [{ name: 'x', shape: ['n', 'm'] }],
      {},
      { defaultDim: 1, maxInputBytes: 1024 },
    );
    for (const p of plans.slice(1))
      expect((p.dims.x ?? []).reduce((a, d) => a * d, 8)).toBeLessThanOrEqual(1024);
  });

  it('reads dims by name first: batch 1, channels 3, height/width spatial, a rank-1 length as a sequence', () => {
    expect(probeDim('batch_size', 0, 2, 'small', 1)).toBe(1);
    expect(probeDim('channels', 1, 4, 'large', 1)).toBe(3);
    expect(probeDim('height', 2, 4, 'large', 1)).toBe(224);
    expect(probeDim('', 3, 4, 'small', 1)).toBe(64);
    expect(probeDim('n', 0, 1, 'small', 1)).toBe(16);
    expect(probeDim('time', 1, 3, 'large', 1)).toBe(512);
  });
});

describe('synthesized values', () => {
  const hint = (opType: string, index: number) => ({
    kind: 'tensor' as const,
    elemType: 'int64',
    shape: [],
    uses: [{ opType, index }],
  });

  it('feeds what the consuming operator accepts', () => {
    const shape = synthesizeInput(Tensor, { name: 's', type: 'int64' }, [3], { hint: hint('Reshape', 1) });
    expect([...(shape.tensor.data as BigInt64Array)]).toEqual([1n, 1n, -1n]);
    expect(shape.fed.value).toMatch(/Reshape shape/);
    const steps = synthesizeInput(Tensor, { name: 'st', type: 'int64' }, [2], {
      hint: hint('Slice', 4),
      style: 'plain',
    });
    expect([...(steps.tensor.data as BigInt64Array)]).toEqual([1n, 1n]);
    const scales = synthesizeInput(Tensor, { name: 'sc', type: 'float32' }, [4], { hint: hint('Resize', 2) });
    expect([...(scales.tensor.data as Float32Array)]).toEqual([1, 1, 1, 1]);
    const divisor = synthesizeInput(Tensor, { name: 'd', type: 'int32' }, [2], {
      hint: hint('Mod', 1),
      style: 'plain',
    });
    expect([...(divisor.tensor.data as Int32Array)]).toEqual([1, 1]);
  });

  it('gives a sample-rate input 16000, floats a 0.1…0.9 ramp, strings "1", and a publisher value precedence', () => {
    const sr = synthesizeInput(Tensor, { name: 'sr', type: 'int64' }, []);
    expect(sr.tensor.data).toEqual(BigInt64Array.from([16000n]));
    const f = synthesizeInput(Tensor, { name: 'x', type: 'float32' }, [97]);
    const values = [...(f.tensor.data as Float32Array)];
    expect(Math.min(...values)).toBeCloseTo(0.1);
    expect(Math.max(...values)).toBeCloseTo(0.9);
    expect(synthesizeInput(Tensor, { name: 't', type: 'string' }, [2]).tensor.data).toEqual(['1', '1']);
    const given = synthesizeInput(Tensor, { name: 'sr', type: 'int64' }, [], { publisherValue: 8000 });
    expect(given.tensor.data).toEqual(BigInt64Array.from([8000n]));
    expect(given.fed).toMatchObject({ source: 'publisher', value: 'fill 8000' });
    expect(toHalfBits(0.5)).toBe(0x3800);
  });
});

describe('input consumers', () => {
  it('finds how each graph input is typed and consumed, initializers excluded', () => {
    const plans = analyzeInputs(write('control.onnx', buildControlInputModel()));
    expect(plans).toEqual([
      {
        name: 'x',
        kind: 'tensor',
        elemType: 'float32',
        shape: ['N'],
        uses: [{ opType: 'Reshape', index: 0 }],
      },
      {
        name: 'frames',
        kind: 'tensor',
        elemType: 'int64',
        shape: [],
        uses: [{ opType: 'Unsqueeze', index: 0 }],
      },
    ]);
  });
});

describe('probe ladder on real runs', () => {
  const roomy = { memoryBudgetBytes: 2 * GIB, timeoutMs: 30_000 };

  it('runs an int64 control input at a non-zero value at once', async () => {
    const path = write('control-run.onnx', buildControlInputModel());
    const result = await isolatedLoad({ ...roomy, modelPath: path });
    expect(result).toMatchObject({ ok: true, smokeRun: 'ran' });
    expect(result.fedInputs?.find((f) => f.name === 'frames')).toMatchObject({
      value: 'fill 1',
      source: 'synthesized',
    });
    expect(result.probes).toBeUndefined();
  });

  it('fails SAMPLE_INPUTS_REQUIRED when no probe runs, naming load time, peak, inputs fed, the error and the flags', async () => {
    const path = write('rows7.onnx', buildRowsModel(7));
    const result = await isolatedLoad({ ...roomy, modelPath: path });
    expect(result).toMatchObject({ ok: false, code: 'SAMPLE_INPUTS_REQUIRED', stage: 'run' });
    if (result.ok) return;
    expect(result.message).toMatch(/loaded in \d+ ms at a peak of [\d.]+ MiB \(the load is proven\)/);
    expect(result.message).toMatch(/fed x float32\[1\] ramp 0\.1…0\.9 → ".*Reshape/);
    expect(result.message).toMatch(/--input-shape x=…/);
    expect(result.message).toMatch(/--sample-inputs PATH/);
    expect(result.probes?.length).toBeGreaterThanOrEqual(3);
    expect(result.probes?.length).toBeLessThanOrEqual(MAX_ATTEMPTS);
  });

  it('with probing off, runs once and stops', async () => {
    const path = write('rows7-once.onnx', buildRowsModel(7));
    const result = await isolatedLoad({ ...roomy, modelPath: path, probe: false });
    expect(result).toMatchObject({ ok: false, code: 'SAMPLE_INPUTS_REQUIRED' });
    expect(result.probes).toHaveLength(1);
  });
});

function tensorFile(name: string, dims: number[], floats: number[]): Buffer {
  const message = TensorProto.fromObject({ name, dims, dataType: DataType.FLOAT, floatData: floats });
  return Buffer.from(TensorProto.encode(message).finish());
}

describe('sample inputs in the ONNX test-data layout', () => {
  it('parses TensorProto files (typed fields and raw data) and refuses lengths that do not match the dims', () => {
    expect(parseTensorProto('a.pb', tensorFile('x', [2], [1.5, 2.5]))).toEqual({
      name: 'x',
      type: 'float32',
      dims: [2],
      data: Float32Array.from([1.5, 2.5]),
    });
    const raw = TensorProto.encode(
      TensorProto.fromObject({
        dims: [2],
        dataType: DataType.INT64,
        rawData: new Uint8Array(BigInt64Array.from([3n, -4n]).buffer),
      }),
    ).finish();
    expect(parseTensorProto('b.pb', Buffer.from(raw)).data).toEqual(BigInt64Array.from([3n, -4n]));
    expect(() => parseTensorProto('c.pb', tensorFile('x', [3], [1, 2]))).toThrow(
      /holds 2 values; its dims need 3/,
    );
    expect(() => parseTensorProto('d.pb', Buffer.from([0x0a, 0x7f]))).toThrow(LoadFailure);
  });

  it('finds the first test_data_set beside a model alone in its folder', () => {
    const files = [
      'm/model.onnx',
      'm/test_data_set_1/input_0.pb',
      'm/test_data_set_0/input_0.pb',
      'm/test_data_set_0/output_0.pb',
    ].map((path) => ({ path, localPath: `/x/${path}` }));
    expect(findSampleSet('m/model.onnx', files)).toMatchObject({
      dir: 'm/test_data_set_0',
      inputs: [{ path: 'm/test_data_set_0/input_0.pb' }],
      outputs: [{ path: 'm/test_data_set_0/output_0.pb' }],
    });
    expect(findSampleSet('m/model.onnx', files.slice(0, 1))).toBeUndefined();
  });

  it('a published folder with test_data_set_0 runs its inputs and compares its outputs; a wrong output fails', async () => {
    const model = buildMlpModel({ layers: 1, dim: 4 });
    const vdir = mkdtempSync(join(dir, 'sample-'));
    const ortModule = await import('onnxruntime-node');
    const session = await ortModule.InferenceSession.create(model);
    const x = [0.5, -1, 2, 0.25];
    const inputName = session.inputNames[0] as string;
    const outputName = session.outputNames[0] as string;
    const out = await session.run({ [inputName]: new Tensor('float32', Float32Array.from(x), [1, 4]) });
    const expected = [...((out[outputName] as Tensor).data as Float32Array)];
    const files = layOutVersion(vdir, [
      { path: 'model.onnx', bytes: model },
      { path: 'test_data_set_0/input_0.pb', bytes: tensorFile(inputName, [1, 4], x) },
      { path: 'test_data_set_0/output_0.pb', bytes: tensorFile(outputName, [1, 4], expected) },
    ]);
    const base = {
      dir: vdir,
      inputShapes: {},
      memoryBudgetBytes: 2 * GIB,
      timeoutMs: 30_000,
      worker: 't',
      attempt: 1,
    };
    const good = await validateFiles({ ...base, files });
    expect(good.outcome).toBe('passed');
    expect(good.files[0]?.golden).toMatchObject({ file: 'test_data_set_0', outputs: [{ name: outputName }] });
    expect(good.files[0]?.fedInputs?.[0]).toMatchObject({
      source: 'sample',
      value: 'from test_data_set_0/input_0.pb',
    });
    mkdirSync(join(vdir, 'bad'), { recursive: true });
    const badFiles = layOutVersion(join(vdir, 'bad'), [
      { path: 'model.onnx', bytes: model },
      { path: 'test_data_set_0/input_0.pb', bytes: tensorFile(inputName, [1, 4], x) },
      {
        path: 'test_data_set_0/output_0.pb',
        bytes: tensorFile(
          outputName,
          [1, 4],
          expected.map((v) => v + 1),
        ),
      },
    ]);
    const bad = await validateFiles({ ...base, dir: join(vdir, 'bad'), files: badFiles });
    expect(bad.error).toMatchObject({ code: 'INFERENCE_FAILED', file: 'model.onnx' });
    expect(bad.error?.message).toMatch(/differs from test_data_set_0/);
  });
});
