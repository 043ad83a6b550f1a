import { z } from 'zod';
import { ProviderName } from './names.schema.js';

/**
 * An operator's switch on a provider (DESIGN.md "Provider"; the runbook's "Prevent cascade failures" and
 * "Re-enable provider"). `ramping` re-admits fetching nodes step by step (share of nodes, by node id).
 */
export const ProviderState = z.enum(['enabled', 'disabled', 'ramping']);
export type ProviderState = z.infer<typeof ProviderState>;

/** Who disabled a provider: an operator, DISABLED_PROVIDERS at server start, or a ramp that saw failures. */
export const DisabledBy = z.enum(['operator', 'env', 'ramp-rollback']);
export type DisabledBy = z.infer<typeof DisabledBy>;

/** Percentages of nodes admitted at each step, ascending, the last one 100 (so every ramp ends enabled). */
export const RampSteps = z
  .array(z.number().gt(0).max(100))
  .min(1)
  .max(20)
  .refine((s) => s.every((p, i) => i === 0 || p > s[i - 1]!), 'steps must be ascending')
  .refine((s) => s[s.length - 1] === 100, 'the last step must be 100');

/**
 * A gradual re-enabling under way: the step percentages, the time per step in ms (at least 1 s) and when
 * it started (ISO 8601).
 */
export const Ramp = z.object({
  steps: RampSteps,
  stepMs: z.number().int().min(1000),
  startedAt: z.string(),
});
export type Ramp = z.infer<typeof Ramp>;

/**
 * A provider (group of models) as stored: its state, why and by whom it was disabled, its ramp, and a
 * revision that makes every update conditional.
 */
export const ProviderRecord = z.object({
  name: ProviderName,
  state: ProviderState,
  reason: z.string().max(500).optional(),
  disabledBy: DisabledBy.optional(),
  ramp: Ramp.optional(),
  /** Incremented by every write: updates are conditional on it (two operators cannot both win). */
  revision: z.number().int().nonnegative(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ProviderRecord = z.infer<typeof ProviderRecord>;

/** POST …/providers/{provider}/disable: the operator's reason, 1..500 characters. */
export const DisableProviderRequest = z.object({ reason: z.string().min(1).max(500) });
/**
 * POST …/providers/{provider}/enable: at once, or by a ramp of step percentages, one step per
 * `stepSeconds`.
 */
export const EnableProviderRequest = z.object({
  /** Without a ramp the provider is enabled for every node at once. */
  ramp: RampSteps.optional(),
  stepSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(300),
});
