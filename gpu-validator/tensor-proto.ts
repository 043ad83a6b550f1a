import { LoadFailure } from './load-failure.js';
import { dataTypeName } from './onnx-types.js';

/**
 * A serialized ONNX TensorProto (onnx.proto) as the ONNX test-data layout stores one per file:
 * `test_data_set_N/input_K.pb` and `output_K.pb`, as the ONNX model zoo and onnx's own tests ship them.
 * Parsed from a buffer with every length checked against its enclosing message; values in the typed
 * fields or in `raw_data` (little-endian), converted to the arrays onnxruntime-node's Tensor takes.
 * Only stdlib: the loader child reads these files.
 *
 * Fields: dims = 1, data_type = 2, float_data = 4, int32_data = 5, string_data = 6, int64_data = 7,
 * name = 8, raw_data = 9, double_data = 10, uint64_data = 11, data_location = 14 (1 = external,
 * refused: sample tensors must be self-contained).
 */

export type SampleData =
  | Float32Array
  | Float64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array
  | string[];

export interface SampleTensor {
  name: string;
  /** onnxruntime-node's element type name (`float32`, `int64`, …). */
  type: string;
  dims: number[];
  data: SampleData;
}

const MAX_RANK = 64;
const MAX_ELEMENTS = 2 ** 31;

class BufferReader {
  position = 0;
  constructor(
    private readonly bytes: Buffer,
    private readonly file: string,
    private readonly what = 'sample tensor',
  ) {}

  fail(why: string): LoadFailure {
    return new LoadFailure('CONFIG_INVALID', `${this.what} ${this.file}: ${why} (at byte ${this.position})`);
  }

  varint(): bigint {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.position >= this.bytes.length) throw this.fail('unexpected end of file');
      const byte = this.bytes[this.position++] as number;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, value);
    }
    throw this.fail('varint longer than 10 bytes');
  }

  smallVarint(): number {
    const v = this.varint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail('length out of range');
    return Number(v);
  }

  /** The end offset of a LEN payload, checked against `limit`. */
  lengthEnd(limit: number): number {
    const length = this.smallVarint();
    const end = this.position + length;
    if (end > limit) throw this.fail(`field of ${length} bytes runs past its message`);
    return end;
  }

  slice(end: number): Buffer {
    const out = this.bytes.subarray(this.position, end);
    this.position = end;
    return out;
  }

  skip(wire: number, limit: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.position += 8;
    else if (wire === 2) this.position = this.lengthEnd(limit);
    else if (wire === 5) this.position += 4;
    else throw this.fail(`invalid wire type ${wire}`);
    if (this.position > limit) throw this.fail('field runs past its message');
  }
}

interface Raw {
  name: string;
  dataType: number;
  dims: number[];
  raw?: Buffer;
  floats: number[];
  doubles: number[];
  varints: bigint[];
  strings: string[];
  external: boolean;
}

/** Reads a repeated scalar field, packed (LEN) or one value per tag. */
function repeated(r: BufferReader, wire: number, limit: number, fixed: 0 | 4 | 8, read: () => void): void {
  if (wire !== 2) {
    read();
    return;
  }
  const end = r.lengthEnd(limit);
  if (fixed > 0 && (end - r.position) % fixed !== 0) throw r.fail('packed field of a partial element');
  while (r.position < end) read();
}

function parseFields(r: BufferReader, bytes: Buffer): Raw {
  const t: Raw = {
    name: '',
    dataType: 0,
    dims: [],
    floats: [],
    doubles: [],
    varints: [],
    strings: [],
    external: false,
  };
  const limit = bytes.length;
  const fixed = (n: 4 | 8) => {
    if (r.position + n > limit) throw r.fail('unexpected end of file');
    const v = n === 4 ? bytes.readFloatLE(r.position) : bytes.readDoubleLE(r.position);
    r.position += n;
    return v;
  };
  while (r.position < limit) {
    const tag = r.smallVarint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 1)
      repeated(r, wire, limit, 0, () => void t.dims.push(Number(BigInt.asIntN(64, r.varint()))));
    else if (field === 2 && wire === 0) t.dataType = r.smallVarint();
    else if (field === 4) repeated(r, wire, limit, 4, () => void t.floats.push(fixed(4)));
    else if (field === 10) repeated(r, wire, limit, 8, () => void t.doubles.push(fixed(8)));
    else if ((field === 5 || field === 7 || field === 11) && wire !== 2 && wire !== 0) r.skip(wire, limit);
    else if (field === 5 || field === 7 || field === 11)
      repeated(r, wire, limit, 0, () => void t.varints.push(r.varint()));
    else if (field === 6 && wire === 2) t.strings.push(r.slice(r.lengthEnd(limit)).toString('utf8'));
    else if (field === 8 && wire === 2) t.name = r.slice(r.lengthEnd(limit)).toString('utf8');
    else if (field === 9 && wire === 2) t.raw = r.slice(r.lengthEnd(limit));
    else if (field === 14 && wire === 0) t.external = r.varint() === 1n;
    else r.skip(wire, limit);
    if (t.dims.length > MAX_RANK) throw r.fail(`more than ${MAX_RANK} dims`);
  }
  return t;
}

type NumericCtor = {
  new (n: number): Exclude<SampleData, string[] | BigInt64Array | BigUint64Array>;
  BYTES_PER_ELEMENT: number;
};
const NUMERIC: Record<string, NumericCtor> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  float16: Uint16Array,
};

