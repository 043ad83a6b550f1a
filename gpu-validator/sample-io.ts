import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Tensor } from 'onnxruntime-node';
import type { FedInput } from '../schemas/report.schema.js';
import { LoadFailure } from './load-failure.js';
import { parseTensorProto, type SampleTensor } from './tensor-proto.js';

/**
 * Sample inputs in the ONNX test-data layout: a model `dir/model.onnx` with a folder
 * `dir/test_data_set_N/` holding `input_K.pb` (and optionally `output_K.pb`), serialized TensorProtos.
 * The smoke run feeds them (by tensor name where it names a model input, else by position K) and
 * compares each expected output by the ONNX backend tests' rule, |actual − expected| ≤ atol + rtol ×
 * |expected| (NaN matches NaN, an infinity the same infinity). Only stdlib: the loader child uses it.
 */

/** onnx's backend test defaults (onnx/backend/test/runner). */
export const SAMPLE_RTOL = 1e-3;
export const SAMPLE_ATOL = 1e-7;

const SET = /^test_data_set_(\d+)$/;
const IO = /^(input|output)_(\d+)\.pb$/;

export interface SampleSetFile {
  path: string;
  localPath: string;
}

export interface SampleSet {
  /** The folder's manifest path, e.g. `det/test_data_set_0`. */
  dir: string;
  inputs: SampleSetFile[];
  outputs: SampleSetFile[];
}

/**
 * The first `test_data_set_N` beside `modelPath` among `files` (manifest paths), or undefined. Only for
 * a model alone in its folder: the layout has one model per folder, so the sets could belong to another.
 */
export function findSampleSet<F extends SampleSetFile>(
  modelPath: string,
  files: readonly F[],
): SampleSet | undefined {
  const dir = posix.dirname(modelPath);
  const models = files.filter((f) => posix.dirname(f.path) === dir && /\.(onnx|ort)$/.test(f.path));
  if (models.length !== 1) return undefined;
  const sets = new Map<number, SampleSet>();
  for (const f of files) {
    const setDir = posix.dirname(f.path);
    if (posix.dirname(setDir) !== dir) continue;
    const set = SET.exec(posix.basename(setDir));
    const io = IO.exec(posix.basename(f.path));
    if (!set || !io) continue;
    const n = Number(set[1]);
    const entry = sets.get(n) ?? { dir: setDir, inputs: [], outputs: [] };
    (io[1] === 'input' ? entry.inputs : entry.outputs)[Number(io[2])] = {
      path: f.path,
      localPath: f.localPath,
    };
    sets.set(n, entry);
  }
  const first = [...sets.keys()].sort((a, b) => a - b)[0];
  const chosen = first === undefined ? undefined : sets.get(first);
  if (!chosen || chosen.inputs.length === 0) return undefined;
  // Sparse arrays: a missing input_K leaves a hole that only a full scan sees.
  const gap = (list: (SampleSetFile | undefined)[]) => Array.from(list).indexOf(undefined);
  if (gap(chosen.inputs) >= 0 || gap(chosen.outputs) >= 0) {
    throw new LoadFailure(
      'CONFIG_INVALID',
      `${chosen.dir}: input_K.pb / output_K.pb must be numbered from 0 without gaps`,
    );
  }
  return chosen;
}

function read(file: SampleSetFile): SampleTensor {
  return parseTensorProto(file.path, readFileSync(file.localPath));
}

/** Pairs sample tensors with model slots: by tensor name when it names one, else by position. */
function pair<T extends { name: string }>(
  tensors: SampleTensor[],
  slots: readonly T[],
  what: string,
  set: string,
) {
  const byName = tensors.every((t) => slots.some((s) => s.name === t.name));
  return tensors.map((t, k) => {
    const slot = byName ? slots.find((s) => s.name === t.name) : slots[k];
    if (!slot)
      throw new LoadFailure('CONFIG_INVALID', `${set}: ${what}_${k}.pb has no matching model ${what}`);
    return { slot, tensor: t, k };
  });
}

