import { AliasName, VersionString } from '../schemas/names.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { notFound } from './errors.js';
import { eventsOf } from './events.js';
import { eachItem } from './pages.js';
import type { RegistryDeps } from './ports.js';
import { isServable } from './version-state.js';

/**
 * Turns NAME@REF into a version. REF is, in this order: `latest` (the highest-sequence VERIFIED
 * version), an alias, or a version string. Versions and aliases of a model share one name space
 * (core/aliases.ts): a version string may not be `latest` nor equal an alias of its model, and an alias
 * may not equal a version string, each checked by the store in the same write. So at most one of the
 * three matches a REF. Only a registry written before that rule can hold a version and an alias of one
 * name: then the alias (an admin's choice) wins over the version (a publisher's), which an admin can
 * deprecate.
 *
 * Graceful degradation (the runbook's): an alias whose version can no longer be served (QUARANTINED
 * after field failures, or being re-validated) resolves to the last VERIFIED version before it, so
 * `@production` keeps working. `latest` needs no fallback: it only ever sees VERIFIED versions. A
 * version asked for by its own string is returned as it is, and fetch refuses it if it is not VERIFIED.
 */
export async function resolveVersion(deps: RegistryDeps, model: string, ref: string): Promise<Version> {
  const { metadata } = deps;
  // Nodes resolve at every deploy. No read is spent on a name the ref cannot be: `1.2.0` is never an
  // alias (AliasName has no dots, digits first or capitals) and `latest` is neither. A ref that may be
  // both is read as an alias first (what fleets resolve, and what wins over a version of the same name),
  // and as a version only when no such alias exists: an alias costs its own read and its target's, a
  // version named like an alias one read more. The model is read only when nothing matched (to say which
  // is missing).
  if (ref === 'latest') {
    const latest = await metadata.latestVerified(model);
    if (latest) return latest;
    await assertModelExists(deps, model);
    throw notFound(`a VERIFIED version of ${model} (for latest)`, { model, ref });
  }
  if (AliasName.safeParse(ref).success) {
    const alias = await metadata.getAlias(model, ref);
    const target = alias && (await metadata.getVersion({ model, version: alias.version }));
    if (target) return servableOrFallback(deps, ref, target);
  }
  if (VersionString.safeParse(ref).success) {
    const version = await metadata.getVersion({ model, version: ref });
    if (version) return version;
  }
  await assertModelExists(deps, model);
  throw notFound(`version or alias ${model}@${ref}`, { model, ref });
}

async function assertModelExists(deps: RegistryDeps, model: string): Promise<void> {
  if (!(await deps.metadata.getModel(model))) throw notFound(`model ${model}`, { model });
}

/** `announce`: emit aliasFellBack (for a resolution a client asked for, not for a health read). */
async function servableOrFallback(
  deps: RegistryDeps,
  alias: string,
  target: Version,
  announce = true,
): Promise<Version> {
  if (isServable(target.status)) return target;
  const fallback = await lastVerifiedBefore(deps, target.model, target.seq);
  if (!fallback) return target;
  if (announce) eventsOf(deps).aliasFellBack({ model: target.model, alias, target, served: fallback });
  return fallback;
}

/** The highest-seq VERIFIED version with a sequence number below `seq`, or null. */
export async function lastVerifiedBefore(
  deps: RegistryDeps,
  model: string,
  seq: number,
): Promise<Version | null> {
  const verified = eachItem((cursor) =>
    deps.metadata.listVersions(model, { status: 'VERIFIED', limit: 50, cursor }),
  );
  for await (const v of verified) if (v.seq < seq) return v;
  return null;
}

/**
 * The version a model serves now: its `production` alias (with the fallback above) when it has one,
 * else `latest`; null when there is nothing VERIFIED to serve.
 */
export async function servedVersion(deps: RegistryDeps, model: string): Promise<Version | null> {
  const alias = await deps.metadata.getAlias(model, 'production');
  if (alias) {
    const target = await deps.metadata.getVersion({ model, version: alias.version });
    if (target) {
      const served = await servableOrFallback(deps, 'production', target, false);
      if (isServable(served.status)) return served;
    }
  }
  return deps.metadata.latestVerified(model);
}
