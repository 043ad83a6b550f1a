import { LoadFailure } from './load-failure.js';
import type { OnnxInspection } from './onnx-inspect.js';

/**
 * What the installed runtime can load, so that a model it cannot is refused as UNSUPPORTED_MODEL by name
 * before a child is spent on it. The figures were measured by loading generated models in
 * onnxruntime-node 1.30.0 (test/unit/validator-compat.test.ts loads the boundary models again, so an
 * upgrade that moves a limit fails that test rather than silently mis-judging models).
 */
export interface RuntimeLimits {
  runtime: string;
  /** The runtime version the figures hold for: other versions skip the pre-check (the load still judges). */
  version: string;
  maxIrVersion: number;
  /**
   * Largest ModelProto protobuf can parse (INT_MAX): past it the runtime says only "Protobuf parsing
   * failed", which would read as corruption. Bigger models must keep their weights in external data.
   */
  maxProtobufBytes: number;
  /** Highest opset per domain the runtime has kernels for; '' is ai.onnx. */
  maxOpset: Record<string, number>;
}

export const ONNXRUNTIME_NODE_1_30: RuntimeLimits = {
  runtime: 'onnxruntime-node',
  version: '1.30.0',
  maxIrVersion: 13,
  // Measured: a 2 GiB + 4 KiB model fails with "Protobuf parsing failed" before allocating anything.
  maxProtobufBytes: 2 ** 31 - 1,
  maxOpset: {
    '': 26,
    'ai.onnx.ml': 5,
    'com.microsoft': 1,
    'com.microsoft.nchwc': 1,
    'com.microsoft.experimental': 1,
    'ai.onnx.preview.training': 1,
    'ai.onnx.training': 1,
    'org.pytorch.aten': 1,
  },
};

const normalizeDomain = (domain: string) => (domain === 'ai.onnx' ? '' : domain);
const domainName = (domain: string) => domain || 'ai.onnx';

/** Returns why the runtime cannot load the model, or undefined when nothing in its header rules it out. */
export function checkCompatibility(
  inspection: Pick<OnnxInspection, 'irVersion' | 'opsetImports' | 'operators' | 'functions' | 'fileSize'>,
  limits: RuntimeLimits = ONNXRUNTIME_NODE_1_30,
): LoadFailure | undefined {
  const runtime = `${limits.runtime} ${limits.version}`;
  if (inspection.fileSize > limits.maxProtobufBytes) {
    return new LoadFailure(
      'UNSUPPORTED_MODEL',
      `the model file is ${inspection.fileSize} bytes, over the 2 GiB protobuf limit: keep the weights in external data`,
      { fileSize: inspection.fileSize, maxProtobufBytes: limits.maxProtobufBytes },
    );
  }
  if (inspection.irVersion > limits.maxIrVersion) {
    return new LoadFailure(
      'UNSUPPORTED_MODEL',
      `IR version ${inspection.irVersion} is newer than ${runtime} supports (at most ${limits.maxIrVersion})`,
      { irVersion: inspection.irVersion, maxIrVersion: limits.maxIrVersion },
    );
  }
  for (const opset of inspection.opsetImports) {
    const max = limits.maxOpset[normalizeDomain(opset.domain)];
    if (max !== undefined && opset.version > max) {
      return new LoadFailure(
        'UNSUPPORTED_MODEL',
        `${domainName(opset.domain)} opset ${opset.version} is newer than ${runtime} supports (at most ${max})`,
        { domain: domainName(opset.domain), opset: opset.version, maxOpset: max },
      );
    }
  }
  return customOperatorFailure(inspection, limits, runtime);
}

/** An operator of a domain the runtime has no kernels for, unless the model defines it as a local function. */
function customOperatorFailure(
  inspection: Pick<OnnxInspection, 'operators' | 'functions'>,
  limits: RuntimeLimits,
  runtime: string,
): LoadFailure | undefined {
  const local = new Set(inspection.functions.map((f) => `${f.domain}\u0000${f.name}`));
  for (const op of inspection.operators) {
    const domain = normalizeDomain(op.domain);
    if (domain in limits.maxOpset || local.has(`${op.domain}\u0000${op.opType}`)) continue;
    return new LoadFailure(
      'UNSUPPORTED_MODEL',
      `operator ${op.opType} of custom domain ${domain} has no kernel in ${runtime} (custom-op libraries are not loaded)`,
      { domain, opType: op.opType },
    );
  }
  return undefined;
}

/** The pre-check applies only to the runtime version its figures were measured on. */
export function limitsFor(runtimeVersion: string | undefined): RuntimeLimits | undefined {
  return runtimeVersion === ONNXRUNTIME_NODE_1_30.version ? ONNXRUNTIME_NODE_1_30 : undefined;
}

/**
 * Inputs and outputs must declare element types ONNX defines (onnx.proto TensorProto.DataType, 1-26 in
 * onnx 1.20): an undefined type such as 999 is an invalid graph (re-exporting fixes it; re-downloading the
 * same bytes cannot), not corruption. The inspector names such a type `onnx-type-N`.
 */
export function checkElementTypes(
  inspection: Pick<OnnxInspection, 'inputs' | 'outputs'>,
): LoadFailure | undefined {
  for (const [kind, list] of [
    ['input', inspection.inputs],
    ['output', inspection.outputs],
  ] as const) {
    for (const t of list) {
      const unknown = /^onnx-type-(\d+)$/.exec(t.type);
      if (!unknown) continue;
      return new LoadFailure(
        'MODEL_INVALID',
        `${kind} "${t.name}" declares element type ${unknown[1]}, which ONNX does not define: the graph is invalid; re-export the model`,
        { [kind]: t.name, elementType: Number(unknown[1]) },
      );
    }
  }
  return undefined;
}
