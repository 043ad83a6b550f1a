import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LoadErrorCode } from '../schemas/error-codes.schema.js';
import type { InputShapes } from '../schemas/version.schema.js';
import type {
  BaselineMessage,
  ChildLoadFacts,
  ChildMessage,
  ChildRequest,
  FailureMessage,
  LoadResultMessage,
} from './child-protocol.js';
import { classifyChildExit, classifyRuntimeFailure, type LoadStage } from './classify.js';
import { PARENT_PID_ENV } from './parent-watch.js';
import { killWatchedChildren, runWatched, type WatchdogStop } from './process-watchdog.js';
import type { SampleSet } from './sample-io.js';
import type { InputHint } from './synthesize-inputs.js';

/**
 * Loads one model in a child process under a memory budget and a time limit (DESIGN.md Validation
 * step 3). The parent only forks, samples and waits: whatever the runtime does, this process survives.
 * The watching itself (fork, RSS sampling, clock, kill) is process-watchdog.ts; this module turns what
 * the child said, or why it was stopped, into a load verdict.
 */

export interface IsolatedLoadOptions {
  modelPath: string;
  memoryBudgetBytes: number;
  /** Limit for session creation plus the smoke run (runtime import and process start excluded). */
  timeoutMs: number;
  executionProviders?: string[];
  inputShapes?: InputShapes;
  /** Value of a symbolic dimension the input shapes do not set. */
  defaultDim?: number;
  /** Limit for starting the process and importing the runtime. */
  startupTimeoutMs?: number;
  /** Watchdog period: how often the child's VmRSS is read. */
  sampleIntervalMs?: number;
  /**
   * Aborting kills the child at once: the engine loads while it still hashes the file, and a file that
   * fails its integrity check must not keep a load running whose result would be thrown away.
   */
  signal?: AbortSignal;
  /**
   * Profile the run to learn which execution provider ran the nodes (execution-provider-placement.ts).
   * Default: when an execution provider other than the CPU is requested, since only then can the
   * runtime's choice differ from ours.
   */
  detectExecutionProviders?: boolean;
  /** A golden file (golden-io.ts): its inputs are run and its outputs compared. */
  golden?: { localPath: string; path: string };
  /** An ONNX test-data folder beside the model (sample-io.ts): run instead of synthesized inputs. */
  sample?: SampleSet;
  /** How the graph types and consumes each input (input-consumers.ts); without them values are generic. */
  inputHints?: Record<string, InputHint>;
  /** The publisher's fill value per input (`--input-value`). */
  inputValues?: Record<string, number | string>;
  /** Default true: when the first smoke run fails, re-run with other values and shapes (probe-ladder.ts). */
  probe?: boolean;
}

interface LoadFacts extends ChildLoadFacts {
  /** The larger of the child's own VmHWM and the watchdog's highest VmRSS sample. */
  peakRssBytes?: number;
  sampledPeakRssBytes?: number;
}

export type IsolatedLoadResult =
  | ({ ok: true } & LoadFacts & Required<Pick<LoadFacts, 'loadMs' | 'inferenceMs' | 'runtimeVersion'>>)
  | ({ ok: false; code: LoadErrorCode; message: string; stage: LoadStage } & LoadFacts);

const DEFAULT_SAMPLE_INTERVAL_MS = 10;
const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;
const MIB = 1024 * 1024;

/**
 * The child's entry point: the compiled `load-child.js` beside this module, or, when running from the
 * TypeScript sources (vitest, tsx), `load-child.ts` with tsx as the loader.
 */
