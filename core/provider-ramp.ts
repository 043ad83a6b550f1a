import type { ProviderRecord } from '../schemas/provider.schema.js';

/**
 * The ramp rule, pure: which share of fetching nodes a provider admits at a moment, and whether a given
 * node is among them. A node is admitted at P % when the hash of its id, mod 10 000, is below P × 100:
 * the same node gets the same answer at every fetch, and a node admitted at one step stays admitted
 * at every later (larger) step.
 */

/** FNV-1a, 32 bits: stable across processes, platforms and deployments (unlike a seeded hash). */
export function nodeHash(nodeId: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(nodeId)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Where a provider's gradual re-enabling stands at a given time. */
export interface RampPosition {
  /** Share of nodes admitted now, 0..100. */
  readonly percent: number;
  /** Index of the current step; equal to the number of steps once the ramp has finished. */
  readonly step: number;
  readonly nextStepAt: Date | null;
  readonly finished: boolean;
}

/**
 * The ramp position of `provider` at `now`: 0 % when disabled, 100 % (finished) when enabled or without
 * a ramp, else the step reached by the time elapsed since the ramp started (one step per `stepMs`). Pure.
 */
export function rampPosition(provider: ProviderRecord, now: Date): RampPosition {
  if (provider.state === 'disabled') return { percent: 0, step: 0, nextStepAt: null, finished: false };
  if (provider.state === 'enabled' || !provider.ramp)
    return { percent: 100, step: 0, nextStepAt: null, finished: true };
  const { steps, stepMs, startedAt } = provider.ramp;
  const elapsed = Math.max(0, now.getTime() - Date.parse(startedAt));
  const step = Math.floor(elapsed / stepMs);
  if (step >= steps.length - 1) return { percent: 100, step: steps.length, nextStepAt: null, finished: true };
  return {
    percent: steps[step]!,
    step,
    nextStepAt: new Date(Date.parse(startedAt) + (step + 1) * stepMs),
    finished: false,
  };
}

/**
 * Whether a node is inside the `percent` (0..100) of nodes admitted: a stable hash of `nodeId`, so the
 * same node stays admitted as the share grows. No node id is admitted only at 100 %.
 */
export function admitsNode(percent: number, nodeId: string | undefined): boolean {
  if (percent >= 100) return true;
  if (percent <= 0 || !nodeId) return false;
  return nodeHash(nodeId) % 10_000 < Math.round(percent * 100);
}

/** Enabled for everyone now: `enabled`, or a ramp that reached its last step. */
export const isFullyEnabled = (provider: ProviderRecord, now: Date): boolean =>
  rampPosition(provider, now).percent >= 100;
