import { describe, expect, it } from 'vitest';
import {
  InputShapes,
  MAX_INPUT_ELEMENTS,
  PublishInputShapes,
  StartVersionRequest,
} from '../../schemas/version.schema.js';

describe('input shapes at publish', () => {
  it('takes served shapes up to 2^32 elements (a 512³ volume of 4 channels included)', () => {
    expect(PublishInputShapes.safeParse({ vol: [1, 4, 512, 512, 512] }).success).toBe(true);
    expect(PublishInputShapes.safeParse({ x: [MAX_INPUT_ELEMENTS] }).success).toBe(true);
  });

  it('refuses a shape no run could be fed, naming the input, before a validation blames the model', () => {
    const parsed = PublishInputShapes.safeParse({ input: [100_000_000_000_000, 32] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['input']);
    expect(parsed.error?.issues[0]?.message).toMatch(/more than 4294967296 elements/);
    expect(PublishInputShapes.safeParse({ x: [MAX_INPUT_ELEMENTS + 1] }).success).toBe(false);
    const request = StartVersionRequest.safeParse({
      version: '1',
      files: [{ path: 'm.onnx', size: 1, sha256: 'a'.repeat(64) }],
      inputShapes: { input: [2 ** 33] },
    });
    expect(request.error?.issues[0]?.path).toEqual(['inputShapes', 'input']);
  });

  it('reads a stored version as it is: the bound is publish-time only', () => {
    expect(InputShapes.safeParse({ input: [2 ** 33] }).success).toBe(true);
  });
});