export interface SampleFeeds {
  feeds: Record<string, Tensor>;
  fed: FedInput[];
  expected: { name: string; tensor: SampleTensor }[];
}

/** Reads a sample set and builds the feeds; every model input must be given, with its declared type. */
export function sampleFeeds(
  ctor: typeof Tensor,
  set: SampleSet,
  inputs: readonly { name: string; type: string }[],
  outputs: readonly { name: string; type: string }[],
): SampleFeeds {
  const given = pair(set.inputs.map(read), inputs, 'input', set.dir);
  const feeds: Record<string, Tensor> = {};
  const fed: FedInput[] = [];
  for (const { slot, tensor, k } of given) {
    if (slot.type !== 'non-tensor' && slot.type !== tensor.type)
      throw new LoadFailure(
        'CONFIG_INVALID',
        `${set.dir}/input_${k}.pb is ${tensor.type}; input "${slot.name}" is ${slot.type}`,
      );
    feeds[slot.name] = new ctor(tensor.type as 'float32', tensor.data as Float32Array, tensor.dims);
    fed.push({
      name: slot.name,
      type: tensor.type,
      shape: tensor.dims,
      value: `from ${set.dir}/input_${k}.pb`,
      source: 'sample',
    });
  }
  const missing = inputs.filter((i) => !(i.name in feeds));
  if (missing.length > 0)
    throw new LoadFailure(
      'CONFIG_INVALID',
      `${set.dir} gives no value for the model input "${missing[0]?.name}"`,
    );
  const expected = pair(set.outputs.map(read), outputs, 'output', set.dir).map(({ slot, tensor }) => ({
    name: slot.name,
    tensor,
  }));
  return { feeds, fed, expected };
}

function valueAt(data: SampleTensor['data'] | Tensor['data'], i: number, half: boolean): number | string {
  const v = (data as ArrayLike<number | bigint | string>)[i];
  if (typeof v === 'string') return v;
  if (half) return halfToNumber(v as number);
  return Number(v);
}

/** IEEE 754 binary16 bits → number. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Largest |a − e| among elements; Infinity for any element outside atol + rtol × |e| (or NaN vs number). */
function worstDiff(
  actual: Pick<Tensor, 'type' | 'data'>,
  expected: SampleTensor,
): { max: number; ok: boolean } {
  const half = expected.type === 'float16';
  let max = 0;
  let ok = true;
  for (let i = 0; i < expected.data.length; i++) {
    const a = valueAt(actual.data, i, half);
    const e = valueAt(expected.data, i, half);
    if (a === e) continue;
    if (typeof a === 'string' || typeof e === 'string') return { max: Number.NaN, ok: false };
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    const diff = Math.abs(a - e);
    if (!(diff <= SAMPLE_ATOL + SAMPLE_RTOL * Math.abs(e))) ok = false;
    if (!(diff <= max)) max = diff;
  }
  return { max, ok };
}

/** Compares the run's outputs with the expected ones; INFERENCE_FAILED names the first mismatch. */
export function compareSample(
  set: SampleSet,
  expected: SampleFeeds['expected'],
  results: Record<string, Pick<Tensor, 'type' | 'dims' | 'data'>>,
): { name: string; maxAbsDiff: number }[] {
  return expected.map(({ name, tensor }) => {
    const actual = results[name];
    if (!actual)
      throw new LoadFailure('CONFIG_INVALID', `${set.dir} expects output "${name}", which was not returned`);
    if (actual.dims.length !== tensor.dims.length || actual.dims.some((d, i) => d !== tensor.dims[i])) {
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" has shape [${actual.dims.join(', ')}]; ${set.dir} expects [${tensor.dims.join(', ')}]`,
      );
    }
    const { max, ok } = worstDiff(actual, tensor);
    if (!ok) {
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" differs from ${set.dir}: max abs difference ${max} is over atol ${SAMPLE_ATOL} + rtol ${SAMPLE_RTOL} × |expected|`,
        { output: name, maxAbsDiff: max },
      );
    }
    return { name, maxAbsDiff: Number.isFinite(max) ? max : 0 };
  });
}