export function childEntry(): { script: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('./load-child.js', import.meta.url));
  if (existsSync(js)) return { script: js, execArgv: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { script: fileURLToPath(new URL('./load-child.ts', import.meta.url)), execArgv: ['--import', tsx] };
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

/** What one watched run of the child amounts to, in the terms of a load. */
interface Watch {
  stage: LoadStage;
  sampledPeak: number;
  messages: ChildMessage[];
  /** Set when the watchdog killed the child: that verdict stands whatever the child said last. */
  verdict?: { code: LoadErrorCode; message: string };
}

/** The load verdict for a watchdog stop, worded with the stage the child had reached when it was stopped. */
function stopVerdict(stop: WatchdogStop, stage: LoadStage): { code: LoadErrorCode; message: string } {
  switch (stop.reason) {
    case 'memory':
      return {
        code: 'INSUFFICIENT_MEMORY',
        message: `resident memory reached ${mib(stop.rssBytes)} during ${stage}, over the budget of ${mib(stop.limitBytes)}`,
      };
    case 'time':
      return {
        code: 'TIMEOUT',
        message:
          stop.phase === 'startup'
            ? `the loader did not start within ${stop.limitMs} ms`
            : `loading and running took longer than ${stop.limitMs} ms (killed during ${stage})`,
      };
    case 'cancelled':
      return {
        code: 'TIMEOUT',
        message: stop.started
          ? 'the load was cancelled by the validator'
          : 'the load was cancelled before it started',
      };
    case 'spawn-failed':
      return { code: 'DEPENDENCY_MISSING', message: `cannot start the loader: ${stop.error.message}` };
    case 'process-error':
      return { code: 'DEPENDENCY_MISSING', message: `the loader process failed: ${stop.error.message}` };
  }
}

/**
 * Forks the child with `request` under the process watchdog and reads its messages as a load: stage
 * messages move the stage (and, at `load`, restart the clock with the load+run limit), anything else is
 * the child's final word. Resolves when the child has exited or spoken its final word, never rejects.
 */
async function runChild(
  request: ChildRequest,
  limits: {
    memoryBudgetBytes: number;
    timeoutMs: number;
    startupTimeoutMs: number;
    sampleIntervalMs: number;
    signal?: AbortSignal | undefined;
  },
): Promise<Watch> {
  const watch: Watch = { stage: 'import', sampledPeak: 0, messages: [] };
  const { script, execArgv } = childEntry();
  // The child also watches its parent (parent-watch.ts): a SIGKILL of this process runs no exit hook.
  const run = await runWatched<ChildMessage>({
    script,
    args: [JSON.stringify(request)],
    execArgv,
    env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) },
    memoryLimitBytes: limits.memoryBudgetBytes,
    sampleIntervalMs: limits.sampleIntervalMs,
    timeLimitMs: limits.startupTimeoutMs,
    signal: limits.signal,
    onStop: (stop) => {
      watch.verdict = stopVerdict(stop, watch.stage);
    },
    onMessage: (message, control) => {
      // The child's final word (it measured its own VmHWM just before): the verdict needs nothing more.
      if (message.type !== 'stage') return 'final';
      watch.stage = message.stage;
      // The load+run clock starts once the runtime is in: process start-up is not the model's cost.
      if (message.stage === 'load') control.restartClock(limits.timeoutMs, 'load');
      return undefined;
    },
  });
  watch.messages = run.messages;
  watch.sampledPeak = run.sampledPeakRssBytes;
  if (!watch.verdict && !run.final) {
    watch.verdict = classifyChildExit({
      stage: watch.stage,
      requestedExecutionProviders: request.kind === 'load' ? request.executionProviders : [],
      signal: run.exitSignal,
      exitCode: run.exitCode,
      stderrTail: run.outputTail,
    });
  }
  return watch;
}

/**
 * Kills every running load child and its process group at once (server shutdown, process exit). A load
 * killed this way ends with a TIMEOUT verdict; the server closes its store first, so the verdict of an
 * interrupted validation is not recorded and the version is claimed again after a restart.
 */
export function killLoadChildren(): void {
  killWatchedChildren();
}

/** The child's final word: its result or its failure (stage messages are progress only). */
function finalMessage(watch: Watch): LoadResultMessage | FailureMessage | undefined {
  let last: LoadResultMessage | FailureMessage | undefined;
  for (const m of watch.messages) if (m.type === 'result' || m.type === 'failure') last = m;
  return last;
}

