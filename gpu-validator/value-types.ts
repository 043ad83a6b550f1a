import { closeSync, fstatSync, openSync } from 'node:fs';
import { parseDim } from './onnx-inspect.js';
import { dataTypeName } from './onnx-types.js';
import { WireReader, WireType } from './wire-reader.js';

/**
 * The declared type of every graph input and output of an ONNX model (onnx.proto TypeProto), in graph
 * order, initializers listed as inputs (before IR 4) left out: what onnx's backend test runner reads to
 * decide whether `input_K.pb` is a TensorProto, a SequenceProto or an OptionalProto. onnxruntime-node's
 * own metadata only says "not a tensor", so this reads the protobuf, with the same bounded, seeking
 * reader as the inspector (weights are skipped, never read). Only stdlib: the loader child and the CLI
 * both call it.
 */

export type Shape = (number | string)[];

export type ValueType =
  /** `shape` absent when the model declares none (any rank); [] is a scalar. */
  | { kind: 'tensor'; elemType: string; shape?: Shape }
  | { kind: 'sparse'; elemType: string; shape?: Shape }
  | { kind: 'sequence'; elem: ValueType }
  | { kind: 'optional'; elem: ValueType }
  | { kind: 'map'; keyType: string; value: ValueType }
  /** No type, or one this reader does not know (opaque, a future TypeProto field). */
  | { kind: 'unknown' };

export interface DeclaredValue {
  name: string;
  type: ValueType;
}

export interface DeclaredTypes {
  inputs: DeclaredValue[];
  outputs: DeclaredValue[];
}

const MAX_VALUES = 10_000;
const MAX_TYPE_DEPTH = 8;
const MAX_RANK = 64;
const UNKNOWN: ValueType = { kind: 'unknown' };

/** Reads the declared types; throws (a LoadFailure from the reader) on a file it cannot parse. */
export function readDeclaredTypes(path: string): DeclaredTypes {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const r = new WireReader(fd, size);
    const found = { inputs: [] as DeclaredValue[], outputs: [] as DeclaredValue[], initializers: new Set() };
    r.forEachField(size, (field, wire) => {
      if (field === 7 && wire === WireType.LEN) readGraph(r, r.readLengthEnd(size), found);
      else r.skipField(wire, size);
    });
    return {
      inputs: found.inputs.filter((i) => !found.initializers.has(i.name)),
      outputs: found.outputs,
    };
  } finally {
    closeSync(fd);
  }
}

/** GraphProto: initializer = 5, input = 11, output = 12 (the main graph only: subgraphs are not fed). */
function readGraph(
  r: WireReader,
  end: number,
  found: { inputs: DeclaredValue[]; outputs: DeclaredValue[]; initializers: Set<unknown> },
): void {
  r.forEachField(end, (field, wire) => {
    if ((field === 11 || field === 12) && wire === WireType.LEN) {
      const list = field === 11 ? found.inputs : found.outputs;
      const value = readValueInfo(r, r.readLengthEnd(end));
      if (list.length < MAX_VALUES) list.push(value);
    } else if (field === 5 && wire === WireType.LEN) {
      const name = tensorName(r, r.readLengthEnd(end));
      if (found.initializers.size < MAX_VALUES * 10) found.initializers.add(name);
    } else r.skipField(wire, end);
  });
}

/**
 * A name as the runtime is fed it: all of it the reader's buffer holds (not cut to a report's length, since
 * inputs are matched by name).
 */
const readName = (r: WireReader, end: number): string => r.readStringHead(end, Number.POSITIVE_INFINITY).text;

function tensorName(r: WireReader, end: number): string {
  let name = '';
  r.forEachField(end, (field, wire) => {
    if (field === 8 && wire === WireType.LEN) name = readName(r, end);
    else r.skipField(wire, end);
  });
  return name;
}

/** ValueInfoProto: name = 1, type = 2. */
function readValueInfo(r: WireReader, end: number): DeclaredValue {
  const value: DeclaredValue = { name: '', type: UNKNOWN };
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) value.name = readName(r, end);
    else if (field === 2 && wire === WireType.LEN) value.type = readTypeProto(r, r.readLengthEnd(end));
    else r.skipField(wire, end);
  });
  return value;
}

/**
 * A TypeProto (tensor_type = 1, sequence_type = 4, map_type = 5, sparse_tensor_type = 8,
 * optional_type = 9); nesting deeper than MAX_TYPE_DEPTH is read as unknown.
 */
export function readTypeProto(r: WireReader, end: number, depth = 0): ValueType {
  let type: ValueType = UNKNOWN;
  r.forEachField(end, (field, wire) => {
    if (wire !== WireType.LEN || ![1, 4, 5, 8, 9].includes(field) || depth >= MAX_TYPE_DEPTH) {
      r.skipField(wire, end);
      return;
    }
    const inner = r.readLengthEnd(end);
    if (field === 1 || field === 8)
      type = { kind: field === 1 ? 'tensor' : 'sparse', ...tensorType(r, inner) };
    else if (field === 4) type = { kind: 'sequence', elem: elementType(r, inner, 1, depth) };
    else if (field === 9) type = { kind: 'optional', elem: elementType(r, inner, 1, depth) };
    else type = mapType(r, inner, depth);
  });
  return type;
}

/** Sequence and Optional: elem_type = 1, a TypeProto. */
function elementType(r: WireReader, end: number, field: number, depth: number): ValueType {
  let elem: ValueType = UNKNOWN;
  r.forEachField(end, (f, wire) => {
    if (f === field && wire === WireType.LEN) elem = readTypeProto(r, r.readLengthEnd(end), depth + 1);
    else r.skipField(wire, end);
  });
  return elem;
}

/** Map: key_type = 1 (a TensorProto.DataType), value_type = 2. */
function mapType(r: WireReader, end: number, depth: number): ValueType {
  let keyType = 'unknown';
  let value: ValueType = UNKNOWN;
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.VARINT) keyType = dataTypeName(r.readVarint());
    else if (field === 2 && wire === WireType.LEN) value = readTypeProto(r, r.readLengthEnd(end), depth + 1);
    else r.skipField(wire, end);
  });
  return { kind: 'map', keyType, value };
}

/** TypeProto.Tensor: elem_type = 1, shape = 2 (TensorShapeProto.dim = 1). */
function tensorType(r: WireReader, end: number): { elemType: string; shape?: Shape } {
  const facts: { elemType: string; shape?: Shape } = { elemType: 'unknown' };
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.VARINT) facts.elemType = dataTypeName(r.readVarint());
    else if (field === 2 && wire === WireType.LEN) {
      const shapeEnd = r.readLengthEnd(end);
      const shape: Shape = [];
      r.forEachField(shapeEnd, (f, w) => {
        if (f === 1 && w === WireType.LEN && shape.length < MAX_RANK)
          shape.push(parseDim(r, r.readLengthEnd(shapeEnd)));
        else r.skipField(w, shapeEnd);
      });
      facts.shape = shape;
    } else r.skipField(wire, end);
  });
  return facts;
}

/** The type in onnx's own notation with onnxruntime-node's element names: `sequence(tensor(float32))`. */
export function describeType(type: ValueType): string {
  switch (type.kind) {
    case 'tensor':
      return `tensor(${type.elemType})`;
    case 'sparse':
      return `sparse_tensor(${type.elemType})`;
    case 'sequence':
    case 'optional':
      return `${type.kind}(${describeType(type.elem)})`;
    case 'map':
      return `map(${type.keyType}, ${describeType(type.value)})`;
    default:
      // No type this reader knows (opaque, undeclared, or a model read only through the runtime).
      return 'not a tensor';
  }
}
