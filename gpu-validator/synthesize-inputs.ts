import type { Tensor } from 'onnxruntime-node';
import type { FedInput, TensorInfo } from '../schemas/report.schema.js';
import { LoadFailure } from './load-failure.js';

/**
 * Smoke-run inputs (DESIGN.md Validation step 4). Kept apart from the child's entry point so that the
 * rules are testable without a process; the Tensor constructor is passed in so this module does not
 * load the runtime itself.
 *
 * Synthesized values are what a real caller could send, not edge values: integers 1 (not 0, which as a
 * shape, a size, a step, a depth or a divisor breaks graphs), floats a 0.1…0.9 ramp (inside the domain
 * of Log, Sqrt, Reciprocal, Acos…), strings "1" (castable to numbers), bools alternating. Where the graph
 * shows how an input is consumed (input-consumers.ts), the value that operator accepts (see ROLES).
 * The `plain` style is the validator's former synthesis (integers 0, floats a 0…0.99 ramp, bools false,
 * strings ''): the probe ladder (probe-ladder.ts) retries with it, since a few graphs want exactly that.
 */

type TensorConstructor = typeof Tensor;

export type ValueStyle = 'plausible' | 'plain';

/** How the graph consumes an input (input-consumers.ts InputPlan without its name). */
export interface InputHint {
  kind: 'tensor' | 'optional' | 'sequence' | 'map' | 'sparse' | 'unknown';
  elemType: string;
  shape: (number | string)[];
  uses: { opType: string; index: number }[];
}

/** The dims to run an input with: the configured shape (checked against the model), else fixed dims and defaults. */
export function resolveShape(
  info: TensorInfo,
  configured: number[] | undefined,
  defaultDim: number,
): number[] {
  if (!configured) return info.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : defaultDim));
  checkConfiguredShape(info, configured);
  return configured;
}

/** A configured shape must have the model's rank and agree with every fixed dim (CONFIG_INVALID otherwise). */
export function checkConfiguredShape(info: TensorInfo, configured: number[]): void {
  if (info.shape.length > 0 && configured.length !== info.shape.length) {
    throw new LoadFailure(
      'CONFIG_INVALID',
      `input "${info.name}" has rank ${info.shape.length} [${info.shape.join(', ')}]; the configured shape [${configured.join(', ')}] has rank ${configured.length}`,
    );
  }
  info.shape.forEach((d, i) => {
    if (typeof d === 'number' && d >= 0 && configured[i] !== d) {
      throw new LoadFailure(
        'CONFIG_INVALID',
        `input "${info.name}" dimension ${i} is fixed at ${d} by the model; the configured shape says ${configured[i]}`,
      );
    }
  });
}

/** Element i of n elements. */
interface Values {
  at: (i: number, n: number) => number;
  describe: string;
}

const fill = (v: number, describe = `fill ${v}`): Values => ({ at: () => v, describe });
const INT32_MAX = 2_147_483_647;

/**
 * Values an operator input slot accepts (onnx.ai operator docs), keyed `OpType:inputIndex`. An input
 * consumed by several operators takes the first slot listed here.
 */
