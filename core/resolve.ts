import { VersionString } from '../schemas/names.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { notFound } from './errors.js';
import type { RegistryDeps } from './ports.js';

/**
 * Turns NAME@REF into a version. REF is, in this order: `latest` (the highest-sequence VERIFIED
 * version), a version string, or an alias. Alias names that equal a version of the model are refused
 * when set, so the order never hides an alias.
 */
export async function resolveVersion(deps: RegistryDeps, model: string, ref: string): Promise<Version> {
  const { metadata } = deps;
  if (!(await metadata.getModel(model))) throw notFound(`model ${model}`, { model });
  if (ref === 'latest') {
    const latest = await metadata.latestVerified(model);
    if (!latest) throw notFound(`a VERIFIED version of ${model} (for latest)`, { model, ref });
    return latest;
  }
  if (VersionString.safeParse(ref).success) {
    const version = await metadata.getVersion({ model, version: ref });
    if (version) return version;
  }
  const alias = await metadata.getAlias(model, ref);
  if (alias) {
    const version = await metadata.getVersion({ model, version: alias.version });
    if (version) return version;
  }
  throw notFound(`version or alias ${model}@${ref}`, { model, ref });
}
