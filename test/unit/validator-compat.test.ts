import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { checkCompatibility, limitsFor, ONNXRUNTIME_NODE_1_30 } from '../../gpu-validator/compat.js';
import { installedRuntimeVersion } from '../../gpu-validator/engine.js';
import { buildCustomDomainModel, buildMlpModel, type ModelOptions } from '../fixtures/onnx-writer.js';

/** Whether the installed runtime creates a session for a tiny model stamped with these versions. */
async function loads(options: ModelOptions): Promise<boolean> {
  try {
    await ort.InferenceSession.create(buildMlpModel({ layers: 1, dim: 4, ...options }));
    return true;
  } catch {
    return false;
  }
}

const header = (over: Partial<Parameters<typeof checkCompatibility>[0]> = {}) => ({
  irVersion: 8,
  opsetImports: [{ domain: '', version: 17 }],
  operators: [{ domain: '', opType: 'MatMul', count: 1 }],
  functions: [],
  fileSize: 1000,
  ...over,
});

describe('runtime limits, measured', () => {
  it('are those of the installed onnxruntime-node', () => {
    expect(installedRuntimeVersion()).toBe(ONNXRUNTIME_NODE_1_30.version);
    expect(limitsFor(installedRuntimeVersion())).toBe(ONNXRUNTIME_NODE_1_30);
  });

  it('max IR version: the boundary model loads and the next one does not', async () => {
    const max = ONNXRUNTIME_NODE_1_30.maxIrVersion;
    expect(await loads({ irVersion: max })).toBe(true);
    expect(await loads({ irVersion: max + 1 })).toBe(false);
  });

  it.each(Object.entries(ONNXRUNTIME_NODE_1_30.maxOpset))(
    'max opset of domain "%s" is %i',
    async (domain, max) => {
      const stamp = (version: number): ModelOptions =>
        domain === '' ? { opset: version } : { extraOpsets: [{ domain, version }] };
      expect(await loads(stamp(max))).toBe(true);
      expect(await loads(stamp(max + 1))).toBe(false);
    },
  );

  it('a custom domain loads as an opset import but its operators have no kernel', async () => {
    expect(await loads({ extraOpsets: [{ domain: 'com.example', version: 1 }] })).toBe(true);
    await expect(ort.InferenceSession.create(buildCustomDomainModel('com.example'))).rejects.toThrow(
      /FancyOp/,
    );
  });
});

describe('checkCompatibility', () => {
  it('accepts what the runtime supports', () => {
    expect(checkCompatibility(header())).toBeUndefined();
    expect(
      checkCompatibility(header({ irVersion: 13, opsetImports: [{ domain: 'ai.onnx', version: 26 }] })),
    ).toBeUndefined();
  });

  it('names a too-new IR version or opset as UNSUPPORTED_MODEL', () => {
    const ir = checkCompatibility(header({ irVersion: 14 }));
    expect(ir?.code).toBe('UNSUPPORTED_MODEL');
    expect(ir?.message).toContain('IR version 14');
    expect(ir?.message).toContain('at most 13');
    const opset = checkCompatibility(header({ opsetImports: [{ domain: 'ai.onnx.ml', version: 6 }] }));
    expect(opset?.message).toContain('ai.onnx.ml opset 6');
  });

  it('names a model file over the 2 GiB protobuf limit, which the runtime reports only as a parse failure', () => {
    const big = checkCompatibility(header({ fileSize: 2 ** 31 + 4096 }));
    expect(big?.code).toBe('UNSUPPORTED_MODEL');
    expect(big?.message).toContain('external data');
    expect(checkCompatibility(header({ fileSize: 2 ** 31 - 1 }))).toBeUndefined();
  });

  it('names an operator of a custom domain unless the model defines it as a local function', () => {
    const operators = [{ domain: 'com.example', opType: 'FancyOp', count: 2 }];
    const custom = checkCompatibility(header({ operators }));
    expect(custom?.code).toBe('UNSUPPORTED_MODEL');
    expect(custom?.message).toContain('FancyOp');
    expect(custom?.message).toContain('com.example');
    expect(
      checkCompatibility(header({ operators, functions: [{ domain: 'com.example', name: 'FancyOp' }] })),
    ).toBeUndefined();
    expect(
      checkCompatibility(
        header({ operators: [{ domain: 'com.microsoft', opType: 'FusedMatMul', count: 1 }] }),
      ),
    ).toBeUndefined();
  });

  it('is skipped for a runtime version it was not measured on', () => {
    expect(limitsFor('1.31.0')).toBeUndefined();
  });
});
