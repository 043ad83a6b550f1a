import { closeSync, fstatSync, openSync } from 'node:fs';
import {
  MAX_LOCATION_CHARS,
  MAX_NAME_CHARS,
  MAX_UTF8_BYTES_PER_CHAR,
  truncateText,
} from '../schemas/bounded-text.js';
import type { TensorInfo } from '../schemas/report.schema.js';
import { corrupted, LoadFailure } from './load-failure.js';
import { dataTypeBytes, dataTypeName } from './onnx-types.js';
import { WireReader, WireType } from './wire-reader.js';

/**
 * Reads an ONNX file's structure without loading it (DESIGN.md Validation step 2): IR version, opsets,
 * producer, graph inputs/outputs, operators, initializer sizes and external-data references. Weights are
 * skipped by seeking, so the bytes read are proportional to the graph, not to the model. What it returns
 * is bounded whatever the file holds: lists of at most MAX_LIST entries, names of at most MAX_NAME_CHARS
 * characters and external-data entries of at most MAX_LOCATION_CHARS (schemas/bounded-text.ts), longer
 * ones cut with a marker giving their length.
 */

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface OperatorCount {
  domain: string;
  opType: string;
  count: number;
}

export interface ExternalDataRef {
  tensor: string;
  location: string;
  offset?: number;
  length?: number;
}

export interface OnnxInspection {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  operators: OperatorCount[];
  /** Model-local functions (domain, name): nodes calling them need no runtime kernel. */
  functions: { domain: string; name: string }[];
  initializerCount: number;
  /** In-memory size of all initializers and constant attributes (elements × element size). */
  initializerBytes: number;
  externalData: ExternalDataRef[];
  bytesRead: number;
  fileSize: number;
  /**
   * A static guess at what loading adds to the runtime's baseline: the protobuf the runtime parses plus the
   * tensors it builds from it. Only a guess (kernels may pre-pack weights; sessions have fixed costs): the
   * measured peak of the isolated load is the figure that decides.
   */
  staticMemoryEstimateBytes: number;
  /** True when a list hit its cap (a hostile or degenerate file) and was cut. */
  truncatedLists: boolean;
}

export interface InspectOptions {
  bufferSize?: number;
}

/** Caps that keep the inspector's own memory bounded whatever the file claims. */
const MAX_LIST = 10_000;
const MAX_DEPTH = 32;

interface TensorRecord {
  name: string;
  dims: number[];
  dataType: number;
  storedBytes: number;
  external: boolean;
  externalEntries: Map<string, string>;
}

interface ValueInfoRecord {
  name: string;
  info: Omit<TensorInfo, 'name'>;
}

class InspectState {
  irVersion = 0;
  producerName = '';
  producerVersion = '';
  graphCount = 0;
  opsets: OpsetImport[] = [];
  inputs: ValueInfoRecord[] = [];
  outputs: ValueInfoRecord[] = [];
  initializerNames = new Set<string>();
  operators = new Map<string, OperatorCount>();
  functions: { domain: string; name: string }[] = [];
  initializerCount = 0;
  initializerBytes = 0;
  externalData: ExternalDataRef[] = [];
  truncatedLists = false;

  push<T>(list: T[], item: T): void {
    if (list.length < MAX_LIST) list.push(item);
    else this.truncatedLists = true;
  }
}

/**
 * A string field (a name), at most MAX_NAME_CHARS characters: longer ones keep their start and a marker
 * with their length in bytes (schemas/bounded-text.ts). onnx.proto sets no limit and the runtime loads a
 * model whose input name is megabytes long; the inspection keeps the start only, so that a list of
 * MAX_LIST names stays small whatever the file holds. Names are compared (initializers against inputs,
 * operators against local functions, a publisher's `--input-shape` names, which are at most 256
 * characters) after the same cut on both sides, and the smoke run feeds inputs by the runtime's own names.
 */
function readName(r: WireReader, end: number): string {
  return readText(r, end, MAX_NAME_CHARS);
}

/**
 * A string field of at most `maxChars` characters, cut with the registry's marker when longer. Enough
 * bytes are read to tell (a character is at most 3 bytes); the rest is skipped unread.
 */
