import { describe, expect, it } from 'vitest';
import { profiledShapesNote } from '../../gpu-validator/smoke-run.js';
import type { FedInput, TensorInfo } from '../../schemas/report.schema.js';

const image: TensorInfo = { name: 'image', type: 'float32', shape: ['N', 3, 'H', 'W'] };
const scale: TensorInfo = { name: 'scale', type: 'float32', shape: [1] };
const fed = (name: string, shape: number[], source: FedInput['source']): FedInput => ({
  name,
  type: 'float32',
  shape,
  value: 'ramp 0.1…0.9',
  source,
});

describe('the note on a memory profile taken at shapes the validator chose', () => {
  it('names each dynamic input, the shape it ran at, and the --input-shape that profiles at served size', () => {
    const note = profiledShapesNote([image, scale], {}, [
      fed('image', [1, 3, 64, 64], 'probe'),
      fed('scale', [1], 'synthesized'),
    ]);
    expect(note).toContain('"image" [N,3,H,W] ran as [1,3,64,64]');
    expect(note).toContain('--input-shape image=D,3,D,D');
    // A fixed-shape input is served as it was profiled: nothing to say about it.
    expect(note).not.toContain('scale');
  });

  it('says nothing when the publisher gave the shape, or a golden file or sample set fed the run', () => {
    expect(
      profiledShapesNote([image], { image: [1, 3, 960, 960] }, [
        fed('image', [1, 3, 960, 960], 'synthesized'),
      ]),
    ).toBeUndefined();
    expect(profiledShapesNote([image], {}, [fed('image', [2, 3, 32, 32], 'golden')])).toBeUndefined();
    expect(profiledShapesNote([image], {}, [fed('image', [2, 3, 32, 32], 'sample')])).toBeUndefined();
    expect(profiledShapesNote([scale], {}, [fed('scale', [1], 'synthesized')])).toBeUndefined();
  });

  it('counts an input fed a publisher value (--input-value) at a validator-chosen shape', () => {
    const tokens: TensorInfo = { name: 'ids', type: 'int64', shape: ['batch', -1] };
    const note = profiledShapesNote([tokens], {}, [{ ...fed('ids', [1, 16], 'publisher'), type: 'int64' }]);
    expect(note).toContain('"ids" [batch,?] ran as [1,16]');
  });

  it('names at most four inputs and counts the rest', () => {
    const many = Array.from({ length: 6 }, (_, n) => ({ ...image, name: `in${n}` }));
    const note = profiledShapesNote(
      many,
      {},
      many.map((i) => fed(i.name, [1, 3, 64, 64], 'synthesized')),
    );
    expect(note).toContain('"in3"');
    expect(note).not.toContain('"in4"');
    expect(note).toContain('and 2 more');
  });
});