function factsOf(watch: Watch): LoadFacts {
  const last = finalMessage(watch);
  const facts: LoadFacts = { sampledPeakRssBytes: watch.sampledPeak || undefined };
  if (last) {
    Object.assign(facts, {
      runtimeVersion: last.runtimeVersion,
      loadMs: last.loadMs,
      inferenceMs: last.inferenceMs,
      inputs: last.inputs,
      outputs: last.outputs,
      inputShapes: last.inputShapes,
      vmHwmBytes: last.vmHwmBytes,
      executionProvider: last.executionProvider,
      executionProviderNodes: last.executionProviderNodes,
      executionProviderFallback: last.executionProviderFallback,
      golden: last.golden,
      fedInputs: last.fedInputs,
      probes: last.probes,
      notes: last.notes,
      smokeRun: last.smokeRun,
    });
    if (last.type === 'result') facts.gpuBytes = last.gpuBytes;
  }
  const peak = Math.max(facts.vmHwmBytes ?? 0, watch.sampledPeak);
  if (peak > 0) facts.peakRssBytes = peak;
  return dropUndefined(facts);
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Verdicts that the child finished but broke a limit anyway: the watchdog samples, it cannot see every peak. */
function limitVerdict(result: LoadResultMessage, options: IsolatedLoadOptions, peak: number) {
  if (peak > options.memoryBudgetBytes) {
    return {
      code: 'INSUFFICIENT_MEMORY' as const,
      message: `peak resident memory ${mib(peak)} is over the budget of ${mib(options.memoryBudgetBytes)}`,
    };
  }
  const elapsed = result.loadMs + result.inferenceMs;
  if (elapsed > options.timeoutMs) {
    return {
      code: 'TIMEOUT' as const,
      message: `loading and running took ${elapsed.toFixed(0)} ms, over the limit of ${options.timeoutMs} ms`,
    };
  }
  return undefined;
}

export async function isolatedLoad(options: IsolatedLoadOptions): Promise<IsolatedLoadResult> {
  const executionProviders = options.executionProviders ?? ['cpu'];
  const watch = await runChild(
    {
      kind: 'load',
      modelPath: options.modelPath,
      executionProviders,
      inputShapes: options.inputShapes ?? {},
      defaultDim: options.defaultDim ?? 1,
      measureGpu: executionProviders.some((p) => p === 'cuda' || p === 'tensorrt'),
      detectExecutionProviders:
        options.detectExecutionProviders ?? executionProviders.some((p) => p !== 'cpu'),
      ...(options.golden ? { golden: options.golden } : {}),
      ...(options.sample ? { sample: options.sample } : {}),
      ...(options.inputHints ? { inputHints: options.inputHints } : {}),
      ...(options.inputValues ? { inputValues: options.inputValues } : {}),
      memoryBudgetBytes: options.memoryBudgetBytes,
      timeoutMs: options.timeoutMs,
      probe: options.probe ?? true,
    },
    {
      memoryBudgetBytes: options.memoryBudgetBytes,
      timeoutMs: options.timeoutMs,
      startupTimeoutMs: options.startupTimeoutMs ?? Math.max(DEFAULT_STARTUP_TIMEOUT_MS, options.timeoutMs),
      sampleIntervalMs: options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS,
      signal: options.signal,
    },
  );
  const facts = factsOf(watch);
  if (watch.verdict) return { ok: false, ...watch.verdict, stage: watch.stage, ...facts };
  const last = finalMessage(watch);
  if (last?.type === 'failure') {
    const { code, message } = last.code
      ? { code: last.code, message: last.message }
      : classifyRuntimeFailure(last.message, {
          stage: last.stage,
          requestedExecutionProviders: executionProviders,
        });
    return { ok: false, code, message, stage: last.stage, ...facts };
  }
  const result = last as LoadResultMessage;
  const broken = limitVerdict(result, options, facts.peakRssBytes ?? 0);
  if (broken) return { ok: false, ...broken, stage: 'run', ...facts };
  return {
    ok: true,
    ...facts,
    runtimeVersion: result.runtimeVersion,
    loadMs: result.loadMs,
    inferenceMs: result.inferenceMs,
  };
}

export interface BaselineMeasurement {
  runtimeVersion: string;
  vmHwmBytes: number;
}

/** Runs the child in baseline mode: it imports the runtime, reports its VmHWM and exits. */
export async function measureRuntimeBaseline(
  timeoutMs = DEFAULT_STARTUP_TIMEOUT_MS,
): Promise<BaselineMeasurement> {
  const watch = await runChild(
    { kind: 'baseline' },
    {
      memoryBudgetBytes: Number.MAX_SAFE_INTEGER,
      timeoutMs,
      startupTimeoutMs: timeoutMs,
      sampleIntervalMs: DEFAULT_SAMPLE_INTERVAL_MS,
    },
  );
  const message = watch.messages.find((m): m is BaselineMessage => m.type === 'baseline');
  if (!message) {
    throw new Error(`runtime baseline failed: ${watch.verdict?.message ?? 'the child reported nothing'}`);
  }
  return {
    runtimeVersion: message.runtimeVersion,
    vmHwmBytes: Math.max(message.vmHwmBytes ?? 0, watch.sampledPeak),
  };
}
