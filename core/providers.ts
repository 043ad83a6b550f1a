import type { DisabledBy, ProviderRecord } from '../schemas/provider.schema.js';
import { notFound, RegistryError } from './errors.js';
import { eventsOf } from './events.js';
import type { RegistryDeps } from './ports.js';
import { admitsNode, rampPosition } from './provider-ramp.js';

/**
 * The provider switch: enabled → disabled (operator, DISABLED_PROVIDERS, or a ramp that saw failures)
 * → ramping (a share of nodes per step) → enabled, or disabled → enabled at once. Every write is
 * conditional on the record's revision and retried on a race, so concurrent operators serialize.
 */

/** The record of a provider seen for the first time: enabled, revision 0, created at `now`. */
export const newProviderRecord = (name: string, now: Date): ProviderRecord => ({
  name,
  state: 'enabled',
  revision: 0,
  createdAt: now.toISOString(),
  updatedAt: now.toISOString(),
});

/** Creates the provider's record on its first model; emits providerSeen then (its counters start at 0). */
export async function ensureProvider(deps: RegistryDeps, name: string): Promise<void> {
  if (await deps.metadata.createProviderIfAbsent(newProviderRecord(name, deps.clock.now())))
    eventsOf(deps).providerSeen({ provider: name });
}

const isConflict = (e: unknown) => e instanceof RegistryError && e.code === 'CONFLICT';

/** Read, change, conditional write; again on a race (a few times: operators are not a hot path). */
async function changeProvider(
  deps: RegistryDeps,
  name: string,
  change: (
    current: ProviderRecord,
    now: Date,
  ) => Omit<ProviderRecord, 'revision' | 'updatedAt' | 'createdAt' | 'name'> | null,
  createIfMissing = false,
): Promise<ProviderRecord | null> {
  for (let attempt = 0; ; attempt++) {
    const now = deps.clock.now();
    let current = await deps.metadata.getProvider(name);
    if (!current) {
      if (!createIfMissing) throw notFound(`provider ${name}`, { provider: name });
      if (await deps.metadata.createProviderIfAbsent(newProviderRecord(name, now)))
        eventsOf(deps).providerSeen({ provider: name });
      current = (await deps.metadata.getProvider(name))!;
    }
    const fields = change(current, now);
    if (!fields) return null;
    const next: ProviderRecord = {
      name,
      createdAt: current.createdAt,
      ...fields,
      revision: current.revision + 1,
      updatedAt: now.toISOString(),
    };
    try {
      await deps.metadata.updateProvider(next, current.revision);
      return next;
    } catch (e) {
      if (!isConflict(e) || attempt >= 4) throw e;
    }
  }
}

/**
 * Disables provider `name` with the reason given (nodes stop being served its models) and emits
 * `providerChanged`. `by: 'env'` is the DISABLED_PROVIDERS list, which creates the provider if needed.
 * @throws RegistryError NOT_FOUND when the provider does not exist (and `by` is not `env`).
 */
export async function disableProvider(
  deps: RegistryDeps,
  name: string,
  reason: string,
  by: DisabledBy = 'operator',
): Promise<ProviderRecord> {
  const next = await changeProvider(
    deps,
    name,
    () => ({ state: 'disabled', reason, disabledBy: by }),
    by === 'env',
  );
  eventsOf(deps).providerChanged({ provider: next!, change: 'disabled' });
  return next!;
}

/**
 * Enables a provider: at once, or by a ramp (`steps` percentages of nodes, one step per `stepMs`). A
 * ramp stops and rolls back to disabled if a failure is reported while it runs (load-reports.ts).
 */
export async function enableProvider(
  deps: RegistryDeps,
  name: string,
  ramp?: { steps: number[]; stepMs: number },
): Promise<ProviderRecord> {
  const next = await changeProvider(deps, name, (_current, now) =>
    ramp && ramp.steps.length > 1
      ? { state: 'ramping', ramp: { steps: ramp.steps, stepMs: ramp.stepMs, startedAt: now.toISOString() } }
      : { state: 'enabled' },
  );
  eventsOf(deps).providerChanged({
    provider: next!,
    change: next!.state === 'ramping' ? 'ramp-started' : 'enabled',
  });
  return next!;
}

/**
 * The runbook's `export DISABLED_PROVIDERS=…` and `unset DISABLED_PROVIDERS`, applied at server start:
 * the listed providers are disabled; providers that an earlier start disabled this way and that are no
 * longer listed are enabled again. Providers an operator disabled stay disabled.
 */
export async function applyDisabledProvidersList(
  deps: RegistryDeps,
  names: readonly string[],
): Promise<void> {
  const listed = new Set(names);
  for (const name of listed) {
    const current = await deps.metadata.getProvider(name);
    if (current?.state === 'disabled') continue;
    await disableProvider(deps, name, 'listed in DISABLED_PROVIDERS at server start', 'env');
  }
  for (const p of await deps.metadata.listProviders())
    if (p.state === 'disabled' && p.disabledBy === 'env' && !listed.has(p.name))
      await enableProvider(deps, p.name);
}

/**
 * A failure reported while the provider ramps: the ramp stops and the provider is disabled again, so an
 * operator looks before more nodes load it. Returns the new record, or null when it was not ramping.
 */
export async function rollBackRamp(
  deps: RegistryDeps,
  name: string,
  why: string,
): Promise<ProviderRecord | null> {
  const next = await changeProvider(deps, name, (current, now) =>
    current.state === 'ramping' && !rampPosition(current, now).finished
      ? { state: 'disabled', reason: `ramp rolled back: ${why}`, disabledBy: 'ramp-rollback' }
      : null,
  );
  if (next) eventsOf(deps).providerChanged({ provider: next, change: 'ramp-rolled-back' });
  return next;
}

/** Refuses a fetch of the provider's versions while it is disabled, or while a ramp does not admit the node. */
export async function checkProviderAdmits(
  deps: RegistryDeps,
  name: string,
  nodeId: string | undefined,
): Promise<void> {
  const provider = await deps.metadata.getProvider(name);
  if (!provider) return;
  if (provider.state === 'disabled')
    throw new RegistryError(
      'PROVIDER_DISABLED',
      `provider ${name} is disabled (${provider.reason ?? 'no reason given'}): its versions are not served until an operator enables it (modelgate provider enable ${name})`,
      { provider: name, disabledBy: provider.disabledBy ?? null, reason: provider.reason ?? null },
    );
  const position = rampPosition(provider, deps.clock.now());
  if (!admitsNode(position.percent, nodeId))
    throw new RegistryError(
      'PROVIDER_DISABLED',
      nodeId
        ? `provider ${name} is being re-enabled gradually (${position.percent}% of nodes now) and node ${nodeId} is not admitted yet: retry after ${position.nextStepAt?.toISOString()}`
        : `provider ${name} is being re-enabled gradually (${position.percent}% of nodes now): send a node id (fetch --node ID) to be considered`,
      {
        provider: name,
        percent: position.percent,
        node: nodeId ?? null,
        nextStepAt: position.nextStepAt?.toISOString() ?? null,
      },
    );
}