const ROLES: Record<string, Values> = {
  // Target shapes: Reshape's `-1` takes whatever element count the data has; Expand/Tile broadcast by 1.
  'Reshape:1': { at: (i, n) => (i === n - 1 ? -1 : 1), describe: '[1, …, 1, -1] (Reshape shape)' },
  'Expand:1': fill(1, 'fill 1 (Expand shape)'),
  'Tile:1': fill(1, 'fill 1 (Tile repeats)'),
  'ConstantOfShape:0': fill(1, 'fill 1 (ConstantOfShape shape)'),
  'CenterCropPad:1': fill(1, 'fill 1 (crop shape)'),
  // Slice: everything from the start, step 1, axes 0…n-1.
  'Slice:1': fill(0, 'fill 0 (Slice starts)'),
  'Slice:2': fill(INT32_MAX, `fill ${INT32_MAX} (Slice ends)`),
  'Slice:3': { at: (i) => i, describe: '0, 1, … (Slice axes)' },
  'Slice:4': fill(1, 'fill 1 (Slice steps)'),
  'Unsqueeze:1': { at: (i) => i, describe: '0, 1, … (Unsqueeze axes)' },
  'Squeeze:1': { at: (i) => i, describe: '0, 1, … (Squeeze axes)' },
  // Indices must exist even in a dimension of 1; pads of 0 are always valid.
  'Gather:1': fill(0, 'fill 0 (Gather indices)'),
  'GatherElements:1': fill(0, 'fill 0 (GatherElements indices)'),
  'GatherND:1': fill(0, 'fill 0 (GatherND indices)'),
  'ScatterElements:1': fill(0, 'fill 0 (ScatterElements indices)'),
  'ScatterND:1': fill(0, 'fill 0 (ScatterND indices)'),
  'Scatter:1': fill(0, 'fill 0 (Scatter indices)'),
  'Pad:1': fill(0, 'fill 0 (Pad pads)'),
  'CumSum:1': fill(0, 'fill 0 (CumSum axis)'),
  'OneHot:1': fill(4, 'fill 4 (OneHot depth)'),
  'Range:0': fill(0, 'fill 0 (Range start)'),
  'Range:1': fill(4, 'fill 4 (Range limit)'),
  'Range:2': fill(1, 'fill 1 (Range delta)'),
  'TopK:1': fill(1, 'fill 1 (TopK k)'),
  'Split:1': fill(1, 'fill 1 (Split sizes)'),
  'Trilu:1': fill(0, 'fill 0 (Trilu k)'),
  // Resize/Upsample: scale 1 keeps every dim (≥ 1 as Upsample requires); roi the whole tensor.
  'Resize:1': { at: (i, n) => (i < n / 2 ? 0 : 1), describe: '[0, …, 1, …] (Resize roi)' },
  'Resize:2': fill(1, 'fill 1 (Resize scales)'),
  'Upsample:1': fill(1, 'fill 1 (Upsample scales)'),
  'Dropout:2': fill(0, 'false (Dropout training_mode)'),
  'If:0': fill(1, 'true (If condition)'),
  'Loop:0': fill(1, 'fill 1 (Loop trip count)'),
  'Loop:1': fill(1, 'true (Loop condition)'),
};

/** Inputs named as a sample rate are audio models' control inputs: 16 kHz is what they are served at. */
const SAMPLE_RATE = /^(sr|sample_?rate|sampling_?rate)$/i;

/** Divisors must not be 0 even in the plain style. */
const NON_ZERO_SLOTS = new Set(['Div:1', 'Mod:1']);

function roleOf(name: string, hint: InputHint | undefined): Values | undefined {
  if (SAMPLE_RATE.test(name)) return fill(16000, 'fill 16000 (sample rate, by name)');
  for (const use of hint?.uses ?? []) {
    const key = `${use.opType}:${use.index}`;
    const role = ROLES[key];
    if (role) return role;
    if (/^Reduce/.test(use.opType) && use.index === 1) return { at: (i) => i, describe: '0, 1, … (axes)' };
  }
  return undefined;
}

function defaults(type: string, style: ValueStyle): Values {
  const float = type.startsWith('float');
  if (style === 'plain') {
    if (float) return { at: (i) => (i % 97) / 97, describe: 'ramp 0…0.99' };
    return fill(0, type === 'bool' ? 'false' : type === 'string' ? 'fill ""' : 'fill 0');
  }
  if (float) return { at: (i) => 0.1 + (0.8 * (i % 97)) / 96, describe: 'ramp 0.1…0.9' };
  if (type === 'bool') return { at: (i) => (i % 2 === 0 ? 1 : 0), describe: 'alternating true, false' };
  return fill(1, type === 'string' ? 'fill "1"' : 'fill 1');
}

function valuesFor(
  info: Pick<TensorInfo, 'name' | 'type'>,
  hint: InputHint | undefined,
  style: ValueStyle,
): Values {
  const role = roleOf(info.name, hint);
  if (role) return role;
  if (style === 'plain' && hint?.uses.some((u) => NON_ZERO_SLOTS.has(`${u.opType}:${u.index}`)))
    return defaults(info.type, 'plausible');
  return defaults(info.type, style);
}

/** IEEE 754 binary16 bits of a finite number (round to nearest; enough for synthesized values). */
export function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  return sign | (exponent << 10) | Math.round(mantissa / 0x2000);
}

