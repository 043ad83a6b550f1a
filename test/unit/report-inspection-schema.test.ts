import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectGguf } from '../../gpu-validator/gguf-inspect.js';
import { inspectOnnx } from '../../gpu-validator/onnx-inspect.js';
import { inspectSafetensors } from '../../gpu-validator/safetensors-inspect.js';
import { inspectZip } from '../../gpu-validator/zip-inspect.js';
import { FileInspection, OnnxInspection } from '../../schemas/report.schema.js';
import { buildGguf, buildPytorchZip, buildSafetensors } from '../fixtures/model-formats.js';
import { buildMlpModel } from '../fixtures/onnx-writer.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inspection-schema-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('the report inspection schema', () => {
  it('types what the ONNX inspector writes: IR version, opsets, producer, operators', () => {
    const inspection = inspectOnnx(write('mlp.onnx', buildMlpModel({ layers: 2, dim: 8 })));
    const parsed = OnnxInspection.parse({ ...inspection });
    expect(parsed.irVersion).toBe(inspection.irVersion);
    expect(parsed.opsetImports).toEqual(inspection.opsetImports);
    expect(parsed.opsetImports.length).toBeGreaterThan(0);
    expect(parsed.operators?.length).toBeGreaterThan(0);
    // Nothing the inspector wrote is dropped on the way through the schema.
    expect(FileInspection.parse({ ...inspection })).toEqual({ ...inspection });
  });

  it('accepts what the safetensors, GGUF and zip inspectors write, unchanged', async () => {
    const written = [
      inspectSafetensors(
        write('w.safetensors', buildSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2] }])),
      ),
      inspectGguf(write('m.gguf', buildGguf([{ name: 't', dims: [4] }]))),
      { ...(await inspectZip(write('m.pt', buildPytorchZip()))), staticMemoryEstimateBytes: 1 },
    ];
    for (const inspection of written)
      expect(FileInspection.parse({ ...inspection })).toEqual({ ...inspection });
  });

  it('refuses an inspection that is none of the formats, or a mistyped IR version', () => {
    expect(FileInspection.safeParse({ anything: 1 }).success).toBe(false);
    const result = OnnxInspection.safeParse({
      irVersion: 'eight',
      opsetImports: [],
      producerName: '',
      producerVersion: '',
      fileSize: 1,
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['irVersion']);
  });
});
