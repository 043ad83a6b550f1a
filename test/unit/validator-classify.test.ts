import { describe, expect, it } from 'vitest';
import { classifyChildExit, classifyRuntimeError } from '../../gpu-validator/classify.js';

/** Messages recorded from onnxruntime-node 1.30.0 and Node 20 failing on the fixtures. */
const RECORDED = {
  protobuf: 'Load model from /tmp/mg/trunc.onnx failed:Protobuf parsing failed.',
  noGraph:
    'Load model from /tmp/x.onnx failed:/onnxruntime_src/onnxruntime/core/graph/model.cc:187 onnxruntime::Model::Model(...) ModelProto does not have a graph.',
  noOp: 'Load model from /tmp/u.onnx failed:This is an invalid model. In Node, ("", NoSuchOp, "", -1) : ("input": tensor(float),) -> ("output": tensor(float),) , Error No Op registered for NoSuchOp with domain_version of 17',
  customOp:
    'Load model from /tmp/c.onnx failed:Fatal error: com.example:FancyOp(-1) is not a registered function/op',
  opset:
    'ONNX Runtime only *guarantees* support for models stamped with official released onnx opset versions. Opset 99 is under development ... Current official support for domain ai.onnx is till opset 26.',
  irVersion:
    'model.cc:202 onnxruntime::Model::Model(...) Unsupported model IR version: 99, max supported IR version: 13',
  oldKernel: "Could not find an implementation for Add(6) node with name ''",
  missing: "Load model from /tmp/m.onnx failed:Load model /tmp/m.onnx failed. File doesn't exist",
  externalMissing:
    'External data path validation failed for initializer: w. Error: tensorprotoutils.cc:461 ValidateExternalDataPathFromDir External data path does not exist: "/tmp/ext/weights.bin"',
  externalShort:
    'Deserialize tensor w failed.tensorprotoutils.cc:1763 GetExtDataFromTensorProto External initializer: w offset: 0 size to read: 1024 given file_length: 100 are out of bounds or can not be read in full.',
  cuda: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
  unknownBackend: 'no available backend found. ERR: [nosuch] backend not found.',
  badAlloc: 'std::bad_alloc',
  dims: 'Got invalid dimensions for input: input for the following indices\n index: 1 Got: 3 Expected: 8',
  eacces: "EACCES: permission denied, open '/models/m.onnx'",
  noRuntime: "Cannot find package 'onnxruntime-node' imported from /app/gpu-validator/load-child.js",
};

const load = { stage: 'load' as const, requestedProviders: ['cpu'] };

describe('classifyRuntimeError', () => {
  it.each([
    ['protobuf', 'MODEL_CORRUPTED'],
    ['noGraph', 'MODEL_CORRUPTED'],
    ['noOp', 'UNSUPPORTED_MODEL'],
    ['customOp', 'UNSUPPORTED_MODEL'],
    ['opset', 'UNSUPPORTED_MODEL'],
    ['irVersion', 'UNSUPPORTED_MODEL'],
    ['oldKernel', 'UNSUPPORTED_MODEL'],
    ['missing', 'FILE_MISSING'],
    ['externalMissing', 'FILE_MISSING'],
    ['externalShort', 'MODEL_CORRUPTED'],
    ['unknownBackend', 'DEPENDENCY_MISSING'],
    ['badAlloc', 'INSUFFICIENT_MEMORY'],
    ['dims', 'CONFIG_INVALID'],
    ['eacces', 'PERMISSION_DENIED'],
    ['noRuntime', 'DEPENDENCY_MISSING'],
  ] as const)('%s → %s', (key, code) => {
    expect(classifyRuntimeError(RECORDED[key], load)).toBe(code);
  });

  it('says GPU_UNAVAILABLE for a provider failure when cuda was required, DEPENDENCY_MISSING otherwise', () => {
    expect(classifyRuntimeError(RECORDED.cuda, { stage: 'load', requestedProviders: ['cuda'] })).toBe(
      'GPU_UNAVAILABLE',
    );
    expect(classifyRuntimeError(RECORDED.cuda, { stage: 'load', requestedProviders: ['webgpu'] })).toBe(
      'DEPENDENCY_MISSING',
    );
  });

  it('falls back by stage when the message names nothing known', () => {
    expect(classifyRuntimeError('weird', { stage: 'import', requestedProviders: [] })).toBe(
      'DEPENDENCY_MISSING',
    );
    expect(classifyRuntimeError('weird', { stage: 'load', requestedProviders: [] })).toBe('MODEL_CORRUPTED');
    expect(classifyRuntimeError('weird', { stage: 'run', requestedProviders: [] })).toBe('INFERENCE_FAILED');
  });
});

describe('classifyChildExit', () => {
  const base = { requestedProviders: ['cpu'], exitCode: null, stderrTail: '' };

  it('takes a SIGKILL nobody of ours sent for the kernel OOM killer', () => {
    const verdict = classifyChildExit({ ...base, stage: 'load', signal: 'SIGKILL' });
    expect(verdict.code).toBe('INSUFFICIENT_MEMORY');
    expect(verdict.message).toContain('SIGKILL');
  });

  it('reads an abort message from stderr, and names the signal', () => {
    const verdict = classifyChildExit({
      ...base,
      stage: 'load',
      signal: 'SIGABRT',
      stderrTail:
        "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\n",
    });
    expect(verdict).toMatchObject({ code: 'INSUFFICIENT_MEMORY' });
    expect(verdict.message).toContain('SIGABRT');
  });

  it('classifies a segfault by the stage it happened in', () => {
    expect(classifyChildExit({ ...base, stage: 'run', signal: 'SIGSEGV' }).code).toBe('INFERENCE_FAILED');
    expect(classifyChildExit({ ...base, stage: 'load', signal: 'SIGSEGV' }).code).toBe('MODEL_CORRUPTED');
    const atImport = classifyChildExit({ ...base, stage: 'import', signal: null, exitCode: 1 });
    expect(atImport.code).toBe('DEPENDENCY_MISSING');
    expect(atImport.message).toContain('exited with code 1');
  });
});