const SMALL_INTEGER_ARRAYS = {
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

function typedData(type: string, count: number, at: (i: number) => number) {
  if (type === 'float32') return Float32Array.from({ length: count }, (_, i) => at(i));
  if (type === 'float64') return Float64Array.from({ length: count }, (_, i) => at(i));
  if (type === 'float16') return Uint16Array.from({ length: count }, (_, i) => toHalfBits(at(i)));
  if (type === 'int64') return BigInt64Array.from({ length: count }, (_, i) => BigInt(Math.trunc(at(i))));
  if (type === 'uint64')
    return BigUint64Array.from({ length: count }, (_, i) => BigInt(Math.max(0, Math.trunc(at(i)))));
  if (type === 'bool') return Uint8Array.from({ length: count }, (_, i) => (at(i) !== 0 ? 1 : 0));
  const Small = SMALL_INTEGER_ARRAYS[type as keyof typeof SMALL_INTEGER_ARRAYS];
  if (!Small) return undefined;
  const data = new Small(count);
  for (let i = 0; i < count; i++) data[i] = Math.trunc(at(i));
  return data;
}

export interface SynthesizedInput {
  tensor: Tensor;
  fed: FedInput;
}

/**
 * One input's tensor and its record. `publisherValue` (`--input-value NAME=V`) fills the tensor instead
 * of synthesized values. `info.type` must be a tensor element type (an optional's inner type).
 */
export function synthesizeInput(
  ctor: TensorConstructor,
  info: Pick<TensorInfo, 'name' | 'type'>,
  dims: number[],
  options: {
    hint?: InputHint;
    style?: ValueStyle;
    publisherValue?: number | string;
    source?: FedInput['source'];
  } = {},
): SynthesizedInput {
  const count = dims.reduce((a, d) => a * d, 1);
  const given = options.publisherValue;
  const values =
    given !== undefined
      ? fill(Number(given), `fill ${JSON.stringify(given)}`)
      : valuesFor(info, options.hint, options.style ?? 'plausible');
  const source = given !== undefined ? 'publisher' : (options.source ?? 'synthesized');
  const fed: FedInput = { name: info.name, type: info.type, shape: dims, value: values.describe, source };
  if (info.type === 'string') {
    const text = given !== undefined ? String(given) : values.describe === 'fill ""' ? '' : '1';
    const data = new Array<string>(count).fill(text);
    return { tensor: new ctor('string', data, dims), fed };
  }
  const data = typedData(info.type, count, (i) => values.at(i, count));
  if (!data)
    throw new LoadFailure('CONFIG_INVALID', `cannot synthesize input "${info.name}" of type ${info.type}`);
  return { tensor: new ctor(info.type as 'float32', data as Float32Array, dims), fed };
}

/** The former entry point: plausible synthesized values for `info` at `dims`. */
export function synthesizeTensor(ctor: TensorConstructor, info: TensorInfo, dims: number[]): Tensor {
  return synthesizeInput(ctor, info, dims).tensor;
}

/** Counts NaN and ±Inf in a float output; 0 for other types. */
export function nonFiniteCount(tensor: Pick<Tensor, 'type' | 'data'>): number {
  let bad = 0;
  if (tensor.type === 'float32' || tensor.type === 'float64') {
    for (const v of tensor.data as Float32Array | Float64Array) if (!Number.isFinite(v)) bad++;
  } else if (tensor.type === 'float16') {
    // Exponent bits all ones: Inf or NaN.
    for (const v of tensor.data as Uint16Array) if ((v & 0x7c00) === 0x7c00) bad++;
  }
  return bad;
}

/** One line per output holding NaN or ±Inf: `output "y" has 3 of 8 values NaN or infinite`. */
export function nonFiniteOutputs(results: Record<string, Pick<Tensor, 'type' | 'data' | 'size'>>): string[] {
  const lines: string[] = [];
  for (const [name, tensor] of Object.entries(results)) {
    const bad = nonFiniteCount(tensor);
    if (bad > 0) lines.push(`output "${name}" has ${bad} of ${tensor.size} values NaN or infinite`);
  }
  return lines;
}

/**
 * Outputs on inputs the publisher gave (and no expected outputs to compare with) must be finite: NaN
 * there is the model's fault. On synthesized inputs the same is only a note (they need not be in the
 * model's domain, and `-inf` is what a masked log-softmax means), so callers use `nonFiniteOutputs`.
 */
export function checkOutputs(results: Record<string, Tensor>): void {
  const [first] = nonFiniteOutputs(results);
  if (first) throw new LoadFailure('INFERENCE_FAILED', `${first} on the publisher's inputs`);
}
