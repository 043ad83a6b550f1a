import { describe, expect, it } from 'vitest';
import { InputShapes, MAX_INPUT_ELEMENTS } from '../../schemas/version.schema.js';

describe('InputShapes', () => {
  it('takes served shapes up to 2^28 elements (a 4096×4096 RGB batch of 4 included)', () => {
    expect(InputShapes.safeParse({ image: [4, 3, 4096, 4096] }).success).toBe(true);
    expect(InputShapes.safeParse({ x: [MAX_INPUT_ELEMENTS] }).success).toBe(true);
  });

  it('refuses a shape no smoke run could feed, naming the input, before a validation blames the model', () => {
    const parsed = InputShapes.safeParse({ input: [100_000_000_000_000, 32] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['input']);
    expect(parsed.error?.issues[0]?.message).toMatch(/more than 268435456 elements/);
    expect(InputShapes.safeParse({ x: [MAX_INPUT_ELEMENTS + 1] }).success).toBe(false);
  });
});