function fromRaw(r: BufferReader, type: string, raw: Buffer, count: number): SampleData {
  const bytesPer = type === 'int64' || type === 'uint64' ? 8 : (NUMERIC[type]?.BYTES_PER_ELEMENT ?? 0);
  if (bytesPer === 0) throw r.fail(`raw data of element type ${type} is not supported`);
  if (raw.length !== count * bytesPer)
    throw r.fail(`raw data has ${raw.length} bytes; ${count} ${type} elements need ${count * bytesPer}`);
  // Copy into an aligned buffer: a subarray of the file may start at any offset.
  const aligned = new Uint8Array(raw).buffer;
  if (type === 'int64') return new BigInt64Array(aligned);
  if (type === 'uint64') return new BigUint64Array(aligned);
  const Ctor = NUMERIC[type] as unknown as { new (b: ArrayBuffer): SampleData };
  return new Ctor(aligned);
}

function fromTyped(r: BufferReader, type: string, t: Raw, count: number): SampleData {
  const check = (n: number) => {
    if (n !== count) throw r.fail(`holds ${n} values; its dims need ${count}`);
  };
  const lists: Record<string, unknown[]> = { string: t.strings, float32: t.floats, float64: t.doubles };
  check((lists[type] ?? t.varints).length);
  if (type === 'string') return t.strings;
  if (type === 'float32') return Float32Array.from(t.floats);
  if (type === 'float64') return Float64Array.from(t.doubles);
  if (type === 'int64') return BigInt64Array.from(t.varints, (v) => BigInt.asIntN(64, v));
  if (type === 'uint64') return BigUint64Array.from(t.varints);
  const Ctor = NUMERIC[type];
  if (!Ctor) throw r.fail(`element type ${type} is not supported`);
  const out = new Ctor(count);
  // int32_data carries every small integer type, bools and float16 bits (as their int32 value).
  for (let i = 0; i < count; i++) out[i] = Number(BigInt.asIntN(32, t.varints[i] as bigint));
  return out;
}

/** Parses one TensorProto file; a malformed one is CONFIG_INVALID (the publisher's sample, not the model). */
export function parseTensorProto(file: string, bytes: Buffer): SampleTensor {
  const r = new BufferReader(bytes, file);
  const t = parseFields(r, bytes);
  if (t.external) throw r.fail('keeps its data in an external file; sample tensors must hold their values');
  if (t.dims.some((d) => d < 0)) throw r.fail('has a negative dim');
  const count = t.dims.reduce((a, d) => a * d, 1);
  if (count > MAX_ELEMENTS) throw r.fail(`has ${count} elements, over ${MAX_ELEMENTS}`);
  const type = dataTypeName(t.dataType);
  const data = t.raw ? fromRaw(r, type, t.raw, count) : fromTyped(r, type, t, count);
  return { name: t.name, type, dims: t.dims, data };
}

/** SequenceProto.DataType / OptionalProto.DataType: what a sequence or an optional holds. */
export const CONTAINED = ['undefined', 'tensor', 'sparse_tensor', 'sequence', 'map', 'optional'] as const;
export type Contained = (typeof CONTAINED)[number];

/** The messages of a sample file besides TensorProto (onnx-data.proto). */
export type ContainerMessage = 'SequenceProto' | 'OptionalProto' | 'MapProto';

export interface SampleContainer {
  name: string;
  /** SequenceProto / OptionalProto elem_type as a name ('undefined' when unset); MapProto: 'map'. */
  holds: Contained | 'map';
  /** SequenceProto: its elements; OptionalProto: 1 when it holds a value, 0 when empty; MapProto: 0. */
  count: number;
  /** OptionalProto: the message held (field 3 tensor_value … 7 optional_value), or undefined when empty. */
  value?: Contained;
  /** OptionalProto: the bytes of its tensor_value, when that is what it holds. */
  tensor?: Buffer;
}

/**
 * The envelope of a SequenceProto, OptionalProto or MapProto sample file (name = 1, elem_type or key_type
 * = 2, values in fields 3…7), every length checked: what the validator needs to pair it with its model
 * input or output and to see what it holds. The held values are not decoded: onnxruntime-node can neither
 * feed nor return them (an optional's tensor excepted, which `parseTensorProto` then reads).
 */
export function parseContainerProto(file: string, bytes: Buffer, message: ContainerMessage): SampleContainer {
  const r = new BufferReader(bytes, file, `sample ${message}`);
  const out: SampleContainer = { name: '', holds: message === 'MapProto' ? 'map' : 'undefined', count: 0 };
  const limit = bytes.length;
  while (r.position < limit) {
    const tag = r.smallVarint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 1 && wire === 2) out.name = r.slice(r.lengthEnd(limit)).toString('utf8');
    else if (field === 2 && wire === 0 && message !== 'MapProto') {
      const code = r.smallVarint();
      out.holds = CONTAINED[code] ?? 'undefined';
      if (CONTAINED[code] === undefined) throw r.fail(`elem_type ${code} is not one onnx defines`);
    } else if (field >= 3 && field <= 7 && wire === 2 && message !== 'MapProto') {
      const payload = r.slice(r.lengthEnd(limit));
      out.count++;
      if (message === 'OptionalProto') {
        out.value = CONTAINED[field - 2];
        if (field === 3) out.tensor = payload;
      }
    } else r.skip(wire, limit);
  }
  if (message === 'OptionalProto' && out.count > 1) throw r.fail('an optional holds at most one value');
  return out;
}
