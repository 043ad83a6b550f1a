import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import {
  checkOutputs,
  nonFiniteCount,
  resolveShape,
  synthesizeTensor,
} from '../../gpu-validator/synthesize-inputs.js';

const image = { name: 'image', type: 'float32', shape: [1, 3, 'H', 'W'] as (number | string)[] };

describe('resolveShape', () => {
  it('keeps fixed dims and gives symbolic ones the default', () => {
    expect(resolveShape(image, undefined, 1)).toEqual([1, 3, 1, 1]);
    expect(resolveShape(image, undefined, 32)).toEqual([1, 3, 32, 32]);
  });

  it('uses a configured shape that agrees with the model', () => {
    expect(resolveShape(image, [1, 3, 960, 960], 1)).toEqual([1, 3, 960, 960]);
  });

  it('refuses a configured shape of the wrong rank or contradicting a fixed dim as CONFIG_INVALID', () => {
    expect(() => resolveShape(image, [3, 960, 960], 1)).toThrow(LoadFailure);
    try {
      resolveShape(image, [1, 4, 960, 960], 1);
      expect.unreachable();
    } catch (error) {
      expect((error as LoadFailure).code).toBe('CONFIG_INVALID');
      expect((error as LoadFailure).message).toContain('dimension 1 is fixed at 3');
    }
  });
});

describe('synthesizeTensor', () => {
  it('builds finite tensors of the declared type and size', () => {
    const f = synthesizeTensor(Tensor, image, [1, 3, 2, 2]);
    expect(f.type).toBe('float32');
    expect(f.dims).toEqual([1, 3, 2, 2]);
    expect(nonFiniteCount(f)).toBe(0);
    const ids = synthesizeTensor(Tensor, { name: 'ids', type: 'int64', shape: ['N'] }, [5]);
    expect(ids.type).toBe('int64');
    // Integers 1, not 0: as a shape, size, step, depth or divisor 0 breaks graphs.
    expect(ids.data).toEqual(new BigInt64Array(5).fill(1n));
    expect(synthesizeTensor(Tensor, { name: 'm', type: 'bool', shape: [2] }, [2]).type).toBe('bool');
  });

  it('refuses a type it cannot synthesize as CONFIG_INVALID', () => {
    expect(() => synthesizeTensor(Tensor, { name: 'x', type: 'bfloat16', shape: [1] }, [1])).toThrow(
      /bfloat16/,
    );
  });
});

describe('checkOutputs', () => {
  it('fails with INFERENCE_FAILED naming the output with NaN or Inf (publisher inputs)', () => {
    const good = new Tensor('float32', new Float32Array([1, 2]), [2]);
    const bad = new Tensor('float32', new Float32Array([Number.NaN, 1, Number.POSITIVE_INFINITY]), [3]);
    expect(() => checkOutputs({ good })).not.toThrow();
    expect(() => checkOutputs({ good, bad })).toThrow(/output "bad" has 2 of 3 values/);
    const half = new Tensor('float16', new Uint16Array([0x3c00, 0x7e00]), [2]);
    expect(nonFiniteCount(half)).toBe(1);
  });
});
