import { posix } from 'node:path';
import type { Tensor } from 'onnxruntime-node';
import { LoadFailure } from './load-failure.js';

/**
 * Golden I/O: a version may carry, for an ONNX file `dir/NAME.onnx`, a file
 * `dir/NAME.golden.json` of the same version (any format; it is integrity-checked like every file):
 *
 *   { "inputs":  { "image":  { "type": "float32", "dims": [1, 3, 2, 2], "data": [0.1, …] } },
 *     "outputs": { "output": { "dims": [1, 8, 2, 2], "data": [0.5, …] } },
 *     "tolerance": 1e-4 }
 *
 * The smoke run then feeds these inputs instead of synthesized ones (the memory profile is taken at their
 * shapes), and each listed output must match within `tolerance` (absolute, default 1e-4): a mismatch fails
 * as INFERENCE_FAILED naming the output and the largest difference. A naming convention rather than a new
 * version field: nothing to store or migrate, and `modelgate publish det/` publishes it with the model.
 * Only node stdlib: the loader child imports this module (the runtime's Tensor class is passed in).
 */

export const GOLDEN_SUFFIX = '.golden.json';
export const DEFAULT_TOLERANCE = 1e-4;

/** The manifest path of a model's golden file: `det/model.onnx` → `det/model.golden.json`. */
export function goldenPathFor(modelPath: string): string {
  const { dir, name } = posix.parse(modelPath);
  return posix.join(dir, `${name}${GOLDEN_SUFFIX}`);
}

const INPUT_TYPES = [
  'float32',
  'float64',
  'int32',
  'int64',
  'int16',
  'int8',
  'uint8',
  'uint16',
  'bool',
] as const;
type InputType = (typeof INPUT_TYPES)[number];

export interface GoldenTensor {
  type?: InputType;
  dims: number[];
  data: (number | string | boolean)[];
}

export interface GoldenFile {
  inputs: Record<string, GoldenTensor>;
  outputs: Record<string, GoldenTensor>;
  tolerance: number;
}

export interface GoldenOutputResult {
  name: string;
  maxAbsDiff: number;
}

const invalid = (file: string, why: string) =>
  new LoadFailure('CONFIG_INVALID', `golden file ${file}: ${why}`);

function checkTensor(file: string, where: string, value: unknown, typed: boolean): GoldenTensor {
  const t = value as Partial<GoldenTensor> | null;
  if (!t || typeof t !== 'object') throw invalid(file, `${where} must be an object`);
  if (!Array.isArray(t.dims) || !t.dims.every((d) => Number.isInteger(d) && d >= 0))
    throw invalid(file, `${where}.dims must be a list of non-negative integers`);
  if (!Array.isArray(t.data)) throw invalid(file, `${where}.data must be a list`);
  const count = t.dims.reduce((a, d) => a * d, 1);
  if (t.data.length !== count)
    throw invalid(file, `${where} has ${t.data.length} values; dims [${t.dims.join(', ')}] need ${count}`);
  if (typed && !INPUT_TYPES.includes(t.type as InputType))
    throw invalid(file, `${where}.type must be one of ${INPUT_TYPES.join(', ')}`);
  return t as GoldenTensor;
}

function checkTensors(file: string, key: 'inputs' | 'outputs', value: unknown): Record<string, GoldenTensor> {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw invalid(file, `"${key}" must be an object`);
  const entries = Object.entries(value).map(([name, t]) => [
    name,
    checkTensor(file, `${key}.${name}`, t, key === 'inputs'),
  ]);
  if (entries.length === 0) throw invalid(file, `"${key}" lists no tensor`);
  return Object.fromEntries(entries);
}

/** Parses and checks a golden file's text; a malformed one is CONFIG_INVALID (the publisher's mistake). */
export function parseGoldenFile(file: string, text: string): GoldenFile {
  let json: { inputs?: unknown; outputs?: unknown; tolerance?: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch (error) {
    throw invalid(file, `not JSON: ${(error as Error).message}`);
  }
  const tolerance = json.tolerance ?? DEFAULT_TOLERANCE;
  if (typeof tolerance !== 'number' || !(tolerance >= 0))
    throw invalid(file, '"tolerance" must be a number ≥ 0');
  return {
    inputs: checkTensors(file, 'inputs', json.inputs),
    // No outputs: "run these, compare nothing" (the run must still succeed with finite outputs).
    outputs: json.outputs === undefined ? {} : checkTensors(file, 'outputs', json.outputs),
    tolerance,
  };
}

function typedData(type: InputType, data: GoldenTensor['data']) {
  if (type === 'float32') return Float32Array.from(data, Number);
  if (type === 'float64') return Float64Array.from(data, Number);
  if (type === 'int32') return Int32Array.from(data, Number);
  if (type === 'int16') return Int16Array.from(data, Number);
  if (type === 'int8') return Int8Array.from(data, Number);
  if (type === 'uint16') return Uint16Array.from(data, Number);
  if (type === 'int64') return BigInt64Array.from(data, (v) => BigInt(v as number | string));
  return Uint8Array.from(data, Number); // uint8, bool
}

/** The feeds of the golden run: every model input must be given, with the type the model declares. */
export function goldenFeeds(
  ctor: typeof Tensor,
  file: string,
  golden: GoldenFile,
  inputs: readonly { name: string; type: string }[],
): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    const given = golden.inputs[input.name];
    if (!given) throw invalid(file, `gives no value for the model input "${input.name}"`);
    if (given.type !== input.type)
      throw invalid(file, `input "${input.name}" is ${given.type}; the model declares ${input.type}`);
    const type = given.type as InputType;
    feeds[input.name] = new ctor(type as 'float32', typedData(type, given.data) as Float32Array, given.dims);
  }
  return feeds;
}

/**
 * Largest |actual − expected| over the tensor. NaN matches NaN and an infinity the same infinity (JSON
 * has neither: expected values may be the strings "NaN", "Infinity", "-Infinity"); NaN where a value is
 * not finite on one side only.
 */
function maxAbsDiff(actual: ArrayLike<number | bigint | boolean>, expected: GoldenTensor['data']): number {
  let max = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i]);
    const e = Number(expected[i]);
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue; // also equal infinities
    const diff = Math.abs(a - e);
    if (Number.isNaN(diff)) return Number.NaN;
    if (diff > max) max = diff;
  }
  return max;
}

/** Compares the run's outputs with the golden ones; throws INFERENCE_FAILED naming the first mismatch. */
export function compareGolden(
  file: string,
  golden: GoldenFile,
  results: Record<string, Pick<Tensor, 'dims' | 'data'>>,
): GoldenOutputResult[] {
  const compared: GoldenOutputResult[] = [];
  for (const [name, expected] of Object.entries(golden.outputs)) {
    const actual = results[name];
    if (!actual) throw invalid(file, `lists output "${name}", which the model does not produce`);
    if (actual.dims.length !== expected.dims.length || actual.dims.some((d, i) => d !== expected.dims[i])) {
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" has shape [${actual.dims.join(', ')}]; ${file} expects [${expected.dims.join(', ')}]`,
      );
    }
    const diff = maxAbsDiff(actual.data as ArrayLike<number>, expected.data);
    if (!(diff <= golden.tolerance)) {
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" differs from ${file}: max abs difference ${diff} is over the tolerance ${golden.tolerance}`,
        { output: name, maxAbsDiff: diff, tolerance: golden.tolerance },
      );
    }
    compared.push({ name, maxAbsDiff: diff });
  }
  return compared;
}
