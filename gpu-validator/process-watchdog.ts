import { type ChildProcess, fork } from 'node:child_process';
import { readProcStatusBytes } from './proc-status.js';

/**
 * A generic watchdog over one forked Node child: it spawns the child in its own process group, samples its
 * resident memory, enforces a time limit, kills the whole group when a limit is broken or the caller
 * cancels, and collects the child's IPC messages and the tail of its output. It knows nothing about what
 * the child does: the caller reads the messages and turns a stop into a verdict (isolated-load.ts).
 */

/** Why the watchdog stopped the child (the first stop wins; later ones are ignored). */
export type WatchdogStop =
  /** A VmRSS sample exceeded `memoryLimitBytes`. */
  | { reason: 'memory'; rssBytes: number; limitBytes: number }
  /** The clock ran out; `phase` is the label of the clock that was running (`startup` first). */
  | { reason: 'time'; limitMs: number; phase: string }
  /** The caller's signal aborted; `started` is false when it was aborted before the fork. */
  | { reason: 'cancelled'; started: boolean }
  /** `fork` threw: the child never ran. */
  | { reason: 'spawn-failed'; error: Error }
  /** The child process emitted 'error' (it could not be started or signalled). */
  | { reason: 'process-error'; error: Error };

/** What a message handler may do to the running child. */
export interface WatchdogControl {
  /** Replaces the running clock with a new one of `limitMs` from now, labelled `phase` in its stop. */
  restartClock(limitMs: number, phase: string): void;
}

export interface WatchdogOptions<M> {
  /** The module to fork and its arguments. */
  script: string;
  args: readonly string[];
  /** Node flags for the child (e.g. `--import tsx` when running from sources). */
  execArgv: readonly string[];
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Resident memory limit in bytes: the child is killed once a VmRSS sample exceeds it. */
  memoryLimitBytes: number;
  /** How often the child's VmRSS is read, in ms. */
  sampleIntervalMs: number;
  /** First time limit in ms, from the fork, labelled `startup`; a handler may restart it. */
  timeLimitMs: number;
  /** Aborting kills the child at once. */
  signal?: AbortSignal | undefined;
  /**
   * Called for every IPC message in order. Returning `'final'` ends the watch at once: the child has said
   * all it will, and its exit is not waited for (it is reaped in the background, killed if it lingers).
   */
  onMessage(message: M, control: WatchdogControl): 'final' | undefined;
  /** Called synchronously, once, when the watchdog decides to stop the child (before the kill). */
  onStop?(stop: WatchdogStop): void;
}

export interface WatchdogRun<M> {
  /** Every IPC message received, in order. */
  messages: M[];
  /** The highest VmRSS sample in bytes (0 when none could be read). */
  sampledPeakRssBytes: number;
  /** The last 4 KiB of stdout and stderr together. */
  outputTail: string;
  /** Set when the watchdog stopped the child. */
  stop?: WatchdogStop;
  /** True when a handler declared a message final. */
  final: boolean;
  /** How the child ended; both null when the watch ended on a final message or the child never ran. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
}

const OUTPUT_TAIL_BYTES = 4096;
const REAP_GRACE_MS = 5000;

/**
 * Forks `options.script` under the watchdog; resolves once the child has exited or sent its final message,
 * never rejects. The child is the leader of its own process group (detached = setsid), so killing the
 * group ends the helpers it started too; every live group is killed when this process exits.
 */
export function runWatched<M>(options: WatchdogOptions<M>): Promise<WatchdogRun<M>> {
  const run: WatchdogRun<M> = {
    messages: [],
    sampledPeakRssBytes: 0,
    outputTail: '',
    final: false,
    exitCode: null,
    exitSignal: null,
  };
  const stopWith = (stop: WatchdogStop): boolean => {
    if (run.stop) return false;
    run.stop = stop;
    options.onStop?.(stop);
    return true;
  };
  if (options.signal?.aborted) {
    stopWith({ reason: 'cancelled', started: false });
    return Promise.resolve(run);
  }
  let child: ChildProcess;
  try {
    child = fork(options.script, [...options.args], {
      execArgv: [...options.execArgv],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: options.env ?? process.env,
      detached: true,
    });
    track(child);
  } catch (error) {
    stopWith({ reason: 'spawn-failed', error: error as Error });
    return Promise.resolve(run);
  }
  return new Promise((resolve) => {
    const kill = (stop: WatchdogStop) => {
      if (stopWith(stop)) child.kill('SIGKILL');
    };
    const sample = () => {
      if (child.pid === undefined) return;
      const rss = readProcStatusBytes(child.pid, 'VmRSS');
      if (rss === undefined) return;
      run.sampledPeakRssBytes = Math.max(run.sampledPeakRssBytes, rss);
      if (rss > options.memoryLimitBytes) {
        kill({ reason: 'memory', rssBytes: rss, limitBytes: options.memoryLimitBytes });
      }
    };
    const sampler = setInterval(sample, options.sampleIntervalMs);
    const cancel = () => kill({ reason: 'cancelled', started: true });
    options.signal?.addEventListener('abort', cancel, { once: true });
    const startClock = (limitMs: number, phase: string) =>
      setTimeout(() => kill({ reason: 'time', limitMs, phase }), limitMs);
    let deadline = startClock(options.timeLimitMs, 'startup');
    const control: WatchdogControl = {
      restartClock(limitMs, phase) {
        clearTimeout(deadline);
        deadline = startClock(limitMs, phase);
      },
    };
    const keepTail = (chunk: Buffer) => {
      run.outputTail = (run.outputTail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on('data', keepTail);
    child.stderr?.on('data', keepTail);
    let settled = false;
    const finish = (exitCode: number | null, exitSignal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearInterval(sampler);
      options.signal?.removeEventListener('abort', cancel);
      clearTimeout(deadline);
      run.exitCode = exitCode;
      run.exitSignal = exitSignal;
      resolve(run);
    };
    child.on('message', (message: M) => {
      run.messages.push(message);
      if (options.onMessage(message, control) !== 'final') return;
      // Tearing down a GB address space takes ~0.1 s: the final word needs nothing more, so the exit is
      // not waited for.
      run.final = true;
      reapInBackground(child);
      finish(null, null);
    });
    child.on('error', (error) => {
      kill({ reason: 'process-error', error });
      // A process that never started emits no 'close' on every Node version: settle here.
      if (child.pid === undefined) finish(null, null);
    });
    child.on('close', finish);
    sample();
  });
}

/** Watched children alive now, by pid (each the leader of its own process group). */
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
    // is why a child should also watch its parent (parent-watch.ts).
    process.once('exit', killWatchedChildren);
  }
}

/** Kills every watched child and its process group at once (server shutdown, process exit). */
export function killWatchedChildren(): void {
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
