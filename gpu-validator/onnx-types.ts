/**
 * TensorProto.DataType → the element type names onnxruntime-node uses (Tensor.Type), and their sizes in
 * bytes (fractional for 4- and 2-bit types). Numbers are from onnx.proto.
 */
const DATA_TYPES: Record<number, { name: string; bytes: number }> = {
  1: { name: 'float32', bytes: 4 },
  2: { name: 'uint8', bytes: 1 },
  3: { name: 'int8', bytes: 1 },
  4: { name: 'uint16', bytes: 2 },
  5: { name: 'int16', bytes: 2 },
  6: { name: 'int32', bytes: 4 },
  7: { name: 'int64', bytes: 8 },
  8: { name: 'string', bytes: 0 },
  9: { name: 'bool', bytes: 1 },
  10: { name: 'float16', bytes: 2 },
  11: { name: 'float64', bytes: 8 },
  12: { name: 'uint32', bytes: 4 },
  13: { name: 'uint64', bytes: 8 },
  14: { name: 'complex64', bytes: 8 },
  15: { name: 'complex128', bytes: 16 },
  16: { name: 'bfloat16', bytes: 2 },
  17: { name: 'float8e4m3fn', bytes: 1 },
  18: { name: 'float8e4m3fnuz', bytes: 1 },
  19: { name: 'float8e5m2', bytes: 1 },
  20: { name: 'float8e5m2fnuz', bytes: 1 },
  21: { name: 'uint4', bytes: 0.5 },
  22: { name: 'int4', bytes: 0.5 },
  23: { name: 'float4e2m1', bytes: 0.5 },
  24: { name: 'float8e8m0', bytes: 1 },
  25: { name: 'uint2', bytes: 0.25 },
  26: { name: 'int2', bytes: 0.25 },
};

export function dataTypeName(dataType: number): string {
  return DATA_TYPES[dataType]?.name ?? `onnx-type-${dataType}`;
}

/** Bytes per element, or 0 when unknown (strings, future types). */
export function dataTypeBytes(dataType: number): number {
  return DATA_TYPES[dataType]?.bytes ?? 0;
}

/**
 * The element types onnxruntime-node's Tensor takes from JS and gives back (and sample-io.ts can decode
 * from a TensorProto): the others (bfloat16, float8, 4-bit, complex) can be neither fed nor compared.
 */
export const RUNTIME_ELEMENT_TYPES: ReadonlySet<string> = new Set([
  'float32',
  'float64',
  'float16',
  'int64',
  'uint64',
  'int32',
  'int16',
  'int8',
  'uint32',
  'uint16',
  'uint8',
  'bool',
  'string',
]);
