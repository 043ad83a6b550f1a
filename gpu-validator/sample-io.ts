import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Tensor } from 'onnxruntime-node';
import type { FedInput } from '../schemas/report.schema.js';
import { LoadFailure } from './load-failure.js';
import { RUNTIME_ELEMENT_TYPES } from './onnx-types.js';
import {
  type ContainerMessage,
  parseContainerProto,
  parseTensorProto,
  type SampleContainer,
  type SampleTensor,
} from './tensor-proto.js';
import {
  type DeclaredTypes,
  type DeclaredValue,
  describeType,
  type Shape,
  type ValueType,
} from './value-types.js';

/**
 * Sample inputs in the ONNX test-data layout: a model `dir/model.onnx` with a folder
 * `dir/test_data_set_N/` holding `input_K.pb` (and optionally `output_K.pb`): a serialized TensorProto,
 * or a SequenceProto / OptionalProto / MapProto where the model's K-th input or output is one.
 * The smoke run feeds them (by name where every file names a model input, else by position K) and
 * compares each expected output by the ONNX backend tests' rule, |actual − expected| ≤ atol + rtol ×
 * |expected| (NaN matches NaN, an infinity the same infinity; strings must be equal). What
 * onnxruntime-node cannot feed (a sequence, a map, an empty optional) leaves the set unused, what it
 * cannot return is not compared: both with a note, never a failure. Only stdlib: the loader child uses it.
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

/** Every `test_data_set_N` beside a model in `dir` among `files` (manifest paths), by N; gaps unchecked. */
export function sampleSetsIn<F extends SampleSetFile>(dir: string, files: readonly F[]): SampleSet[] {
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
  return [...sets.entries()].sort(([a], [b]) => a - b).map(([, set]) => set);
}

/** input_K.pb / output_K.pb must be numbered from 0 without gaps (CONFIG_INVALID otherwise). */
export function checkNumbering(set: SampleSet): void {
  // Sparse arrays: a missing input_K leaves a hole that only a full scan sees.
  const gap = (list: (SampleSetFile | undefined)[]) => Array.from(list).indexOf(undefined);
  if (gap(set.inputs) >= 0 || gap(set.outputs) >= 0) {
    throw new LoadFailure(
      'CONFIG_INVALID',
      `${set.dir}: input_K.pb / output_K.pb must be numbered from 0 without gaps`,
    );
  }
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
  const chosen = sampleSetsIn(dir, files)[0];
  if (!chosen || chosen.inputs.length === 0) return undefined;
  checkNumbering(chosen);
  return chosen;
}

// ---- Reading a set by the model's declared types ----------------------------------------------------

/**
 * What a sample file holds is decided by the model, never guessed from its bytes: `input_K.pb` is read
 * as the message of the model's K-th input's declared type (graph inputs in order, initializers left
 * out), `output_K.pb` as the K-th output's, as onnx's backend test runner and onnxruntime's test runner
 * read them. A sequence's bytes parsed as a TensorProto are garbage (its name field lands in `dims`), so
 * reading by the bytes failed good models. Files are then paired with model slots by name when every
 * file names one (the message of that slot must be the one read), else by position.
 * The CLI (publish, before uploading) and the loader child both call `readSampleSet`: one rule.
 */

type Direction = 'input' | 'output';

/** The message a sample file of this declared type holds (onnx-data.proto). */
function messageFor(type: ValueType): ContainerMessage | 'TensorProto' | 'SparseTensorProto' | undefined {
  if (type.kind === 'tensor') return 'TensorProto';
  if (type.kind === 'sparse') return 'SparseTensorProto';
  if (type.kind === 'sequence') return 'SequenceProto';
  if (type.kind === 'optional') return 'OptionalProto';
  if (type.kind === 'map') return 'MapProto';
  return undefined;
}

/** The `CONTAINED` name of a declared element type, to check what a sequence or optional file holds. */
function containedName(type: ValueType): string {
  return type.kind === 'sparse' ? 'sparse_tensor' : type.kind;
}

