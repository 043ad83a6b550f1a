import type { TensorInfo } from '../schemas/report.schema.js';
import type { ValueStyle } from './synthesize-inputs.js';

/**
 * The probe ladder: when the first smoke run on synthesized inputs fails, the loader child re-runs the
 * same loaded session with a bounded list of other values and representative shapes before concluding
 * (a model that cannot run a 1×1 image or an odd-length sequence is not broken). Pure planning, so the
 * list is testable without a runtime; load-child.ts runs it.
 *
 * Dynamic dims are chosen by dimension name, then by position: batch → 1; sequence/time/length → 16
 * (small) or 512 (large); height/width → 64 or 224; channels → 3; unnamed dims of a rank-4 input are
 * read as NCHW; any other dynamic dim is treated like a sequence. One step sizes only the first input
 * and keeps the others' dynamic dims at 1 (recurrent states). Uniform 2 and 8 cover graphs that want
 * even or divisible sizes. Dims the publisher configured (`--input-shape`) are never changed.
 */

export type DimPolicy = 'ones' | 'small' | 'uniform2' | 'large' | 'first-large' | 'uniform8';

export interface AttemptPlan {
  dims: Record<string, number[]>;
  style: ValueStyle;
}

/** At most this many runs in all (the first included): each one can cost a full inference. */
export const MAX_ATTEMPTS = 8;

const LADDER: { dims: DimPolicy; style: ValueStyle }[] = [
  { dims: 'ones', style: 'plausible' },
  { dims: 'ones', style: 'plain' },
  { dims: 'small', style: 'plausible' },
  { dims: 'uniform2', style: 'plausible' },
  { dims: 'large', style: 'plausible' },
  // The first input at representative dims, the others' dynamic dims 1: recurrent state inputs such as
  // [2, batch, 128] whose batch dim has no name cannot be told from a sequence dim otherwise.
  { dims: 'first-large', style: 'plausible' },
  { dims: 'uniform8', style: 'plausible' },
  { dims: 'small', style: 'plain' },
];

const BATCH = /^(n|b|bs|batch|batch_?size|batches|num_?batch(es)?|unk__\d+_batch)$/i;
const SPATIAL = /(^|_)(h|w|height|width|img_?h|img_?w)$/i;
const CHANNELS = /^(c|ch|channel|channels|num_?channels)$/i;

const SIZES = {
  small: { sequence: 16, spatial: 64 },
  large: { sequence: 512, spatial: 224 },
} as const;

/** The value of one dynamic dim (`name` is the symbolic name, '' or '?' when it has none). */
export function probeDim(
  name: string,
  index: number,
  rank: number,
  policy: DimPolicy,
  defaultDim: number,
): number {
  if (policy === 'ones') return defaultDim;
  if (policy === 'uniform2') return 2;
  if (policy === 'uniform8') return 8;
  const sizes = SIZES[policy === 'first-large' ? 'large' : policy];
  if (BATCH.test(name) && rank >= 2) return 1;
  if (rank >= 2 && index === 0 && !SPATIAL.test(name)) return 1;
  if (CHANNELS.test(name)) return 3;
  if (SPATIAL.test(name)) return sizes.spatial;
  if (rank === 4 && index === 1) return 3;
  if (rank === 4 && index >= 2) return sizes.spatial;
  return sizes.sequence;
}

function dimsFor(
  info: Pick<TensorInfo, 'shape'>,
  configured: number[] | undefined,
  step: DimPolicy,
  defaultDim: number,
  first: boolean,
): number[] {
  if (configured) return configured;
  const policy = step === 'first-large' && !first ? 'ones' : step;
  return info.shape.map((d, i) =>
    typeof d === 'number' && d >= 0 ? d : probeDim(String(d), i, info.shape.length, policy, defaultDim),
  );
}

const bytesOf = (dims: number[]) => dims.reduce((a, d) => a * d, 8);

/**
 * The runs to try, in order, without duplicates (a model with only fixed dims gets two: plausible and
 * plain values). Attempts whose inputs would take more than `maxInputBytes` (8 bytes an element) are left
 * out: a probe must not spend the memory budget the served shapes are measured against.
 */
export function planAttempts(
  inputs: readonly Pick<TensorInfo, 'name' | 'shape'>[],
  configured: Readonly<Record<string, number[]>>,
  options: { defaultDim: number; maxInputBytes: number; maxAttempts?: number },
): AttemptPlan[] {
  const plans: AttemptPlan[] = [];
  const seen = new Set<string>();
  for (const step of LADDER) {
    if (plans.length >= (options.maxAttempts ?? MAX_ATTEMPTS)) break;
    const dims = Object.fromEntries(
      inputs.map((i, n) => [i.name, dimsFor(i, configured[i.name], step.dims, options.defaultDim, n === 0)]),
    );
    const key = JSON.stringify([dims, step.style]);
    const bytes = Object.values(dims).reduce((a, d) => a + bytesOf(d), 0);
    if (seen.has(key) || (plans.length > 0 && bytes > options.maxInputBytes)) continue;
    seen.add(key);
    plans.push({ dims, style: step.style });
  }
  return plans;
}
