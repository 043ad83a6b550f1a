import { type BaselineMeasurement, measureRuntimeBaseline } from './isolated-load.js';

/**
 * The runtime's own share of a loader child's peak memory: VmHWM of a child that only imported
 * onnxruntime-node. Measured once per process and cached; a failed measurement is not cached, so the
 * next validation tries again.
 */
let cached: Promise<BaselineMeasurement> | undefined;

export function runtimeBaseline(): Promise<BaselineMeasurement> {
  if (!cached) {
    cached = measureRuntimeBaseline();
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}

/** Forgets the cached figure (tests, or after the runtime was upgraded in place). */
export function resetRuntimeBaseline(): void {
  cached = undefined;
}