interface ReadFile {
  k: number;
  file: string;
  name: string;
  /** The declared type of the slot at position K: what the file was read as. */
  readAs: DeclaredValue;
  /** A tensor to feed or compare: a TensorProto, or the value of an optional tensor. */
  tensor?: SampleTensor;
  container?: SampleContainer;
}

const fileOf = (set: SampleSet, what: Direction, k: number) => `${set.dir}/${what}_${k}.pb`;

/** Reads one file as the message its position's declared type says; a tensor only when it can be decoded. */
function readAs(set: SampleSet, what: Direction, k: number, slots: readonly DeclaredValue[]): ReadFile {
  const file = fileOf(set, what, k);
  const slot = slots[k];
  if (!slot)
    throw new LoadFailure(
      'CONFIG_INVALID',
      `${set.dir}: ${what}_${k}.pb has no matching model ${what} (the model has ${slots.length} ${what}s)`,
    );
  const message = messageFor(slot.type);
  const base: ReadFile = { k, file, name: '', readAs: slot };
  // Types the runtime cannot take (and this reader cannot decode) are not read: the file is not used.
  if (!message || message === 'SparseTensorProto') return base;
  const elemType = tensorOf(slot.type)?.elemType;
  if (elemType && !RUNTIME_ELEMENT_TYPES.has(elemType) && message === 'TensorProto') return base;
  const bytes = readFileSync(slotFile(set, what, k).localPath);
  const because = `; it is read as ${message === 'OptionalProto' ? 'an' : 'a'} ${message} since the model's ${what} ${k} "${slot.name}" is ${describeType(slot.type)}`;
  try {
    if (message === 'TensorProto') {
      const tensor = parseTensorProto(file, bytes);
      return { ...base, name: tensor.name, tensor };
    }
    const container = parseContainerProto(file, bytes, message);
    const read: ReadFile = { ...base, name: container.name, container };
    if (container.tensor && elemType && RUNTIME_ELEMENT_TYPES.has(elemType))
      read.tensor = parseTensorProto(`${file} (the optional's value)`, container.tensor);
    return read;
  } catch (error) {
    if (error instanceof LoadFailure) throw new LoadFailure(error.code, `${error.message}${because}`);
    throw error;
  }
}

function slotFile(set: SampleSet, what: Direction, k: number): SampleSetFile {
  return (what === 'input' ? set.inputs : set.outputs)[k] as SampleSetFile;
}

/** A tensor type, or the tensor inside an optional: the types whose sample values can be used. */
function tensorOf(type: ValueType): { elemType: string; shape?: Shape } | undefined {
  if (type.kind === 'tensor') return type;
  if (type.kind === 'optional' && type.elem.kind === 'tensor') return type.elem;
  return undefined;
}

/** Pairs files with slots: by name when every file names a slot, else by position (see above). */
function pair(files: ReadFile[], slots: readonly DeclaredValue[], what: Direction) {
  const byName = files.length > 0 && files.every((f) => slots.some((s) => s.name === f.name));
  const taken = new Map<string, ReadFile>();
  return files.map((f) => {
    const slot = byName ? (slots.find((s) => s.name === f.name) as DeclaredValue) : f.readAs;
    if (messageFor(slot.type) !== messageFor(f.readAs.type))
      throw new LoadFailure(
        'CONFIG_INVALID',
        `${f.file} names the ${what} "${slot.name}" (${describeType(slot.type)}) but is ${what} ${f.k}, ` +
          `where the model has "${f.readAs.name}" (${describeType(f.readAs.type)}): ${what}_K.pb is read as ` +
          `the model's K-th ${what}, so number the files in the model's ${what} order`,
      );
    const twice = taken.get(slot.name);
    if (twice)
      throw new LoadFailure(
        'CONFIG_INVALID',
        `${twice.file} and ${f.file} both give the model ${what} "${slot.name}"`,
      );
    taken.set(slot.name, f);
    return { slot, read: f };
  });
}