function readText(r: WireReader, end: number, maxChars: number): string {
  const { text, whole, bytes } = r.readStringHead(end, maxChars * MAX_UTF8_BYTES_PER_CHAR);
  return whole ? truncateText(text, maxChars) : truncateText(text, maxChars, bytes);
}

export function inspectOnnx(path: string, options: InspectOptions = {}): OnnxInspection {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw openFailure(path, error as NodeJS.ErrnoException);
  }
  try {
    const fileSize = fstatSync(fd).size;
    const reader = new WireReader(fd, fileSize, options.bufferSize);
    const state = new InspectState();
    parseModel(reader, state, fileSize);
    if (state.graphCount === 0) throw corrupted('not an ONNX model: the file has no graph');
    return summarize(state, reader);
  } catch (error) {
    if (error instanceof LoadFailure) throw error;
    throw corrupted(`cannot parse ONNX protobuf: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

function openFailure(path: string, error: NodeJS.ErrnoException): LoadFailure {
  if (error.code === 'ENOENT') return new LoadFailure('FILE_MISSING', `${path} does not exist`);
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new LoadFailure('PERMISSION_DENIED', `${path} is not readable: ${error.code}`);
  }
  return new LoadFailure('FILE_MISSING', `${path} cannot be opened: ${error.message}`);
}

function summarize(state: InspectState, reader: WireReader): OnnxInspection {
  const toInfo = (v: ValueInfoRecord): TensorInfo => ({ name: v.name, ...v.info });
  const inlineBytes = reader.fileSize;
  if (!Number.isSafeInteger(inlineBytes + state.initializerBytes))
    throw corrupted('the initializers declare more bytes in total than any file can hold');
  return {
    irVersion: state.irVersion,
    opsetImports: state.opsets,
    producerName: state.producerName,
    producerVersion: state.producerVersion,
    // Before IR 4 initializers were also listed as graph inputs: they are not inputs to feed.
    inputs: state.inputs.filter((v) => !state.initializerNames.has(v.name)).map(toInfo),
    outputs: state.outputs.map(toInfo),
    operators: [...state.operators.values()],
    functions: state.functions,
    initializerCount: state.initializerCount,
    initializerBytes: state.initializerBytes,
    externalData: state.externalData,
    bytesRead: reader.bytesRead,
    fileSize: reader.fileSize,
    staticMemoryEstimateBytes: Math.round(inlineBytes + state.initializerBytes),
    truncatedLists: state.truncatedLists,
  };
}

// ---- ModelProto ---------------------------------------------------------------------------------------

function parseModel(r: WireReader, s: InspectState, end: number): void {
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.VARINT) s.irVersion = r.readVarint();
    else if (field === 2 && wire === WireType.LEN) s.producerName = readName(r, end);
    else if (field === 3 && wire === WireType.LEN) s.producerVersion = readName(r, end);
    else if (field === 7 && wire === WireType.LEN) {
      s.graphCount++;
      parseGraph(r, s, r.readLengthEnd(end), 0);
    } else if (field === 8 && wire === WireType.LEN) s.push(s.opsets, parseOpset(r, r.readLengthEnd(end)));
    else if (field === 25 && wire === WireType.LEN)
      s.push(s.functions, parseFunction(r, s, r.readLengthEnd(end)));
    else r.skipField(wire, end);
  });
}

function parseOpset(r: WireReader, end: number): OpsetImport {
  const opset: OpsetImport = { domain: '', version: 0 };
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) opset.domain = readName(r, end);
    else if (field === 2 && wire === WireType.VARINT) opset.version = r.readVarint();
    else r.skipField(wire, end);
  });
  return opset;
}

/** FunctionProto: name = 1, node = 7, domain = 10. */
function parseFunction(r: WireReader, s: InspectState, end: number): { domain: string; name: string } {
  const fn = { domain: '', name: '' };
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) fn.name = readName(r, end);
    else if (field === 10 && wire === WireType.LEN) fn.domain = readName(r, end);
    else if (field === 7 && wire === WireType.LEN) parseNode(r, s, r.readLengthEnd(end), 1);
    else r.skipField(wire, end);
  });
  return fn;
}

// ---- GraphProto and NodeProto -------------------------------------------------------------------------

/** Depth 0 is the main graph; deeper graphs (If/Loop bodies) contribute operators and weights only. */
function parseGraph(r: WireReader, s: InspectState, end: number, depth: number): void {
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) parseNode(r, s, r.readLengthEnd(end), depth);
    else if (field === 5 && wire === WireType.LEN) addInitializer(s, parseTensor(r, r.readLengthEnd(end)));
    else if (field === 15 && wire === WireType.LEN) {
      // Sparse initializers: counted by their stored size, which is what the runtime materializes first.
      s.initializerCount++;
      s.initializerBytes += r.skipField(wire, end);
    } else if (depth === 0 && (field === 11 || field === 12) && wire === WireType.LEN) {
      const info = parseValueInfo(r, r.readLengthEnd(end));
      s.push(field === 11 ? s.inputs : s.outputs, info);
    } else r.skipField(wire, end);
  });
}

function addInitializer(s: InspectState, t: TensorRecord): void {
  s.initializerCount++;
  s.initializerBytes += tensorBytes(t);
  if (s.initializerNames.size < MAX_LIST) s.initializerNames.add(t.name);
  if (t.external) s.push(s.externalData, externalRef(t));
}

function externalRef(t: TensorRecord): ExternalDataRef {
  const ref: ExternalDataRef = { tensor: t.name, location: t.externalEntries.get('location') ?? '' };
  const offset = Number(t.externalEntries.get('offset'));
  const length = Number(t.externalEntries.get('length'));
  if (t.externalEntries.has('offset') && Number.isSafeInteger(offset)) ref.offset = offset;
  if (t.externalEntries.has('length') && Number.isSafeInteger(length)) ref.length = length;
  return ref;
}

/** Elements × element size when the shape and type say so; else what the file stores. */
function tensorBytes(t: TensorRecord): number {
  const perElement = dataTypeBytes(t.dataType);
  if (perElement === 0 || t.dims.some((d) => d < 0)) return t.storedBytes;
  const bytes = Math.ceil(t.dims.reduce((a, d) => a * d, 1) * perElement);
  // No file, however large, holds 2^53 bytes: such dims are damage, and would make every total meaningless.
  if (!Number.isSafeInteger(bytes)) {
    throw corrupted(
      `tensor "${t.name}" declares dims [${t.dims.join(', ')}], more bytes than any file can hold`,
      {
        tensor: t.name,
      },
    );
  }
  return bytes;
}

function parseNode(r: WireReader, s: InspectState, end: number, depth: number): void {
  let opType = '';
  let domain = '';
  r.forEachField(end, (field, wire) => {
    if (field === 4 && wire === WireType.LEN) opType = readName(r, end);
    else if (field === 7 && wire === WireType.LEN) domain = readName(r, end);
    else if (field === 5 && wire === WireType.LEN) parseAttribute(r, s, r.readLengthEnd(end), depth);
    else r.skipField(wire, end);
  });
  // 'ai.onnx' and '' are the same domain (onnx.proto): count them under one name.
  const normalized = domain === 'ai.onnx' ? '' : domain;
  const key = `${normalized}\u0000${opType}`;
  const existing = s.operators.get(key);
  if (existing) existing.count++;
  else if (s.operators.size < MAX_LIST) s.operators.set(key, { domain: normalized, opType, count: 1 });
  else s.truncatedLists = true;
}

/** AttributeProto: t = 5, g = 6, tensors = 10, graphs = 11. Constants count as weights. */
function parseAttribute(r: WireReader, s: InspectState, end: number, depth: number): void {
  r.forEachField(end, (field, wire) => {
    if ((field === 5 || field === 10) && wire === WireType.LEN) {
      s.initializerBytes += tensorBytes(parseTensor(r, r.readLengthEnd(end)));
    } else if ((field === 6 || field === 11) && wire === WireType.LEN && depth < MAX_DEPTH) {
      parseGraph(r, s, r.readLengthEnd(end), depth + 1);
    } else r.skipField(wire, end);
  });
}

// ---- TensorProto --------------------------------------------------------------------------------------

/** Typed data fields: float 4, int32 5, string 6, int64 7, raw 9, double 10, uint64 11. */
const DATA_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11]);

function parseTensor(r: WireReader, end: number): TensorRecord {
  const t: TensorRecord = {
    name: '',
    dims: [],
    dataType: 0,
    storedBytes: 0,
    external: false,
    externalEntries: new Map(),
  };
  r.forEachField(end, (field, wire) => {
    if (field === 1) readInts(r, wire, end, t.dims);
    else if (field === 2 && wire === WireType.VARINT) t.dataType = r.readVarint();
    else if (field === 8 && wire === WireType.LEN) t.name = readName(r, end);
    else if (field === 13 && wire === WireType.LEN) parseEntry(r, r.readLengthEnd(end), t.externalEntries);
    else if (field === 14 && wire === WireType.VARINT) t.external = r.readVarint() === 1;
    else if (DATA_FIELDS.has(field)) t.storedBytes += r.skipField(wire, end);
    else r.skipField(wire, end);
  });
  return t;
}

/** A repeated int64, packed (LEN) or not (one VARINT per element): parsers must accept both. */
function readInts(r: WireReader, wire: number, end: number, into: number[]): void {
  if (wire === WireType.VARINT) {
    const value = r.readVarint();
    if (into.length < MAX_LIST) into.push(value);
    return;
  }
  if (wire !== WireType.LEN) {
    r.skipField(wire, end);
    return;
  }
  const packedEnd = r.readLengthEnd(end);
  while (r.offset < packedEnd) {
    const value = r.readVarint();
    if (into.length < MAX_LIST) into.push(value);
  }
  if (r.offset !== packedEnd) throw corrupted('packed integers run past their field');
}

function parseEntry(r: WireReader, end: number, into: Map<string, string>): void {
  let key = '';
  let value = '';
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) key = readText(r, end, MAX_LOCATION_CHARS);
    else if (field === 2 && wire === WireType.LEN) value = readText(r, end, MAX_LOCATION_CHARS);
    else r.skipField(wire, end);
  });
  if (into.size < 64) into.set(key, value);
}

// ---- ValueInfoProto and TypeProto ---------------------------------------------------------------------

function parseValueInfo(r: WireReader, end: number): ValueInfoRecord {
  const record: ValueInfoRecord = { name: '', info: { type: 'unknown', shape: [] } };
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) record.name = readName(r, end);
    else if (field === 2 && wire === WireType.LEN) record.info = parseType(r, r.readLengthEnd(end));
    else r.skipField(wire, end);
  });
  return record;
}

/** TypeProto: tensor_type = 1, sequence_type = 4, map_type = 5, sparse_tensor_type = 8, optional_type = 9. */
const NON_TENSOR_TYPES: Record<number, string> = { 4: 'sequence', 5: 'map', 9: 'optional' };

function parseType(r: WireReader, end: number): Omit<TensorInfo, 'name'> {
  let info: Omit<TensorInfo, 'name'> = { type: 'unknown', shape: [] };
  r.forEachField(end, (field, wire) => {
    if ((field === 1 || field === 8) && wire === WireType.LEN) {
      info = parseTensorType(r, r.readLengthEnd(end));
      if (field === 8) info.type = `sparse-${info.type}`;
    } else if (NON_TENSOR_TYPES[field] && wire === WireType.LEN) {
      r.skipField(wire, end);
      info = { type: NON_TENSOR_TYPES[field], shape: [] };
    } else r.skipField(wire, end);
  });
  return info;
}

function parseTensorType(r: WireReader, end: number): Omit<TensorInfo, 'name'> {
  const info: Omit<TensorInfo, 'name'> = { type: 'unknown', shape: [] };
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.VARINT) info.type = dataTypeName(r.readVarint());
    else if (field === 2 && wire === WireType.LEN) info.shape = parseShape(r, r.readLengthEnd(end));
    else r.skipField(wire, end);
  });
  return info;
}

function parseShape(r: WireReader, end: number): (number | string)[] {
  const dims: (number | string)[] = [];
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) {
      const dim = parseDim(r, r.readLengthEnd(end));
      if (dims.length < MAX_LIST) dims.push(dim);
    } else r.skipField(wire, end);
  });
  return dims;
}

/**
 * A TensorShapeProto.Dimension: a fixed size, a symbolic name, or neither (unknown), kept as '?' so the
 * rank stays right. Every length is checked against `end`, the dimension's own message.
 */
export function parseDim(r: WireReader, end: number): number | string {
  let dim: number | string = '?';
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.VARINT) dim = r.readVarint();
    else if (field === 2 && wire === WireType.LEN) dim = readName(r, end);
    else r.skipField(wire, end);
  });
  return dim;
}
