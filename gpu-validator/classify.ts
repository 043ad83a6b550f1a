import type { LoadErrorCode } from '../schemas/error-codes.schema.js';
import { dataTypeName } from './onnx-types.js';

/** Where in the child a failure happened: importing the runtime, creating the session, or running it. */
export type LoadStage = 'import' | 'load' | 'run';

export interface ClassifyContext {
  stage: LoadStage;
  requestedExecutionProviders: readonly string[];
}

const GPU_EXECUTION_PROVIDERS = new Set(['cuda', 'tensorrt']);

/**
 * Message patterns of onnxruntime (C++ and its Node binding) and Node, in priority order. They were taken
 * from real failures of onnxruntime-node 1.30: the fixtures and the 68 models of ONNX's conformance suite
 * (Debian libonnx-testdata, ONNX 1.12) that the CPU runtime cannot load (test/unit/validator-classify.test.ts
 * keeps the recorded messages). Corruption is claimed only for messages that say the bytes do not parse.
 */
const RULES: { code: LoadErrorCode | 'EXECUTION_PROVIDER'; pattern: RegExp }[] = [
  { code: 'INSUFFICIENT_MEMORY', pattern: /bad_alloc|Failed to allocate memory|out of memory|ENOMEM/i },
  // onnxruntime refuses external data outside the model's folder; the file exists, so it is not missing.
  { code: 'MODEL_INVALID', pattern: /External data path escapes model directory/i },
  {
    code: 'FILE_MISSING',
    pattern: /File doesn't exist|External data path does not exist|ENOENT|No such file/i,
  },
  { code: 'PERMISSION_DENIED', pattern: /EACCES|EPERM|Permission denied/i },
  // A system locale (StringNormalizer needs en_US.UTF-8) or library the host lacks: the host is at fault.
  {
    code: 'DEPENDENCY_MISSING',
    pattern:
      /Failed to construct locale|locale::facet|language-pack|cannot open shared object|GLIBC_[0-9.]+' not found/i,
  },
  {
    code: 'EXECUTION_PROVIDER',
    pattern:
      /backend not found|no available backend|AppendExecutionProvider|providers_shared|execution provider/i,
  },
  { code: 'GPU_UNAVAILABLE', pattern: /CUDA failure|cudaError|no CUDA-capable device|CUDA driver/i },
  {
    code: 'DEPENDENCY_MISSING',
    pattern: /Cannot find (module|package) 'onnxruntime|ERR_MODULE_NOT_FOUND|ERR_DLOPEN_FAILED/i,
  },
  // An element type no ONNX version defines is an invalid graph, not a type this runtime lacks.
  {
    code: 'MODEL_INVALID',
    pattern: /Invalid tensor data type|Unsupported data type: (0|2[7-9]|[3-9]\d|\d{3,})\b/i,
  },
  {
    code: 'UNSUPPORTED_MODEL',
    pattern:
      /Unsupported model IR version|official support for domain|Opset \d+ is under development|No Op registered|not a registered function\/op|Could not find an implementation|NOT_IMPLEMENTED|not implemented|are not supported|is not supported|Unsupported data type|unsupported attribute|attribute .{0,80} not supported|Invalid '[^']+' attribute value|attribute is .{0,80}\. It can only be/i,
  },
  {
    code: 'MODEL_INVALID',
    pattern:
      /Type Error|type mismatch|Invalid tensor data type|ShapeInferenceError|\[TypeInferenceError\]|InferenceError|bound to different types|does not match expected type|This is an invalid model|Invalid model|Duplicate definition|is not a graph input, initializer, or output|Node \(.*\) has input size/i,
  },
  {
    code: 'MODEL_CORRUPTED',
    pattern:
      /Protobuf parsing failed|does not have a graph|Deserialize tensor|out of bounds|ORT model verification failed|corrupt/i,
  },
  {
    code: 'CONFIG_INVALID',
    pattern: /invalid dimensions for input|Unexpected input data type|is missing in 'feeds'|invalid rank/i,
  },
];

