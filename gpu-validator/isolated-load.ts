import { type ChildProcess, fork } from 'node:child_process';
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
import { readProcStatusBytes } from './proc-status.js';
import type { SampleSet } from './sample-io.js';
import type { InputHint } from './synthesize-inputs.js';

/**
 * Loads one model in a child process under a memory budget and a time limit (DESIGN.md Validation
 * step 3). The parent only forks, samples and waits: whatever the runtime does, this process survives.
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
   * Profile the run to learn which provider executed the nodes (provider-placement.ts). Default: when a
   * provider other than the CPU is requested, since only then can the runtime's choice differ from ours.
   */
  detectProviders?: boolean;
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
const STDERR_TAIL_BYTES = 4096;
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

interface Watch {
  stage: LoadStage;
  sampledPeak: number;
  messages: ChildMessage[];
  stderrTail: string;
  /** Set when we killed the child: that verdict stands whatever the child said last. */
  verdict?: { code: LoadErrorCode; message: string };
}

/** Forks the child with `request` and watches it; resolves when it has exited, never rejects. */
function runChild(
  request: ChildRequest,
  limits: {
    memoryBudgetBytes: number;
    timeoutMs: number;
    startupTimeoutMs: number;
    sampleIntervalMs: number;
    signal?: AbortSignal | undefined;
  },
): Promise<Watch> {
  const watch: Watch = { stage: 'import', sampledPeak: 0, messages: [], stderrTail: '' };
  if (limits.signal?.aborted) {
    watch.verdict = { code: 'TIMEOUT', message: 'the load was cancelled before it started' };
    return Promise.resolve(watch);
  }
  const { script, execArgv } = childEntry();
  let child: ChildProcess;
  try {
    // Its own process group (detached = setsid), so that killing the group ends the runtime's helpers too;
    // the group is killed when this process exits (killLoadChildren) and the child watches its parent.
    child = fork(script, [JSON.stringify(request)], {
      execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) },
      detached: true,
    });
    track(child);
  } catch (error) {
    watch.verdict = {
      code: 'DEPENDENCY_MISSING',
      message: `cannot start the loader: ${(error as Error).message}`,
    };
    return Promise.resolve(watch);
  }
  return new Promise((resolve) => {
    const kill = (code: LoadErrorCode, message: string) => {
      if (watch.verdict) return;
      watch.verdict = { code, message };
      child.kill('SIGKILL');
    };
    const sample = () => {
      if (child.pid === undefined) return;
      const rss = readProcStatusBytes(child.pid, 'VmRSS');
      if (rss === undefined) return;
      watch.sampledPeak = Math.max(watch.sampledPeak, rss);
      if (rss > limits.memoryBudgetBytes) {
        kill(
          'INSUFFICIENT_MEMORY',
          `resident memory reached ${mib(rss)} during ${watch.stage}, over the budget of ${mib(limits.memoryBudgetBytes)}`,
        );
      }
    };
    const sampler = setInterval(sample, limits.sampleIntervalMs);
    const cancel = () => kill('TIMEOUT', 'the load was cancelled by the validator');
    limits.signal?.addEventListener('abort', cancel, { once: true });
    let deadline = setTimeout(
      () => kill('TIMEOUT', `the loader did not start within ${limits.startupTimeoutMs} ms`),
      limits.startupTimeoutMs,
    );
    const keepTail = (chunk: Buffer) => {
      watch.stderrTail = (watch.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    };
    child.stdout?.on('data', keepTail);
    child.stderr?.on('data', keepTail);
    child.on('message', (message: ChildMessage) => {
      watch.messages.push(message);
      if (message.type !== 'stage') {
        // The child's final word (it measured its own VmHWM just before): the verdict needs nothing more.
        // Its exit is not waited for, since tearing down a GB address space takes ~0.1 s; it is reaped in
        // the background and killed if it lingers.
        reapInBackground(child);
        finish(null, null);
        return;
      }
      watch.stage = message.stage;
      if (message.stage === 'load') {
        // The load+run clock starts once the runtime is in: process start-up is not the model's cost.
        clearTimeout(deadline);
        deadline = setTimeout(
          () =>
            kill(
              'TIMEOUT',
              `loading and running took longer than ${limits.timeoutMs} ms (killed during ${watch.stage})`,
            ),
          limits.timeoutMs,
        );
      }
    });
    let settled = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearInterval(sampler);
      limits.signal?.removeEventListener('abort', cancel);
      clearTimeout(deadline);
      if (!watch.verdict && !watch.messages.some((m) => m.type !== 'stage')) {
        watch.verdict = classifyChildExit({
          stage: watch.stage,
          requestedProviders: request.kind === 'load' ? request.executionProviders : [],
          signal,
          exitCode,
          stderrTail: watch.stderrTail,
        });
      }
      resolve(watch);
    };
    child.on('error', (error) => {
      kill('DEPENDENCY_MISSING', `the loader process failed: ${error.message}`);
      // A process that never started emits no 'close' on every Node version: settle here.
      if (child.pid === undefined) finish(null, null);
    });
    child.on('close', finish);
    sample();
  });
}

const REAP_GRACE_MS = 5000;

/** Load children alive now, by pid (each the leader of its own process group). */
const liveChildren = new Set<number>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  liveChildren.add(pid);
  child.once('exit', () => liveChildren.delete(pid));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous: process.kill is. A SIGKILL of this process runs nothing, which
    // is why the child also watches its parent (parent-watch.ts).
    process.once('exit', killLoadChildren);
  }
}

/**
 * Kills every running load child and its process group at once (server shutdown, process exit). A load
 * killed this way ends with a TIMEOUT verdict; the server closes its store first, so the verdict of an
 * interrupted validation is not recorded and the version is claimed again after a restart.
 */
export function killLoadChildren(): void {
  for (const pid of liveChildren) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  liveChildren.clear();
}

function reapInBackground(child: ChildProcess): void {
  const reaper = setTimeout(() => child.kill('SIGKILL'), REAP_GRACE_MS);
  reaper.unref();
  child.once('close', () => clearTimeout(reaper));
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
      providerNodes: last.providerNodes,
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
      detectProviders: options.detectProviders ?? executionProviders.some((p) => p !== 'cpu'),
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
      : classifyRuntimeFailure(last.message, { stage: last.stage, requestedProviders: executionProviders });
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
