import { parentPort } from 'node:worker_threads';
import { inspectGguf } from './gguf-inspect.js';
import type { InspectFormat, InspectReply, InspectRequest } from './inspect-off-thread.js';
import { LoadFailure } from './load-failure.js';
import { inspectOnnx } from './onnx-inspect.js';
import { inspectSafetensors } from './safetensors-inspect.js';
import { inspectZip } from './zip-inspect.js';

/**
 * The worker thread that parses untrusted model files (inspect-off-thread.ts starts it): whatever a file
 * makes a parser do, it does it here, under the worker's heap cap and the caller's deadline, never on the
 * server's event loop.
 */

const INSPECTORS: Record<InspectFormat, (path: string) => unknown> = {
  onnx: inspectOnnx,
  safetensors: inspectSafetensors,
  gguf: inspectGguf,
  zip: inspectZip,
};

async function answer(request: InspectRequest): Promise<InspectReply> {
  try {
    return { ok: true, result: await INSPECTORS[request.format](request.path) };
  } catch (error) {
    if (error instanceof LoadFailure) {
      return {
        ok: false,
        code: error.code,
        message: error.message,
        ...(error.details ? { details: error.details } : {}),
      };
    }
    // A parser bug, not a verdict on the file: the caller reports it as such.
    return { ok: false, message: `inspector error: ${(error as Error)?.message ?? String(error)}` };
  }
}

// One request at a time (the parent gives a worker one file, then takes it back into its idle set).
parentPort?.on('message', (request: InspectRequest & { id: number }) => {
  answer(request).then((reply) => parentPort?.postMessage({ ...reply, id: request.id }));
});
