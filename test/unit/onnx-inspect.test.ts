import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { inspectOnnx } from '../../gpu-validator/onnx-inspect.js';
import { MAX_NAME_CHARS, truncationMarker } from '../../schemas/bounded-text.js';
import { DataType } from '../fixtures/onnx-proto.js';
import {
  buildCustomDomainModel,
  buildExternalDataModel,
  buildImageModel,
  buildInt64InputModel,
  buildLongNamesModel,
  buildMlpModel,
  buildMultiInputModel,
  encodeModel,
  flipBytes,
  graphTagOffset,
  longNames,
  modelOfSize,
  truncate,
  valueInfo,
  writeExternalDataModel,
  writeLargeModel,
} from '../fixtures/onnx-writer.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'onnx-inspect-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof LoadFailure ? error.code : `not a LoadFailure: ${String(error)}`;
  }
  return undefined;
}

describe('inspectOnnx', () => {
  it('reads the header, opsets, typed inputs with symbolic dims, operators and initializer sizes', () => {
    const info = inspectOnnx(
      write('mlp.onnx', buildMlpModel({ layers: 3, dim: 8, opset: 18, irVersion: 9 })),
    );
    expect(info.irVersion).toBe(9);
    expect(info.opsetImports).toEqual([{ domain: '', version: 18 }]);
    expect(info.producerName).toBe('modelgate-fixtures');
    expect(info.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 8] }]);
    expect(info.outputs).toEqual([{ name: 'output', type: 'float32', shape: ['N', 8] }]);
    expect(info.operators).toEqual([
      { domain: '', opType: 'MatMul', count: 3 },
      { domain: '', opType: 'Add', count: 3 },
      { domain: '', opType: 'Relu', count: 3 },
    ]);
    expect(info.initializerCount).toBe(6);
    expect(info.initializerBytes).toBe(3 * (8 * 8 + 8) * 4);
    expect(info.staticMemoryEstimateBytes).toBe(info.fileSize + info.initializerBytes);
  });

  it('reports every input with its element type and fixed or symbolic dims', () => {
    expect(inspectOnnx(write('multi.onnx', buildMultiInputModel())).inputs.map((i) => i.name)).toEqual([
      'a',
      'b',
    ]);
    expect(inspectOnnx(write('ids.onnx', buildInt64InputModel())).inputs).toEqual([
      { name: 'ids', type: 'int64', shape: ['N', 'T'] },
    ]);
    const image = inspectOnnx(write('image.onnx', buildImageModel(4)));
    expect(image.inputs).toEqual([{ name: 'image', type: 'float32', shape: [1, 3, 'H', 'W'] }]);
    expect(image.outputs[0]?.shape).toEqual([1, 4, 'H', 'W']);
  });

  it('names custom-domain operators and their opset import', () => {
    const info = inspectOnnx(write('custom.onnx', buildCustomDomainModel('com.example')));
    expect(info.opsetImports).toContainEqual({ domain: 'com.example', version: 1 });
    expect(info.operators).toEqual([{ domain: 'com.example', opType: 'FancyOp', count: 1 }]);
  });

  it('lists external-data references with offset and length', () => {
    const sub = mkdtempSync(join(dir, 'ext-'));
    const { modelPath } = writeExternalDataModel(sub, { data: 'weights.bin' });
    const info = inspectOnnx(modelPath);
    expect(info.externalData).toEqual([
      { tensor: 'w', location: 'weights.bin', offset: 0, length: 16 * 16 * 4 },
    ]);
    expect(info.initializerBytes).toBe(16 * 16 * 4);
  });

  it('reads under 1% of a model that is mostly initializers: weights are skipped, not read', () => {
    const path = write('big.onnx', modelOfSize(8_000_000));
    const info = inspectOnnx(path);
    expect(info.fileSize).toBeGreaterThan(8_000_000);
    expect(info.initializerBytes / info.fileSize).toBeGreaterThan(0.99);
    expect(info.bytesRead / info.fileSize).toBeLessThan(0.01);
    expect(info.operators.find((o) => o.opType === 'MatMul')?.count).toBe(info.initializerCount / 2);
  });

  it('inspects a model written by the streaming writer, reading only its head', () => {
    const path = join(dir, 'streamed.onnx');
    const size = writeLargeModel(path, 16 * 1024 * 1024);
    const info = inspectOnnx(path);
    expect(info.fileSize).toBe(size);
    expect(info.initializerBytes).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    expect(info.bytesRead).toBeLessThanOrEqual(8192);
    expect(info.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 256] }]);
  });

  it('throws MODEL_CORRUPTED for truncated, bit-flipped, text and empty files', () => {
    const model = modelOfSize(200_000);
    expect(codeOf(() => inspectOnnx(write('trunc.onnx', truncate(model, 5000))))).toBe('MODEL_CORRUPTED');
    expect(codeOf(() => inspectOnnx(write('trunc-end.onnx', truncate(model, model.length - 1))))).toBe(
      'MODEL_CORRUPTED',
    );
    expect(codeOf(() => inspectOnnx(write('flip.onnx', flipBytes(model, graphTagOffset(model)))))).toBe(
      'MODEL_CORRUPTED',
    );
    expect(codeOf(() => inspectOnnx(write('text.onnx', 'name,score\nfoo,1\n')))).toBe('MODEL_CORRUPTED');
    expect(codeOf(() => inspectOnnx(write('empty.onnx', '')))).toBe('MODEL_CORRUPTED');
  });

  it('throws FILE_MISSING for a path that does not exist', () => {
    expect(codeOf(() => inspectOnnx(join(dir, 'nope.onnx')))).toBe('FILE_MISSING');
  });
});

