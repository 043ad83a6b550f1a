import type { LoadErrorCode } from '../schemas/error-codes.schema.js';

/** Where in the child a failure happened: importing the runtime, creating the session, or running it. */
export type LoadStage = 'import' | 'load' | 'run';

export interface ClassifyContext {
  stage: LoadStage;
  requestedProviders: readonly string[];
}

const GPU_PROVIDERS = new Set(['cuda', 'tensorrt']);

/**
 * Message patterns of onnxruntime (C++ and its Node binding) and Node, in priority order. They were taken
 * from real failures of onnxruntime-node 1.30 on the fixtures (test/unit/validator-classify.test.ts).
 */
const RULES: { code: LoadErrorCode | 'PROVIDER'; pattern: RegExp }[] = [
  { code: 'INSUFFICIENT_MEMORY', pattern: /bad_alloc|Failed to allocate memory|out of memory|ENOMEM/i },
  {
    code: 'FILE_MISSING',
    pattern: /File doesn't exist|External data path does not exist|ENOENT|No such file/i,
  },
  { code: 'PERMISSION_DENIED', pattern: /EACCES|EPERM|Permission denied/i },
  {
    code: 'PROVIDER',
    pattern:
      /backend not found|no available backend|AppendExecutionProvider|providers_shared|execution provider/i,
  },
  { code: 'GPU_UNAVAILABLE', pattern: /CUDA failure|cudaError|no CUDA-capable device|CUDA driver/i },
  {
    code: 'DEPENDENCY_MISSING',
    pattern:
      /Cannot find (module|package) 'onnxruntime|ERR_MODULE_NOT_FOUND|ERR_DLOPEN_FAILED|cannot open shared object/i,
  },
  {
    code: 'UNSUPPORTED_MODEL',
    pattern:
      /Unsupported model IR version|official support for domain|opset|No Op registered|not a registered function\/op|Could not find an implementation|NOT_IMPLEMENTED|is not supported/i,
  },
  {
    code: 'MODEL_CORRUPTED',
    pattern:
      /Protobuf parsing failed|does not have a graph|Deserialize tensor|out of bounds|invalid model|corrupt/i,
  },
  {
    code: 'CONFIG_INVALID',
    pattern: /invalid dimensions for input|Unexpected input data type|is missing in 'feeds'|invalid rank/i,
  },
];

/** Maps a runtime error message to the DESIGN.md load-error code that names its root cause. */
export function classifyRuntimeError(message: string, context: ClassifyContext): LoadErrorCode {
  for (const rule of RULES) {
    if (!rule.pattern.test(message)) continue;
    if (rule.code !== 'PROVIDER') return rule.code;
    return context.requestedProviders.some((p) => GPU_PROVIDERS.has(p))
      ? 'GPU_UNAVAILABLE'
      : 'DEPENDENCY_MISSING';
  }
  return fallback(context.stage);
}

function fallback(stage: LoadStage): LoadErrorCode {
  if (stage === 'import') return 'DEPENDENCY_MISSING';
  // The runtime refused the file for a reason it did not name: the model is not one it can load.
  if (stage === 'load') return 'MODEL_CORRUPTED';
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
  if (detail) {
    const code = classifyRuntimeError(detail, context);
    const generic = code === fallback(context.stage);
    if (!generic) return { code, message };
  }
  return { code: fallback(context.stage), message };
}