/** A sample tensor must have the element type and the fixed dims the model declares for its slot. */
function checkTensor(read: ReadFile, slot: DeclaredValue, what: Direction): void {
  const declared = tensorOf(slot.type);
  const tensor = read.tensor;
  if (!declared || !tensor) return;
  if (tensor.type !== declared.elemType)
    throw new LoadFailure(
      'CONFIG_INVALID',
      `${read.file} holds ${tensor.type}; the model's ${what} "${slot.name}" is ${describeType(slot.type)}`,
    );
  const shape = declared.shape;
  // Output shapes are the comparison's to judge (the run's actual shape is named there).
  if (what === 'output' || !shape) return;
  const fits =
    shape.length === tensor.dims.length &&
    shape.every((d, i) => typeof d !== 'number' || d < 0 || d === tensor.dims[i]);
  if (!fits)
    throw new LoadFailure(
      'CONFIG_INVALID',
      `${read.file} has dims [${tensor.dims.join(', ')}]; the model's input "${slot.name}" is declared [${shape.join(', ')}]`,
    );
}

/** A sequence's or optional's file must hold what the model declares (an empty one holds nothing). */
function checkContainer(read: ReadFile, slot: DeclaredValue, what: Direction): void {
  const c = read.container;
  if (!c || (slot.type.kind !== 'sequence' && slot.type.kind !== 'optional')) return;
  const expected = containedName(slot.type.elem);
  const held = slot.type.kind === 'optional' ? (c.value ?? 'undefined') : c.holds;
  if (held === 'undefined' || slot.type.elem.kind === 'unknown' || held === expected) return;
  throw new LoadFailure(
    'CONFIG_INVALID',
    `${read.file} is ${slot.type.kind === 'optional' ? 'an optional holding a' : 'a sequence of'} ${held}; the model's ${what} "${slot.name}" is ${describeType(slot.type)}`,
  );
}

/** Why the runtime cannot feed this input (undefined when it can). */
function unfeedable(read: ReadFile, slot: DeclaredValue): string | undefined {
  const declared = tensorOf(slot.type);
  const type = describeType(slot.type);
  if (!declared) return `input "${slot.name}" is ${type}; onnxruntime-node can feed tensors only`;
  if (!RUNTIME_ELEMENT_TYPES.has(declared.elemType))
    return `input "${slot.name}" is ${type}, an element type onnxruntime-node cannot feed`;
  if (!read.tensor)
    return (
      `${read.file} is an empty optional for the input "${slot.name}" (${type}); onnxruntime-node cannot ` +
      'feed an absent value (a run needs every input)'
    );
  return undefined;
}

/** Why this output cannot be compared (undefined when it can). */
function uncomparable(read: ReadFile, slot: DeclaredValue): string | undefined {
  const type = describeType(slot.type);
  // Runs fetch only what the runtime's metadata calls a tensor, and it calls an optional none (whether
  // an absent one could be returned to JS is not something a good model's verdict should hang on).
  if (slot.type.kind === 'optional')
    return `output "${slot.name}" is ${type}, which onnxruntime-node does not declare a tensor, so it is not fetched`;
  if (slot.type.kind !== 'tensor')
    return `output "${slot.name}" is ${type}; onnxruntime-node returns tensors only`;
  if (!read.tensor) return `output "${slot.name}" is ${type}, an element type onnxruntime-node cannot return`;
  return undefined;
}

export interface SampleReading {
  /** The inputs to feed, by model input; empty when `unfeedable` says why the set cannot be run. */
  inputs: { name: string; file: string; tensor: SampleTensor }[];
  /** Why onnxruntime-node cannot feed this set (a sequence, a map, an empty optional…). */
  unfeedable?: string;
  /** The outputs to compare. */
  expected: { name: string; tensor: SampleTensor }[];
  /** One line per output file not compared, naming the output and why. */
  skipped: string[];
  /** The names the input files give (TensorProto.name, a sequence's or optional's name), '' when unnamed. */
  inputNames: string[];
}

/**
 * Reads a sample set by the model's declared inputs and outputs (value-types.ts). CONFIG_INVALID names
 * the file and what is wrong: a file that is not the message its slot's type says, an element type or a
 * fixed dim the model contradicts, a missing input, files out of the model's order. What the runtime
 * cannot feed or return is no error: `unfeedable` and `skipped` say so.
 */