/** Maps a runtime error message to the DESIGN.md load-error code that names its root cause. */
export function classifyRuntimeError(message: string, context: ClassifyContext): LoadErrorCode {
  const code = matchRule(message, context);
  return code ?? fallback(context.stage);
}

function matchRule(message: string, context: ClassifyContext): LoadErrorCode | undefined {
  for (const rule of RULES) {
    if (!rule.pattern.test(message)) continue;
    if (rule.code !== 'EXECUTION_PROVIDER') return rule.code;
    return context.requestedExecutionProviders.some((p) => GPU_EXECUTION_PROVIDERS.has(p))
      ? 'GPU_UNAVAILABLE'
      : 'DEPENDENCY_MISSING';
  }
  return undefined;
}

/**
 * The code and the message a report shows for a runtime failure: where no rule recognised the message,
 * the message says that the code is the neutral fallback, so no one reads it as a diagnosis.
 */
export function classifyRuntimeFailure(
  message: string,
  context: ClassifyContext,
): { code: LoadErrorCode; message: string } {
  const code = matchRule(message, context);
  if (code) return { code, message: withTypeName(message) };
  const fallbackCode = fallback(context.stage);
  return { code: fallbackCode, message: `${message} (${FALLBACK_NOTE[context.stage]})` };
}

/** "Unsupported data type: 16" names a number: say which element type that is (onnx.proto). */
function withTypeName(message: string): string {
  const type = /Unsupported data type: (\d+)\b/.exec(message);
  if (!type) return message;
  const name = dataTypeName(Number(type[1]));
  return name.startsWith('onnx-type-')
    ? message
    : `${message} (element type ${type[1]} is ${name}: onnxruntime-node cannot describe or feed a graph input or output of that type, or this runtime has no kernel for it)`;
}

const FALLBACK_NOTE: Record<LoadStage, string> = {
  import: 'the runtime could not be started for a reason modelgate does not recognise',
  load: 'the runtime refused the model at session creation for a reason modelgate does not recognise; the file parsed, so it is not called corrupt',
  run: 'the smoke run failed for a reason modelgate does not recognise',
};

/**
 * The code for a message no rule recognises. At session creation the file has already parsed (the
 * inspector read it), so the neutral verdict is an invalid graph, never corruption: corruption is only for
 * bytes that are not a parsable model, and re-downloading intact bytes cannot help.
 */
function fallback(stage: LoadStage): LoadErrorCode {
  if (stage === 'import') return 'DEPENDENCY_MISSING';
  if (stage === 'load') return 'MODEL_INVALID';
  return 'INFERENCE_FAILED';
}

export interface ExitContext extends ClassifyContext {
  signal: NodeJS.Signals | null;
  exitCode: number | null;
  /** The last few KiB the child wrote: a C++ abort (std::bad_alloc) says why only there. */
  stderrTail: string;
}

/**
 * A child that died without reporting and was not killed by us (our kills carry their own verdict):
 * classify by how it died and by what it last wrote.
 */
export function classifyChildExit(context: ExitContext): { code: LoadErrorCode; message: string } {
  const how = context.signal ? `killed by ${context.signal}` : `exited with code ${context.exitCode}`;
  const detail = context.stderrTail.trim().split('\n').slice(-3).join(' | ');
  const message = `the loader process ${how} during ${context.stage}${detail ? `: ${detail}` : ''}`;
  if (context.signal === 'SIGKILL') {
    // Nobody of ours sent it (the watchdog's kills are reported as such): on Linux that is the OOM killer.
    return { code: 'INSUFFICIENT_MEMORY', message: `${message} (most likely the kernel OOM killer)` };
  }
  const code = detail ? matchRule(detail, context) : undefined;
  if (code) return { code, message };
  return { code: fallback(context.stage), message: `${message} (${FALLBACK_NOTE[context.stage]})` };
}
