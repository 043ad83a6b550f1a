import { describe, expect, it } from 'vitest';
import { undescribableValues } from '../../gpu-validator/native-session.js';
import { dataTypeName } from '../../gpu-validator/onnx-types.js';
import { encodeModel, valueInfo } from '../fixtures/onnx-writer.js';

describe("the graph values onnxruntime-node's InferenceSession cannot describe", () => {
  it('names tensor inputs and outputs of element types its backend has no name for, and nothing else', () => {
    const found = undescribableValues({
      inputs: [
        { name: 'ids', type: { kind: 'tensor', elemType: 'int64' } },
        { name: 'x', type: { kind: 'tensor', elemType: 'bfloat16' } },
        { name: 'packed', type: { kind: 'tensor', elemType: 'int4' } },
        { name: 'seq', type: { kind: 'sequence', elem: { kind: 'tensor', elemType: 'bfloat16' } } },
      ],
      outputs: [
        { name: 'y', type: { kind: 'tensor', elemType: 'float8e4m3fn' } },
        { name: 'z', type: { kind: 'tensor', elemType: 'complex64' } },
        { name: 'p', type: { kind: 'tensor', elemType: 'float16' } },
      ],
    });
    expect(found).toEqual([
      { name: 'x', elemType: 'bfloat16' },
      { name: 'y', elemType: 'float8e4m3fn' },
      { name: 'z', elemType: 'complex64' },
    ]);
  });
});

describe('against the installed onnxruntime-node', () => {
  it("agrees with InferenceSession.create on every ONNX element type of a graph's input and output", async () => {
    const ort = await import('onnxruntime-node');
    const disagreements: string[] = [];
    let described = 0;
    let refused = 0;
    for (let type = 1; type <= 26; type++) {
      const elemType = dataTypeName(type);
      const model = encodeModel({
        nodes: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
        initializers: [],
        inputs: [valueInfo('x', type, [1, 4])],
        outputs: [valueInfo('y', type, [1, 4])],
      });
      const predicted = undescribableValues({
        inputs: [{ name: 'x', type: { kind: 'tensor', elemType } }],
        outputs: [],
      }).length;
      try {
        await ort.InferenceSession.create(new Uint8Array(model));
        described++;
        if (predicted) disagreements.push(`${elemType}: described, predicted not`);
      } catch (error) {
        // Other refusals (no Identity kernel for a 2-bit type in this build) say nothing about the binding.
        if (String(error).includes(`Unsupported data type: ${type}`)) {
          refused++;
          if (!predicted) disagreements.push(`${elemType}: refused by the binding, predicted describable`);
        }
      }
    }
    expect(disagreements).toEqual([]);
    // Both outcomes were met, so the comparison above compared something.
    expect(described).toBeGreaterThanOrEqual(10);
    expect(refused).toBeGreaterThanOrEqual(1);
  });
});
