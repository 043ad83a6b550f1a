import { closeSync, fstatSync, openSync } from 'node:fs';
import { ByteReader } from './byte-reader.js';
import { corrupted, LoadFailure } from './load-failure.js';

/**
 * Checks a GGUF file's header and tensor table without loading it (ggml docs/gguf.md, versions 2 and 3):
 * magic `GGUF`, u32 version, u64 tensor count, u64 metadata count, the metadata key/values, the tensor
 * infos (name, u32 rank, u64 dims, u32 ggml type, u64 offset), then the data, aligned to
 * `general.alignment` (default 32). Every tensor's data must lie inside the file; for the ggml types whose
 * block layout is listed below its size is checked too. Every count and length is bounded by the bytes
 * that remain (ByteReader), so a crafted header cannot make it loop or allocate.
 */

export interface GgufInspection {
  version: number;
  architecture?: string;
  metadataCount: number;
  tensorCount: number;
  /** Bytes of the data section the tensors use (offset + size of the furthest tensor). */
  tensorBytes: number;
  alignment: number;
  staticMemoryEstimateBytes: number;
  fileSize: number;
}

const ValueType = {
  U8: 0,
  I8: 1,
  U16: 2,
  I16: 3,
  U32: 4,
  I32: 5,
  F32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  U64: 10,
  I64: 11,
  F64: 12,
} as const;

const FIXED_SIZES: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};
const MAX_ARRAY_DEPTH = 4;
const MAX_DIMS = 4;
const MAX_KEY_BYTES = 65_535;

/** ggml_type → [elements per block, bytes per block] (ggml.c type_traits), for the common types only. */
const GGML_BLOCKS: Record<number, [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  24: [1, 1], // I8
  25: [1, 2], // I16
  26: [1, 4], // I32
  27: [1, 8], // I64
  28: [1, 8], // F64
  30: [1, 2], // BF16
};

export function inspectGguf(path: string): GgufInspection {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const r = new ByteReader(fd, fileSize, 'GGUF');
    if (r.readBytes(4, 'the magic').toString('latin1') !== 'GGUF') throw corrupted('GGUF: no GGUF magic');
    const version = r.u32('the version');
    if (version === 0x02000000 || version === 0x03000000) {
      throw new LoadFailure(
        'UNSUPPORTED_MODEL',
        'a big-endian GGUF file: little-endian hosts cannot load it',
      );
    }
    if (version !== 2 && version !== 3) {
      throw new LoadFailure(
        'UNSUPPORTED_MODEL',
        `GGUF version ${version}: only versions 2 and 3 are checked`,
      );
    }
    const tensorCount = r.count('the tensor count', 24);
    const metadataCount = r.count('the metadata count', 13);
    const meta = readMetadata(r, metadataCount);
    const alignment = meta.alignment ?? 32;
    const tensors = readTensorInfos(r, tensorCount);
    const dataStart = Math.ceil(r.offset / alignment) * alignment;
    const tensorBytes = checkTensorData(tensors, fileSize - dataStart);
    return {
      version,
      ...(meta.architecture ? { architecture: meta.architecture } : {}),
      metadataCount,
      tensorCount,
      tensorBytes,
      alignment,
      staticMemoryEstimateBytes: tensorBytes,
      fileSize,
    };
  } finally {
    closeSync(fd);
  }
}

function readString(r: ByteReader, field: string, max = Number.MAX_SAFE_INTEGER): string {
  const length = r.u64(`${field} length`);
  if (length > max) throw corrupted(`GGUF: ${field} is ${length} bytes long, over ${max}`);
  return r.readBytes(length, field).toString('utf8');
}

function readMetadata(r: ByteReader, count: number): { alignment?: number; architecture?: string } {
  const meta: { alignment?: number; architecture?: string } = {};
  for (let i = 0; i < count; i++) {
    const key = readString(r, `metadata key ${i}`, MAX_KEY_BYTES);
    const type = r.u32(`the type of "${key}"`);
    if (key === 'general.alignment' && type === ValueType.U32) {
      const alignment = r.u32('general.alignment');
      if (alignment === 0 || alignment % 8 !== 0) {
        throw corrupted(`GGUF: general.alignment is ${alignment}, not a non-zero multiple of 8`);
      }
      meta.alignment = alignment;
    } else if (key === 'general.architecture' && type === ValueType.STRING) {
      meta.architecture = readString(r, key, 256);
    } else skipValue(r, type, key, 0);
  }
  return meta;
}

function skipValue(r: ByteReader, type: number, key: string, depth: number): void {
  const fixed = FIXED_SIZES[type];
  if (fixed !== undefined) {
    r.skip(fixed, `the value of "${key}"`);
  } else if (type === ValueType.STRING) {
    r.skip(r.u64(`the length of "${key}"`), `the value of "${key}"`);
  } else if (type === ValueType.ARRAY) {
    skipArray(r, key, depth);
  } else {
    throw corrupted(`GGUF: "${key}" has value type ${type}, which GGUF does not define`);
  }
}

function skipArray(r: ByteReader, key: string, depth: number): void {
  if (depth >= MAX_ARRAY_DEPTH) throw corrupted(`GGUF: "${key}" nests arrays deeper than ${MAX_ARRAY_DEPTH}`);
  const itemType = r.u32(`the item type of "${key}"`);
  const itemFixed = FIXED_SIZES[itemType];
  // Strings and arrays are at least their 8-byte length / 12-byte header.
  const n = r.count(`the item count of "${key}"`, itemFixed ?? (itemType === ValueType.STRING ? 8 : 12));
  if (itemFixed !== undefined) r.skip(n * itemFixed, `the items of "${key}"`);
  else for (let i = 0; i < n; i++) skipValue(r, itemType, key, depth + 1);
}

interface TensorInfo {
  name: string;
  elements: number;
  type: number;
  offset: number;
}

function readTensorInfos(r: ByteReader, count: number): TensorInfo[] {
  const tensors: TensorInfo[] = [];
  for (let i = 0; i < count; i++) {
    const name = readString(r, `the name of tensor ${i}`, MAX_KEY_BYTES);
    const rank = r.u32(`the rank of "${name}"`);
    if (rank > MAX_DIMS)
      throw corrupted(`GGUF: tensor "${name}" has ${rank} dimensions, over ggml's ${MAX_DIMS}`);
    let elements = 1;
    for (let d = 0; d < rank; d++) elements *= r.u64(`dimension ${d} of "${name}"`);
    if (!Number.isSafeInteger(elements))
      throw corrupted(`GGUF: tensor "${name}" has more elements than any file`);
    tensors.push({
      name,
      elements,
      type: r.u32(`the type of "${name}"`),
      offset: r.u64(`the offset of "${name}"`),
    });
  }
  return tensors;
}

/** Checks each tensor's range against the data section; returns the bytes the tensors span. */
function checkTensorData(tensors: TensorInfo[], dataBytes: number): number {
  if (dataBytes < 0) throw corrupted('GGUF: the file ends inside its header padding');
  let span = 0;
  for (const t of tensors) {
    const block = GGML_BLOCKS[t.type];
    const bytes = block ? Math.ceil(t.elements / block[0]) * block[1] : 0;
    const end = t.offset + bytes;
    if (t.offset > dataBytes || end > dataBytes) {
      throw corrupted(
        `GGUF: tensor "${t.name}" occupies bytes ${t.offset}-${end} of the data, but the file holds only ${dataBytes}: the file is truncated`,
        { tensor: t.name },
      );
    }
    span = Math.max(span, end);
  }
  return span;
}
