import { createRequire } from 'node:module';
import type { InferenceSession } from 'onnxruntime-node';
import type { TensorInfo } from '../schemas/report.schema.js';
import { dataTypeName, RUNTIME_ELEMENT_TYPES } from './onnx-types.js';
import type { DeclaredTypes } from './value-types.js';

/**
 * A session for a model whose graph inputs or outputs have an element type that onnxruntime-node's
 * `InferenceSession` cannot describe (bfloat16, float8, complex: its backend maps only the types of its
 * `Tensor`). `InferenceSession.create` then throws "Unsupported data type: 16" *after* the runtime has
 * created the session, a message that reads like a missing kernel. Creating the session through the
 * package's native binding (what `create` calls first) tells the two apart: the runtime refuses the graph
 * in its own words, or loads it and only the Node binding stands in the way. Only node stdlib and the
 * runtime: this runs in the loader child.
 */
/**
 * The element types onnxruntime-node 1.30's backend names (its `dataTypeStrings`): those its Tensor takes
 * and gives back, and the 4-bit ones it can describe but not feed. The rest throw.
 */
const DESCRIBABLE: ReadonlySet<string> = new Set([...RUNTIME_ELEMENT_TYPES, 'uint4', 'int4']);

/** The graph's tensor inputs and outputs whose element type `InferenceSession.create` cannot describe. */
export function undescribableValues(declared: DeclaredTypes): { name: string; elemType: string }[] {
  return [...declared.inputs, ...declared.outputs].flatMap((v) =>
    v.type.kind === 'tensor' && !DESCRIBABLE.has(v.type.elemType)
      ? [{ name: v.name, elemType: v.type.elemType }]
      : [],
  );
}

/** The native binding's description of one input or output (onnxruntime-node's `binding.ts`). */
interface RawValueMetadata {
  name: string;
  isTensor: boolean;
  type: number;
  shape: number[];
  symbolicDimensions: string[];
}

interface NativeSession {
  loadModel(path: string, options: InferenceSession.SessionOptions): void;
  readonly inputMetadata: RawValueMetadata[];
  readonly outputMetadata: RawValueMetadata[];
  dispose(): void;
}

interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

function describe(meta: RawValueMetadata): TensorInfo {
  if (!meta.isTensor) return { name: meta.name, type: 'non-tensor', shape: [] };
  return {
    name: meta.name,
    type: dataTypeName(meta.type),
    shape: meta.shape.map((d, i) => (d >= 0 ? d : meta.symbolicDimensions[i] || '?')),
  };
}

/**
 * Creates the session through onnxruntime-node's native binding; throws what the runtime throws (the
 * same messages `InferenceSession.create` gives for a model the runtime refuses).
 */
export function createNativeSession(
  modelPath: string,
  options: InferenceSession.SessionOptions,
): { inputs: TensorInfo[]; outputs: TensorInfo[]; dispose(): void } {
  const native = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as NativeBinding;
  native.initOrt();
  const session = new native.binding.InferenceSession();
  session.loadModel(modelPath, options);
  return {
    inputs: session.inputMetadata.map(describe),
    outputs: session.outputMetadata.map(describe),
    dispose: () => session.dispose(),
  };
}
