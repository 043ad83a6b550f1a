import type { LoadErrorCode } from '../schemas/error-codes.schema.js';

/**
 * Which execution provider actually ran the model. onnxruntime-node takes the requested providers as a
 * preference list and does not say what it did with it: an unknown provider is dropped with a console
 * warning (`['nosuch', 'cpu']` loads on the CPU), and nodes a provider has no kernel for run on the CPU.
 * Its profiler does say: every node event names the provider that executed it. The loader child enables
 * profiling when a provider other than the CPU is requested, and these pure functions read the profile.
 * Only node stdlib: the loader child imports this module.
 */

const GPU_EXECUTION_PROVIDERS = new Set(['cuda', 'tensorrt']);

/** `CUDAExecutionProvider` → `cuda`, the names the session options use. */
export function executionProviderShortName(ortName: string): string {
  return ortName.replace(/ExecutionProvider$/, '').toLowerCase();
}

interface ProfileEvent {
  cat?: string;
  args?: { provider?: string };
}

/** Node events per execution provider in an onnxruntime profile (a JSON array of Chrome trace events). */
export function countExecutionProviderNodes(profileJson: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const events = JSON.parse(profileJson) as ProfileEvent[];
  for (const event of Array.isArray(events) ? events : []) {
    const ortName = event.cat === 'Node' ? event.args?.provider : undefined;
    if (!ortName) continue;
    const name = executionProviderShortName(ortName);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

export interface Placement {
  /** The execution provider that ran the model: the first requested one that executed any node. */
  executionProvider: string;
  /** Set when the first requested provider ran no node: `cuda → cpu`. */
  fallback?: string;
  /** Set when no requested provider ran anything (the CPU is always there, requested or not). */
  failure?: { code: LoadErrorCode; message: string };
}

/**
 * Judges the placement against the request. A fallback to a provider that was also requested (`cuda,cpu`
 * on a node without CUDA kernels for the model) passes and is recorded; a request that named only
 * providers which ran nothing fails: `GPU_UNAVAILABLE` for a GPU provider, `DEPENDENCY_MISSING` otherwise.
 */
export function judgePlacement(requested: readonly string[], counts: Record<string, number>): Placement {
  const first = requested[0] ?? 'cpu';
  const ran = Object.keys(counts).filter((p) => (counts[p] ?? 0) > 0);
  // No node events (a graph without nodes, or an unreadable profile): nothing to contradict the request.
  if (ran.length === 0) return { executionProvider: first };
  const actual = requested.find((p) => ran.includes(p)) ?? ran.sort((a, b) => counts[b]! - counts[a]!)[0]!;
  if (actual === first) return { executionProvider: actual };
  const placement: Placement = { executionProvider: actual, fallback: `${first} → ${actual}` };
  if (!requested.includes(actual)) {
    const where = ran.map((p) => `${counts[p]} on ${p}`).join(', ');
    placement.failure = {
      code: GPU_EXECUTION_PROVIDERS.has(first) ? 'GPU_UNAVAILABLE' : 'DEPENDENCY_MISSING',
      message: `execution provider ${requested.join(',')} was required, but the runtime ran every node elsewhere (${where})`,
    };
  }
  return placement;
}
