import type { Tensor } from 'onnxruntime-node';
import type { TensorInfo } from '../schemas/report.schema.js';
import { LoadFailure } from './load-failure.js';

/**
 * Smoke-run inputs (DESIGN.md Validation step 4). Kept apart from the child's entry point so that the
 * rules are testable without a process; the Tensor constructor is passed in so this module does not
 * load the runtime itself.
 */

type TensorConstructor = typeof Tensor;

/** The dims to run an input with: the configured shape (checked against the model), else fixed dims and defaults. */
export function resolveShape(
  info: TensorInfo,
  configured: number[] | undefined,
  defaultDim: number,
): number[] {
  if (!configured) return info.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : defaultDim));
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
  return configured;
}

function integerArray(type: string, count: number) {
  if (type === 'int32') return new Int32Array(count);
  if (type === 'int16') return new Int16Array(count);
  if (type === 'int8') return new Int8Array(count);
  if (type === 'uint32') return new Uint32Array(count);
  if (type === 'uint16') return new Uint16Array(count);
  return new Uint8Array(count);
}

const SMALL_INTEGER_TYPES = new Set(['int32', 'int16', 'int8', 'uint32', 'uint16', 'uint8', 'bool']);

/** A [0, 1) ramp: finite, deterministic and not all equal (so a division or a norm sees no zero variance). */
function ramp<T extends Float32Array | Float64Array>(values: T): T {
  for (let i = 0; i < values.length; i++) values[i] = (i % 97) / 97;
  return values;
}

/** Deterministic, finite values: floats in [0, 1), integers 0 (a valid index for any gather), bools false. */
export function synthesizeTensor(ctor: TensorConstructor, info: TensorInfo, dims: number[]): Tensor {
  const count = dims.reduce((a, d) => a * d, 1);
  if (info.type === 'float32') return new ctor('float32', ramp(new Float32Array(count)), dims);
  if (info.type === 'float64') return new ctor('float64', ramp(new Float64Array(count)), dims);
  if (info.type === 'float16') return new ctor('float16', new Uint16Array(count).fill(0x3800), dims); // 0.5
  if (info.type === 'int64') return new ctor('int64', new BigInt64Array(count), dims);
  if (info.type === 'uint64') return new ctor('uint64', new BigUint64Array(count), dims);
  if (info.type === 'string') return new ctor('string', new Array<string>(count).fill(''), dims);
  if (SMALL_INTEGER_TYPES.has(info.type)) {
    return new ctor(info.type as 'int32', integerArray(info.type, count) as Int32Array, dims);
  }
  throw new LoadFailure('CONFIG_INVALID', `cannot synthesize input "${info.name}" of type ${info.type}`);
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

/** A model that loads but computes NaN or Inf on plain inputs is not fit to serve. */
export function checkOutputs(results: Record<string, Tensor>): void {
  for (const [name, tensor] of Object.entries(results)) {
    const bad = nonFiniteCount(tensor);
    if (bad > 0) {
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" has ${bad} of ${tensor.size} values NaN or infinite on synthesized inputs`,
      );
    }
  }
}
