import { closeSync, fstatSync, openSync } from 'node:fs';
import { ByteReader } from './byte-reader.js';
import { corrupted } from './load-failure.js';

/**
 * Checks a safetensors file without loading it (format: huggingface/safetensors README): an 8-byte
 * little-endian header length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] } }`
 * (plus an optional `__metadata__` of strings), then the data. Every tensor's dtype must be known, its byte
 * range must match its shape and lie inside the data: a truncated download fails naming the first tensor
 * it cut. The sum of the tensors' bytes is the static memory estimate (what a loader materialises).
 */

export interface SafetensorsInspection {
  headerBytes: number;
  tensorCount: number;
  /** Bytes of all tensors (elements × element size). */
  tensorBytes: number;
  dtypes: Record<string, number>;
  staticMemoryEstimateBytes: number;
  fileSize: number;
}

/** The spec caps the header at 100 MB (safetensors MAX_HEADER_SIZE). */
const MAX_HEADER_BYTES = 100_000_000;

/** Bits per element of each dtype the format defines (safetensors `Dtype`). */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

export function inspectSafetensors(path: string): SafetensorsInspection {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const reader = new ByteReader(fd, fileSize, 'safetensors');
    const headerBytes = reader.u64('the header length');
    if (headerBytes > MAX_HEADER_BYTES) {
      throw corrupted(`safetensors: a header of ${headerBytes} bytes is over the format's 100 MB limit`);
    }
    const text = reader.readBytes(headerBytes, 'the JSON header').toString('utf8');
    const dataBytes = fileSize - 8 - headerBytes;
    return { ...checkHeader(parseHeader(text), dataBytes), headerBytes, fileSize };
  } finally {
    closeSync(fd);
  }
}

function parseHeader(text: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw corrupted(`safetensors: the header is not JSON: ${(error as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw corrupted('safetensors: the header is not a JSON object');
  }
  return header as Record<string, unknown>;
}

function checkHeader(
  header: Record<string, unknown>,
  dataBytes: number,
): Omit<SafetensorsInspection, 'headerBytes' | 'fileSize'> {
  const dtypes: Record<string, number> = {};
  let tensorCount = 0;
  let tensorBytes = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = checkTensor(name, entry, dataBytes);
    tensorCount++;
    tensorBytes += t.bytes;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  }
  if (!Number.isSafeInteger(tensorBytes))
    throw corrupted('safetensors: the tensors declare more bytes in total than any file can hold');
  return { tensorCount, tensorBytes, dtypes, staticMemoryEstimateBytes: tensorBytes };
}

function checkTensor(name: string, entry: unknown, dataBytes: number): { dtype: string; bytes: number } {
  const bad = (why: string) => corrupted(`safetensors: tensor "${name}" ${why}`, { tensor: name });
  if (typeof entry !== 'object' || entry === null) throw bad('is not an object');
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || DTYPE_BITS[dtype] === undefined) {
    throw bad(`has dtype ${JSON.stringify(dtype)}, which the format does not define`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad('has a shape that is not a list of non-negative integers');
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw bad('has data_offsets that are not [begin, end] with 0 ≤ begin ≤ end');
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataBytes) {
    throw bad(
      `occupies bytes ${begin}-${end} of the data, but the file holds only ${dataBytes}: the file is truncated`,
    );
  }
  const elements = (shape as number[]).reduce((a, d) => a * d, 1);
  const bytes = Math.ceil((elements * (DTYPE_BITS[dtype] as number)) / 8);
  if (bytes !== end - begin) {
    throw bad(
      `has ${end - begin} bytes of data, but its shape [${shape.join(', ')}] of ${dtype} needs ${bytes}`,
    );
  }
  return { dtype, bytes };
}