describe('inspectOnnx on names as long as a file can make them', () => {
  const LENGTH = 2_000_000;
  /** What a name of LENGTH bytes of `char` becomes: its start, then the marker with its whole length. */
  const cutName = (char: string) => {
    const marker = truncationMarker(LENGTH);
    return char.repeat(MAX_NAME_CHARS - marker.length) + marker;
  };

  it('keeps the start of a 2 MB input, output and dimension name with a marker, skipping the rest unread', () => {
    const path = write('long-names.onnx', buildLongNamesModel(LENGTH));
    const info = inspectOnnx(path);
    expect(info.inputs).toEqual([
      { name: 'a', type: 'float32', shape: ['N', 8] },
      { name: cutName('X'), type: 'float32', shape: [cutName('D'), 8] },
    ]);
    expect(info.outputs).toEqual([{ name: cutName('Y'), type: 'float32', shape: ['N', 8] }]);
    expect(info.operators).toEqual([{ domain: '', opType: 'Add', count: 1 }]);
    // The node's 2 MB name and its 2 MB input and output references are never read, nor kept.
    expect(info.fileSize).toBeGreaterThan(6 * LENGTH);
    expect(info.bytesRead).toBeLessThan(64 * 1024);
    expect(JSON.stringify(info).length).toBeLessThan(4 * 1024);
    expect(JSON.stringify(info)).not.toContain(longNames(1024).node);
  });

  it('cuts operator, domain and opset names the same way, so a custom operator still names its domain', () => {
    const domain = 'd'.repeat(LENGTH);
    const model = encodeModel(
      {
        nodes: [{ opType: 'O'.repeat(LENGTH), domain, input: ['x'], output: ['y'] }],
        initializers: [],
        inputs: [valueInfo('x', DataType.FLOAT, [1])],
        outputs: [valueInfo('y', DataType.FLOAT, [1])],
      },
      { extraOpsets: [{ domain, version: 1 }] },
    );
    const info = inspectOnnx(write('long-op.onnx', model));
    expect(info.operators).toEqual([{ domain: cutName('d'), opType: cutName('O'), count: 1 }]);
    expect(info.opsetImports).toContainEqual({ domain: cutName('d'), version: 1 });
  });

  it('cuts long multi-byte texts between characters and gives their length in bytes', () => {
    const name = 'é'.repeat(1000);
    const model = encodeModel({
      nodes: [{ opType: 'Relu', input: [name], output: ['y'] }],
      initializers: [],
      inputs: [valueInfo(name, DataType.FLOAT, [1])],
      outputs: [valueInfo('y', DataType.FLOAT, [1])],
    });
    const [input] = inspectOnnx(write('accents.onnx', model)).inputs;
    expect(input?.name).toHaveLength(MAX_NAME_CHARS);
    expect(input?.name).toMatch(/^é+…\[truncated, 2000 bytes in all\]$/);
    // 9000 bytes of 3-byte characters: the 8 KiB the reader keeps end inside one, which must not show.
    const location = '€'.repeat(3000);
    const ext = inspectOnnx(write('euro.onnx', buildExternalDataModel(location).model)).externalData;
    expect(ext[0]?.location).toMatch(/^€+…\[truncated, 9000 bytes in all\]$/);
    expect(ext[0]?.location).toBe(`${'€'.repeat(2730)}${truncationMarker(9000)}`);
  });

  it('keeps a name of exactly the maximum whole, so a publisher can still name that input', () => {
    const name = 'n'.repeat(MAX_NAME_CHARS);
    const model = encodeModel({
      nodes: [{ opType: 'Relu', input: [name], output: ['y'] }],
      initializers: [],
      inputs: [valueInfo(name, DataType.FLOAT, [1])],
      outputs: [valueInfo('y', DataType.FLOAT, [1])],
    });
    expect(inspectOnnx(write('exact.onnx', model)).inputs[0]?.name).toBe(name);
  });
});

// 1 GiB of disk and ~3 s: run with MODELGATE_BIG_TESTS=1 (measured: 8 KiB read of 1 GiB, writer RSS flat).
describe.skipIf(!process.env.MODELGATE_BIG_TESTS)(
  'a 1 GiB model (opt-in with MODELGATE_BIG_TESTS=1: writes 1 GiB to disk)',
  () => {
    it('is written without being held in memory and inspected reading only kilobytes', () => {
      const path = join(dir, 'one-gib.onnx');
      const rssBefore = process.memoryUsage().rss;
      const size = writeLargeModel(path, 1024 ** 3);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 ** 2);
      const info = inspectOnnx(path);
      expect(info.fileSize).toBe(size);
      expect(info.initializerBytes).toBeGreaterThanOrEqual(1024 ** 3);
      expect(info.bytesRead).toBeLessThanOrEqual(64 * 1024);
      rmSync(path);
    });
  },
);
