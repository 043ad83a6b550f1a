import { describe, expect, it } from 'vitest';
import {
  classifyChildExit,
  classifyRuntimeError,
  classifyRuntimeFailure,
} from '../../gpu-validator/classify.js';

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

const load = { stage: 'load' as const, requestedExecutionProviders: ['cpu'] };

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
    expect(
      classifyRuntimeError(RECORDED.cuda, { stage: 'load', requestedExecutionProviders: ['cuda'] }),
    ).toBe('GPU_UNAVAILABLE');
    expect(
      classifyRuntimeError(RECORDED.cuda, { stage: 'load', requestedExecutionProviders: ['webgpu'] }),
    ).toBe('DEPENDENCY_MISSING');
  });

  it('falls back by stage when the message names nothing known', () => {
    expect(classifyRuntimeError('weird', { stage: 'import', requestedExecutionProviders: [] })).toBe(
      'DEPENDENCY_MISSING',
    );
    // The file parsed before it reached the runtime: an unrecognised refusal is never called corruption.
    expect(classifyRuntimeError('weird', { stage: 'load', requestedExecutionProviders: [] })).toBe(
      'MODEL_INVALID',
    );
    expect(classifyRuntimeError('weird', { stage: 'run', requestedExecutionProviders: [] })).toBe(
      'INFERENCE_FAILED',
    );
  });

  it('says in the message when the code is only the fallback', () => {
    const verdict = classifyRuntimeFailure('weird', load);
    expect(verdict.code).toBe('MODEL_INVALID');
    expect(verdict.message).toMatch(
      /^weird \(.*does not recognise; the file parsed, so it is not called corrupt\)$/,
    );
    expect(classifyRuntimeFailure(RECORDED.protobuf, load)).toEqual({
      code: 'MODEL_CORRUPTED',
      message: RECORDED.protobuf,
    });
  });
});

/**
 * Messages of onnxruntime-node 1.30.0 creating sessions for the 68 models of ONNX's conformance suite
 * (Debian libonnx-testdata, ONNX 1.12) that it cannot load, one per kind (paths shortened), and for
 * graphs written by test/fixtures/onnx-writer.ts.
 */
const CONFORMANCE = {
  bfloat16Cast: 'Unsupported data type: 16',
  batchwiseGru:
    'Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/rnn/deep_cpu_gru.h:56 onnxruntime::DeepCpuGruOp::DeepCpuGruOp(const onnxruntime::OpKernelInfo&) layout_ == 0 was false. Batchwise recurrent operations (layout == 1) are not supported. If you need support create a github issue with justification.',
  batchwiseRnn:
    'Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/rnn/rnn.h:48 onnxruntime::RNN<T>::RNN(const onnxruntime::OpKernelInfo&) [with T = float] layout_ == 0 was false. Batchwise recurrent operations (layout == 1) are not supported. If you need support create a github issue with justification.',
  stringNormalizerLocale:
    'Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/text/string_normalizer.cc:235 onnxruntime::StringNormalizer::Locale::Locale(const std::string&)::<lambda()> Failed to construct locale with name:en_US.UTF-8:locale::facet::_S_create_c_locale name not valid:Please, install necessary language-pack-XX and configure locales',
  missingKernelType: "Could not find an implementation for BitShift(11) node with name ''",
  trainingOp:
    'Load model from /usr/share/libonnx-testdata/data/node/test_adam/model.onnx failed:Fatal error: ai.onnx.preview.training:Adam(-1) is not a registered function/op',
  typeError:
    'Load model from /tmp/fp16-type-mismatch/model.onnx failed:Type Error: Type (tensor(float16)) of output arg (r) of node () does not match expected type (tensor(float)).',
  boundToDifferentTypes:
    'Load model from /tmp/mismatch.onnx failed:Type Error: Type parameter (T) of Optype (Add) bound to different types (tensor(float) and tensor(int64) in node ().',
  unknownElementType: 'Load model from /tmp/type999.onnx failed:Invalid tensor data type 999.',
  externalOutside:
    'External data path validation failed for initializer: W. Error: External data path escapes model directory. External data path: "../weights.bin" resolved path: "/v/weights.bin" allowed directory: "/v/det"',
  ortGarbage: 'inference_session.cc:2119 LoadOrtModelWithLoader ORT model verification failed.',
  padModeValue:
    "Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/padbase.h:236 onnxruntime::PadBase::PadBase(const KernelInfoType&) [with KernelInfoType = onnxruntime::OpKernelInfo] Invalid 'mode' attribute value",
  resizeModeValue:
    'Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/upsamplebase.h:370 onnxruntime::UpsampleMode onnxruntime::UpsampleBase::StringToUpsampleMode(const std::string&) mode attribute is bogus. It can only be nearest(default) or linear or cubic.',
  unknownAttribute:
    'Load model from /tmp/attr-rnnDirection.onnx failed:This is an invalid model. In Node, ("", Relu, "", -1) : ("x": tensor(float),) -> ("y": tensor(float),) , Error Unrecognized attribute: direction for operator Relu',
  shapeInference:
    "Load model from /tmp/attr-softmaxAxis.onnx failed:Node () Op (Softmax) [ShapeInferenceError] 'axis' must be in [-4 , 3]. Its actual value is: 9",
};

