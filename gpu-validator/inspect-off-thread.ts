import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadErrorCode } from '../schemas/error-codes.schema.js';
import type { GgufInspection } from './gguf-inspect.js';
import { corrupted, LoadFailure } from './load-failure.js';
import type { OnnxInspection } from './onnx-inspect.js';
import type { SafetensorsInspection } from './safetensors-inspect.js';
import type { ZipInspection } from './zip-inspect.js';

/**
 * Runs a file inspector in a worker thread under a deadline and a heap cap, so that no file, however it is
 * crafted, can block the server's event loop or grow its memory: the worker is terminated at the deadline,
 * and V8 stops it at the cap. Either way the file is MODEL_CORRUPTED at once (an inspector that cannot
 * finish on a file's structure has been given something that is not a sane model), never an
 * infrastructure error that the job queue would retry.
 */

export type InspectFormat = 'onnx' | 'safetensors' | 'gguf' | 'zip';

interface Results {
  onnx: OnnxInspection;
  safetensors: SafetensorsInspection;
  gguf: GgufInspection;
  zip: ZipInspection;
}

export interface InspectRequest {
  format: InspectFormat;
  path: string;
}

export type InspectReply =
  | { ok: true; result: unknown }
  | { ok: false; code?: LoadErrorCode; message: string; details?: Record<string, unknown> };

export interface OffThreadOptions {
  /** Wall-clock limit for the inspection, ms. Default 30 s (the engine passes its own, at least a minute). */
  deadlineMs?: number;
  /** The worker's V8 old-generation cap, MiB. Default 256: inspectors keep bounded lists, so far more than they need. */
  maxHeapMb?: number;
}

const DEFAULT_DEADLINE_MS = 30_000;
const DEFAULT_MAX_HEAP_MB = 256;

/**
 * The worker's entry: the compiled `inspect-worker.js` beside this module, or, when running from the
 * TypeScript sources (vitest, tsx), `inspect-worker.ts` imported through tsx's loader.
 */
function workerSource(): { source: string | URL; eval: boolean } {
  const js = new URL('./inspect-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { source: js, eval: false };
  // tsx's ESM entry (its CommonJS one cannot register hooks from an eval'd worker).
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(join(tsxDir, 'dist/esm/api/index.mjs')).href;
  const ts = new URL('./inspect-worker.ts', import.meta.url).href;
  return {
    source: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); })`,
    eval: true,
  };
}

/**
 * Idle workers kept for the next inspection: starting a worker costs tens of milliseconds (more on a busy
 * machine), as much as inspecting a small model. A worker that missed its deadline or its heap cap is
 * terminated, never reused. Idle workers are unref'd, so they never keep a process alive.
 */
const idle: Worker[] = [];
/** A worker that dies while idle (it should not) just leaves the set. */
const dropIdle = (worker: Worker) => () => {
  const at = idle.indexOf(worker);
  if (at >= 0) idle.splice(at, 1);
};
const MAX_IDLE = 2;
let nextId = 1;

function startWorker(maxHeapMb: number): Worker {
  const { source, eval: isEval } = workerSource();
  return new Worker(source, {
    eval: isEval,
    resourceLimits: { maxOldGenerationSizeMb: maxHeapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
    stdout: false,
    stderr: false,
  });
}

function takeWorker(maxHeapMb: number): Worker {
  const reused = maxHeapMb === DEFAULT_MAX_HEAP_MB ? idle.pop() : undefined;
  const worker = reused ?? startWorker(maxHeapMb);
  if (!reused) worker.on('exit', dropIdle(worker));
  worker.ref();
  return worker;
}

function giveBack(worker: Worker, maxHeapMb: number): void {
  if (maxHeapMb !== DEFAULT_MAX_HEAP_MB || idle.length >= MAX_IDLE) {
    void worker.terminate();
    return;
  }
  worker.unref();
  idle.push(worker);
}

export function inspectOffThread<F extends InspectFormat>(
  format: F,
  path: string,
  options: OffThreadOptions = {},
): Promise<Results[F]> {
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const maxHeapMb = options.maxHeapMb ?? DEFAULT_MAX_HEAP_MB;
  const worker = takeWorker(maxHeapMb);
  const id = nextId++;
  return new Promise<Results[F]>((resolve, reject) => {
    let settled = false;
    const settle = (reuse: boolean, outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Only our own listeners: Worker keeps internal ones (removeAllListeners would break its messaging).
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (reuse) giveBack(worker, maxHeapMb);
      else void worker.terminate();
      outcome();
    };
    const timer = setTimeout(
      () =>
        settle(false, () =>
          reject(
            corrupted(
              `the ${format} inspector did not finish within ${deadlineMs} ms: the file's structure is not that of a sane model`,
            ),
          ),
        ),
      deadlineMs,
    );
    const onMessage = (reply: InspectReply & { id: number }) => {
      if (reply.id !== id) return;
      settle(true, () => {
        if (reply.ok) return resolve(reply.result as Results[F]);
        reject(new LoadFailure(reply.code ?? 'MODEL_CORRUPTED', reply.message, reply.details));
      });
    };
    const onError = (error: Error & { code?: string }) =>
      settle(false, () => {
        if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          return reject(
            corrupted(
              `inspecting the ${format} structure needed more than ${maxHeapMb} MiB: the file is not that of a sane model`,
            ),
          );
        }
        // The inspectors answer every failure of theirs: an uncaught error is the worker's own (it could not
        // start), not a verdict on the file.
        reject(new Error(`the ${format} inspector could not run: ${error.message}`));
      });
    const onExit = (code: number) =>
      settle(false, () =>
        reject(new Error(`the ${format} inspector exited with code ${code} before answering`)),
      );
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    const request: InspectRequest & { id: number } = { id, format, path };
    worker.postMessage(request);
  });
}
