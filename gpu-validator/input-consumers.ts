import { closeSync, fstatSync, openSync } from 'node:fs';
import { readTypeProto, type ValueType } from './value-types.js';
import { WireReader, WireType } from './wire-reader.js';

/**
 * How a model's graph inputs are typed and consumed, so the smoke run can feed values the consuming
 * operators accept (synthesize-inputs.ts): the shape input of a Reshape wants `[1, …, -1]`, a Slice's
 * steps must not be 0, a Gather's indices must exist in a dimension of 1. Read from the ONNX protobuf
 * (onnx.proto field numbers) with the same bounded, seeking reader as the inspector (onnx-inspect.ts);
 * subgraphs (If/Loop/Scan bodies) are read too, since their nodes may consume outer-scope inputs.
 *
 * Two passes: the graph inputs (field 11) are serialized after the nodes (field 1), so the first pass
 * learns the input names and the second records only their consumers: memory stays bounded by the
 * number of inputs, not of edges.
 */

/** The kind of value an input takes (TypeProto's oneof): onnxruntime-node can feed tensors only. */
export type InputKind = 'tensor' | 'optional' | 'sequence' | 'map' | 'sparse' | 'unknown';

/** One operator input slot consuming a graph input: `Reshape` input 1 is its target shape. */
export interface InputUse {
  opType: string;
  index: number;
}

export interface InputPlan {
  name: string;
  kind: InputKind;
  /** The element type (onnxruntime-node's names); for `optional(tensor(T))` the T inside. */
  elemType: string;
  /** Declared dims of a tensor or optional tensor (a name or '?' for dynamic ones); [] when none given. */
  shape: (number | string)[];
  /** Operator slots consuming this input (at most MAX_USES, first ones in graph order). */
  uses: InputUse[];
}

const MAX_INPUTS = 1_000;
const MAX_USES = 16;
const MAX_DEPTH = 16;

interface Pass {
  /** Pass 1: input records (by name) and initializer names; pass 2: the consumers of `wanted` names. */
  inputs: Map<string, InputPlan>;
  initializers: Set<string>;
  wanted?: Set<string>;
}

/**
 * The plans of a model's graph inputs (initializers listed as inputs before IR 4 excluded).
 * Throws (a LoadFailure from the reader) on a file it cannot parse; callers treat plans as hints.
 */
export function analyzeInputs(path: string): InputPlan[] {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const first: Pass = { inputs: new Map(), initializers: new Set() };
    parseModel(new WireReader(fd, size), first, size);
    for (const name of first.initializers) first.inputs.delete(name);
    const second: Pass = { ...first, wanted: new Set(first.inputs.keys()) };
    if (second.wanted && second.wanted.size > 0) parseModel(new WireReader(fd, size), second, size);
    return [...first.inputs.values()];
  } finally {
    closeSync(fd);
  }
}

function parseModel(r: WireReader, p: Pass, end: number): void {
  r.forEachField(end, (field, wire) => {
    if (field === 7 && wire === WireType.LEN) parseGraph(r, p, r.readLengthEnd(end), 0);
    else r.skipField(wire, end);
  });
}

function parseGraph(r: WireReader, p: Pass, end: number, depth: number): void {
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN && p.wanted) parseNode(r, p, r.readLengthEnd(end), depth);
    else if (field === 11 && wire === WireType.LEN && depth === 0 && !p.wanted) {
      const plan = parseValueInfo(r, r.readLengthEnd(end));
      if (plan.name && p.inputs.size < MAX_INPUTS) p.inputs.set(plan.name, plan);
    } else if (field === 5 && wire === WireType.LEN && depth === 0 && !p.wanted) {
      const name = tensorName(r, r.readLengthEnd(end));
      if (name && p.initializers.size < MAX_INPUTS * 10) p.initializers.add(name);
    } else r.skipField(wire, end);
  });
}

/** NodeProto: input = 1, op_type = 4, attribute = 5 (subgraphs in g = 6 and graphs = 11). */
function parseNode(r: WireReader, p: Pass, end: number, depth: number): void {
  const inputs: string[] = [];
  let opType = '';
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) inputs.push(r.readString(r.readVarint()));
    else if (field === 4 && wire === WireType.LEN) opType = r.readString(r.readVarint());
    else if (field === 5 && wire === WireType.LEN && depth < MAX_DEPTH)
      parseAttribute(r, p, r.readLengthEnd(end), depth);
    else r.skipField(wire, end);
  });
  inputs.forEach((name, index) => {
    const plan = p.wanted?.has(name) ? p.inputs.get(name) : undefined;
    if (plan && plan.uses.length < MAX_USES) plan.uses.push({ opType, index });
  });
}

function parseAttribute(r: WireReader, p: Pass, end: number, depth: number): void {
  r.forEachField(end, (field, wire) => {
    if ((field === 6 || field === 11) && wire === WireType.LEN)
      parseGraph(r, p, r.readLengthEnd(end), depth + 1);
    else r.skipField(wire, end);
  });
}

function tensorName(r: WireReader, end: number): string {
  let name = '';
  r.forEachField(end, (field, wire) => {
    if (field === 8 && wire === WireType.LEN) name = r.readString(r.readVarint());
    else r.skipField(wire, end);
  });
  return name;
}

function parseValueInfo(r: WireReader, end: number): InputPlan {
  const plan: InputPlan = { name: '', ...UNKNOWN_TYPE, shape: [], uses: [] };
  r.forEachField(end, (field, wire) => {
    if (field === 1 && wire === WireType.LEN) plan.name = r.readString(r.readVarint());
    else if (field === 2 && wire === WireType.LEN)
      Object.assign(plan, factsOf(readTypeProto(r, r.readLengthEnd(end))));
    else r.skipField(wire, end);
  });
  return plan;
}

type TypeFacts = Pick<InputPlan, 'kind' | 'elemType' | 'shape'>;
const UNKNOWN_TYPE: TypeFacts = { kind: 'unknown', elemType: 'unknown', shape: [] };

/** The declared type (value-types.ts) as a hint: an optional tensor is fed as a plain tensor of its T. */
function factsOf(type: ValueType): TypeFacts {
  if (type.kind === 'tensor' || type.kind === 'sparse')
    return { kind: type.kind, elemType: type.elemType, shape: type.shape ?? [] };
  if (type.kind === 'optional') {
    const element = factsOf(type.elem);
    return { ...element, kind: element.kind === 'tensor' ? 'optional' : element.kind };
  }
  if (type.kind === 'unknown') return UNKNOWN_TYPE;
  return { ...UNKNOWN_TYPE, kind: type.kind };
}

/**
 * The plans by input name, as hints for the smoke run; a graph this reader cannot parse gets none (the
 * inspector has already judged the file, and the runtime's load decides).
 */
export function inputHintsOf(path: string): Record<string, Omit<InputPlan, 'name'>> | undefined {
  try {
    return Object.fromEntries(analyzeInputs(path).map(({ name, ...hint }) => [name, hint]));
  } catch {
    return undefined;
  }
}