describe('classifyRuntimeError on the conformance suite and invalid graphs', () => {
  it.each([
    ['bfloat16Cast', 'UNSUPPORTED_MODEL'],
    ['batchwiseGru', 'UNSUPPORTED_MODEL'],
    ['batchwiseRnn', 'UNSUPPORTED_MODEL'],
    ['stringNormalizerLocale', 'DEPENDENCY_MISSING'],
    ['missingKernelType', 'UNSUPPORTED_MODEL'],
    ['trainingOp', 'UNSUPPORTED_MODEL'],
    ['typeError', 'MODEL_INVALID'],
    ['boundToDifferentTypes', 'MODEL_INVALID'],
    ['unknownElementType', 'MODEL_INVALID'],
    ['externalOutside', 'MODEL_INVALID'],
    ['ortGarbage', 'MODEL_CORRUPTED'],
    ['padModeValue', 'UNSUPPORTED_MODEL'],
    ['resizeModeValue', 'UNSUPPORTED_MODEL'],
    ['unknownAttribute', 'MODEL_INVALID'],
    ['shapeInference', 'MODEL_INVALID'],
  ] as const)('%s → %s', (key, code) => {
    expect(classifyRuntimeError(CONFORMANCE[key], load)).toBe(code);
  });

  it('tells an element type ONNX lacks (MODEL_INVALID) from one this runtime lacks (UNSUPPORTED_MODEL)', () => {
    expect(classifyRuntimeError('Unsupported data type: 999', load)).toBe('MODEL_INVALID');
    expect(classifyRuntimeError('Unsupported data type: 16', load)).toBe('UNSUPPORTED_MODEL');
    expect(classifyRuntimeError('Unsupported data type: 0', load)).toBe('MODEL_INVALID');
  });

  it("is not fooled by runtime warnings about old opsets in a crashed child's stderr", () => {
    const stderrTail =
      '[W:onnxruntime:, transpose_optimizer.cc:37 ApplyImpl] Transpose optimizer failed: Unsupported ONNX opset: 6\n';
    const verdict = classifyChildExit({
      requestedExecutionProviders: ['cpu'],
      exitCode: null,
      stage: 'run',
      signal: 'SIGSEGV',
      stderrTail,
    });
    expect(verdict.code).toBe('INFERENCE_FAILED');
  });
});

describe('classifyChildExit', () => {
  const base = { requestedExecutionProviders: ['cpu'], exitCode: null, stderrTail: '' };

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
    const atLoad = classifyChildExit({ ...base, stage: 'load', signal: 'SIGSEGV' });
    expect(atLoad.code).toBe('MODEL_INVALID');
    expect(atLoad.message).toContain('not called corrupt');
    const atImport = classifyChildExit({ ...base, stage: 'import', signal: null, exitCode: 1 });
    expect(atImport.code).toBe('DEPENDENCY_MISSING');
    expect(atImport.message).toContain('exited with code 1');
  });
});