export function readSampleSet(set: SampleSet, declared: DeclaredTypes): SampleReading {
  checkNumbering(set);
  const inputFiles = set.inputs.map((_, k) => readAs(set, 'input', k, declared.inputs));
  const outputFiles = set.outputs.map((_, k) => readAs(set, 'output', k, declared.outputs));
  const reading: SampleReading = {
    inputs: [],
    expected: [],
    skipped: [],
    inputNames: inputFiles.map((f) => f.name),
  };
  const inputs = pair(inputFiles, declared.inputs, 'input');
  const absent = declared.inputs.find((i) => !inputs.some((p) => p.slot.name === i.name));
  if (absent)
    throw new LoadFailure('CONFIG_INVALID', `${set.dir} gives no value for the model input "${absent.name}"`);
  for (const { slot, read } of inputs) {
    checkTensor(read, slot, 'input');
    checkContainer(read, slot, 'input');
    const why = unfeedable(read, slot);
    if (why) reading.unfeedable ??= why;
    else if (read.tensor) reading.inputs.push({ name: slot.name, file: read.file, tensor: read.tensor });
  }
  for (const { slot, read } of pair(outputFiles, declared.outputs, 'output')) {
    checkTensor(read, slot, 'output');
    checkContainer(read, slot, 'output');
    const why = uncomparable(read, slot);
    if (why) reading.skipped.push(`${read.file} not compared: ${why}`);
    else if (read.tensor) reading.expected.push({ name: slot.name, tensor: read.tensor });
  }
  if (reading.unfeedable) reading.inputs = [];
  return reading;
}

export interface SampleFeeds {
  feeds: Record<string, Tensor>;
  fed: FedInput[];
}

/** The runtime's tensors for a set `readSampleSet` found feedable. */
export function sampleFeeds(ctor: typeof Tensor, reading: SampleReading): SampleFeeds {
  const feeds: Record<string, Tensor> = {};
  const fed: FedInput[] = [];
  for (const { name, file, tensor } of reading.inputs) {
    feeds[name] = new ctor(tensor.type as 'float32', tensor.data as Float32Array, tensor.dims);
    fed.push({ name, type: tensor.type, shape: tensor.dims, value: `from ${file}`, source: 'sample' });
  }
  return { feeds, fed };
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

/**
 * Largest |a − e| among elements, and whether every element is within atol + rtol × |e|; for strings,
 * which must be equal, the first element that is not.
 */
function worstDiff(
  actual: Pick<Tensor, 'type' | 'data'>,
  expected: SampleTensor,
): { max: number; ok: boolean; string?: { index: number; actual: string; expected: string } } {
  const half = expected.type === 'float16';
  let max = 0;
  let ok = true;
  for (let i = 0; i < expected.data.length; i++) {
    const a = valueAt(actual.data, i, half);
    const e = valueAt(expected.data, i, half);
    if (a === e) continue;
    if (typeof a === 'string' || typeof e === 'string')
      return { max: Number.NaN, ok: false, string: { index: i, actual: String(a), expected: String(e) } };
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
  expected: SampleReading['expected'],
  results: Record<string, Pick<Tensor, 'type' | 'dims' | 'data'>>,
): { name: string; maxAbsDiff: number }[] {
  return expected.map(({ name, tensor }) => {
    const actual = results[name];
    if (!actual)
      throw new LoadFailure('CONFIG_INVALID', `${set.dir} expects output "${name}", which was not returned`);
    if (actual.type !== tensor.type)
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" is ${actual.type}; ${set.dir} expects ${tensor.type}`,
      );
    if (actual.dims.length !== tensor.dims.length || actual.dims.some((d, i) => d !== tensor.dims[i])) {
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" has shape [${actual.dims.join(', ')}]; ${set.dir} expects [${tensor.dims.join(', ')}]`,
      );
    }
    const { max, ok, string } = worstDiff(actual, tensor);
    if (string) {
      throw new LoadFailure(
        'INFERENCE_FAILED',
        `output "${name}" differs from ${set.dir}: element ${string.index} is ${JSON.stringify(string.actual)}, expected ${JSON.stringify(string.expected)} (strings must be equal)`,
        { output: name },
      );
    }
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
