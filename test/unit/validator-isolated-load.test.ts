import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeBaseline } from '../../gpu-validator/baseline.js';
import { isolatedLoad } from '../../gpu-validator/isolated-load.js';
import { MAX_MESSAGE_CHARS, truncationMarker } from '../../schemas/bounded-text.js';
import {
  buildImageModel,
  buildInt64InputModel,
  buildLongNamesModel,
  buildMlpModel,
  buildMultiInputModel,
  buildNanModel,
  buildTooNewOpsetModel,
  buildUnknownOpModel,
  flipBytes,
  graphTagOffset,
  modelOfSize,
  writeLargeModel,
} from '../fixtures/onnx-writer.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const roomy = { memoryBudgetBytes: 2 * GIB, timeoutMs: 30_000 };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'isolated-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function write(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('isolatedLoad', () => {
  it('loads and runs a model in a child, with timings, shapes and the child peak memory', async () => {
    const result = await isolatedLoad({
      ...roomy,
      modelPath: write('mlp.onnx', buildMlpModel({ layers: 2, dim: 16 })),
    });
    expect(result).toMatchObject({ ok: true, runtimeVersion: '1.30.0', executionProvider: 'cpu' });
    if (!result.ok) return;
    expect(result.loadMs).toBeGreaterThan(0);
    expect(result.inferenceMs).toBeGreaterThan(0);
    expect(result.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 16] }]);
    expect(result.inputShapes).toEqual({ input: [1, 16] });
    // Node plus the runtime alone take tens of MiB: a smaller figure would mean we measured the wrong process.
    expect(result.peakRssBytes).toBeGreaterThan(30 * MIB);
    expect(result.vmHwmBytes).toBeGreaterThan(30 * MIB);
    expect(result.peakRssBytes).not.toBe(process.memoryUsage().rss);
  });

  it("writes nothing outside the registry's folders: the runtime's telemetry stays off", async () => {
    // onnxruntime-node's telemetry writes under $HOME and $TMPDIR unless disabled; the child inherits both.
    const home = mkdtempSync(join(dir, 'home-'));
    const tmp = mkdtempSync(join(dir, 'tmp-'));
    const saved = {
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      ORT: process.env.ORT_DISABLE_TELEMETRY,
    };
    Object.assign(process.env, { HOME: home, TMPDIR: tmp, ORT_DISABLE_TELEMETRY: '0' });
    try {
      const result = await isolatedLoad({
        ...roomy,
        modelPath: write('quiet.onnx', buildMlpModel({ layers: 1, dim: 8 })),
      });
      expect(result.ok).toBe(true);
    } finally {
      restoreEnv('HOME', saved.HOME);
      restoreEnv('TMPDIR', saved.TMPDIR);
      restoreEnv('ORT_DISABLE_TELEMETRY', saved.ORT);
    }
    expect(readdirSync(home, { recursive: true })).toEqual([]);
    // tsx (which runs the child from these TypeScript sources) keeps its compile cache in $TMPDIR/tsx-*.
    expect(readdirSync(tmp).filter((name) => !name.startsWith('tsx-'))).toEqual([]);
  });

  it('loads a model framed by the streaming writer (hand-written protobuf lengths)', async () => {
    const modelPath = join(dir, 'streamed.onnx');
    writeLargeModel(modelPath, 4 * MIB);
    const result = await isolatedLoad({ ...roomy, modelPath, inputShapes: { input: [2, 256] } });
    expect(result).toMatchObject({
      ok: true,
      outputs: [{ name: 'output', type: 'float32', shape: ['N', 4096] }],
    });
  });

  it('honours configured input shapes, element types and multiple inputs', async () => {
    const image = await isolatedLoad({
      ...roomy,
      modelPath: write('image.onnx', buildImageModel()),
      inputShapes: { image: [1, 3, 40, 24] },
    });
    expect(image).toMatchObject({ ok: true, inputShapes: { image: [1, 3, 40, 24] } });
    const ids = await isolatedLoad({
      ...roomy,
      modelPath: write('ids.onnx', buildInt64InputModel()),
      inputShapes: { ids: [2, 7] },
    });
    expect(ids).toMatchObject({ ok: true, inputShapes: { ids: [2, 7] } });
    const multi = await isolatedLoad({ ...roomy, modelPath: write('multi.onnx', buildMultiInputModel()) });
    expect(multi).toMatchObject({ ok: true, inputShapes: { a: [1, 8], b: [1, 8] } });
  });

  it('runs a model by its whole 2 MB names and sends them back cut, with their length', async () => {
    const result = await isolatedLoad({
      ...roomy,
      modelPath: write('long.onnx', buildLongNamesModel(2_000_000)),
    });
    expect(result.ok).toBe(true);
    expect(result.smokeRun).toBe('ran');
    const marker = truncationMarker(2_000_000);
    const cut = (char: string) => char.repeat(MAX_MESSAGE_CHARS - marker.length) + marker;
    expect(result.inputs).toEqual([
      { name: 'a', type: 'float32', shape: ['N', 8] },
      { name: cut('X'), type: 'float32', shape: [cut('D'), 8] },
    ]);
    expect(result.fedInputs?.map((f) => f.name)).toEqual(['a', cut('X')]);
    expect(Object.keys(result.inputShapes ?? {})).toEqual(['a', cut('X')]);
    // Five quotes of 2 MB names came back as 10 MB before; now the number of names sets the size.
    expect(JSON.stringify(result).length).toBeLessThan(64 * 1024);
  });

  it('refuses an input shape that contradicts the model as CONFIG_INVALID', async () => {
    const result = await isolatedLoad({
      ...roomy,
      modelPath: write('image-bad.onnx', buildImageModel()),
      inputShapes: { image: [1, 4, 8, 8] },
    });
    expect(result).toMatchObject({ ok: false, code: 'CONFIG_INVALID' });
  });

  it('classifies what the runtime refuses: corrupted, unknown op, too-new opset, unavailable GPU', async () => {
    const model = buildMlpModel({ layers: 1, dim: 4 });
    const flipped = await isolatedLoad({
      ...roomy,
      modelPath: write('flip.onnx', flipBytes(model, graphTagOffset(model))),
    });
    expect(flipped).toMatchObject({ ok: false, code: 'MODEL_CORRUPTED', stage: 'load' });
    const unknown = await isolatedLoad({ ...roomy, modelPath: write('unknown.onnx', buildUnknownOpModel()) });
    expect(unknown).toMatchObject({ ok: false, code: 'UNSUPPORTED_MODEL' });
    expect(unknown.ok || unknown.message).toContain('NoSuchOp');
    const opset = await isolatedLoad({ ...roomy, modelPath: write('opset.onnx', buildTooNewOpsetModel(99)) });
    expect(opset).toMatchObject({ ok: false, code: 'UNSUPPORTED_MODEL' });
    const cuda = await isolatedLoad({
      ...roomy,
      modelPath: write('cuda.onnx', model),
      executionProviders: ['cuda'],
    });
    expect(cuda).toMatchObject({ ok: false, code: 'GPU_UNAVAILABLE' });
    const missing = await isolatedLoad({ ...roomy, modelPath: join(dir, 'nope.onnx') });
    expect(missing).toMatchObject({ ok: false, code: 'FILE_MISSING' });
  });

  it('passes a model whose smoke run on synthesized inputs produces NaN, with a note', async () => {
    const result = await isolatedLoad({ ...roomy, modelPath: write('nan.onnx', buildNanModel()) });
    expect(result).toMatchObject({ ok: true, smokeRun: 'ran' });
    expect(result.notes?.[0]).toMatch(
      /output "output" has 4 of 4 values NaN or infinite on synthesized inputs/,
    );
    expect(result.fedInputs).toEqual([
      { name: 'input', type: 'float32', shape: [1, 4], value: 'ramp 0.1…0.9', source: 'synthesized' },
    ]);
  });

  it("fails NaN on inputs that are all the publisher's own (--input-value) as INFERENCE_FAILED", async () => {
    const result = await isolatedLoad({
      ...roomy,
      modelPath: write('nan-given.onnx', buildNanModel()),
      inputValues: { input: 0.5 },
    });
    expect(result).toMatchObject({ ok: false, code: 'INFERENCE_FAILED', stage: 'run' });
    expect(result.ok || result.message).toMatch(/output "output" .* on the publisher's inputs/);
    expect(result.fedInputs?.[0]).toMatchObject({ value: 'fill 0.5', source: 'publisher' });
  });

  it('kills a child over the memory budget: INSUFFICIENT_MEMORY with the peak seen', async () => {
    const result = await isolatedLoad({
      ...roomy,
      memoryBudgetBytes: 20 * MIB,
      modelPath: write('m.onnx', modelOfSize(1e6)),
    });
    // Killed by the watchdog while still starting, not judged after the fact.
    expect(result).toMatchObject({ ok: false, code: 'INSUFFICIENT_MEMORY', stage: 'import' });
    expect(result.loadMs).toBeUndefined();
    expect(result.peakRssBytes).toBeGreaterThan(20 * MIB);
    expect(result.ok || result.message).toMatch(/over the budget of 20\.0 MiB/);
  });

  it('kills a child over the memory budget while the model loads: INSUFFICIENT_MEMORY with the peak seen', async () => {
    const { vmHwmBytes: baseline } = await runtimeBaseline();
    const budget = baseline + 24 * MIB;
    const result = await isolatedLoad({
      ...roomy,
      memoryBudgetBytes: budget,
      modelPath: write('heavy.onnx', modelOfSize(64e6)),
    });
    expect(result).toMatchObject({ ok: false, code: 'INSUFFICIENT_MEMORY' });
    expect(result.ok || result.stage).not.toBe('import');
    expect(result.peakRssBytes).toBeGreaterThan(budget);
    expect(result.ok || result.message).toMatch(/over the budget of/);
  });

  it('judges memory at the served input shape: the same model fits at 64×64 and not at 2048×2048', async () => {
    const { vmHwmBytes: baseline } = await runtimeBaseline();
    const modelPath = write('detector.onnx', buildImageModel(8));
    const budget = { memoryBudgetBytes: baseline + 80 * MIB, timeoutMs: 30_000 };
    const small = await isolatedLoad({ ...budget, modelPath, inputShapes: { image: [1, 3, 64, 64] } });
    expect(small).toMatchObject({ ok: true });
    // Input 48 MiB plus an 8-channel output of 128 MiB: far over baseline + 80 MiB.
    const large = await isolatedLoad({ ...budget, modelPath, inputShapes: { image: [1, 3, 2048, 2048] } });
    expect(large).toMatchObject({ ok: false, code: 'INSUFFICIENT_MEMORY', stage: 'run' });
  });

  it('kills a load that outlasts the timeout: TIMEOUT', async () => {
    const result = await isolatedLoad({
      memoryBudgetBytes: 2 * GIB,
      timeoutMs: 1,
      modelPath: write('slow.onnx', modelOfSize(4e6)),
    });
    expect(result).toMatchObject({ ok: false, code: 'TIMEOUT' });
    expect(result.ok || result.message).toMatch(/1 ms/);
  });
});

describe('runtimeBaseline', () => {
  it('measures the VmHWM of a child that only imported the runtime, once', async () => {
    const first = await runtimeBaseline();
    expect(first.runtimeVersion).toBe('1.30.0');
    expect(first.vmHwmBytes).toBeGreaterThan(30 * MIB);
    expect(await runtimeBaseline()).toBe(first);
  });
});
