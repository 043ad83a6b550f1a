import type { Alias } from '../schemas/version.schema.js';
import { invalid, notFound, RegistryError } from './errors.js';
import type { RegistryDeps } from './ports.js';
import { isServable } from './version-state.js';

/**
 * Names a model's versions and aliases share: `@REF` resolves by one name space (core/resolve.ts), so
 * a version string may not equal an alias of its model or `latest`, and an alias may not equal a
 * version string. Otherwise a publisher could publish a version named `production` and take over
 * `@production` (an admin's alias) with a publisher's role.
 */
export const IMPLICIT_REF = 'latest';

/** CONFLICT (409), field `version`: the version string is taken by an alias of the model. */
export const versionShadowsAlias = (model: string, version: string) =>
  new RegistryError(
    'CONFLICT',
    `version: ${model}@${version} would shadow the alias ${version} of ${model}; choose another version string`,
    { field: 'version', model, version },
  );

/** CONFLICT (409), field `alias`: the alias is taken by a version string of the model. */
export const aliasShadowsVersion = (model: string, alias: string) =>
  new RegistryError(
    'CONFLICT',
    `alias: ${alias} would shadow version ${model}@${alias}; choose another alias name`,
    { field: 'alias', model, alias },
  );

/**
 * Refuses a version string that is `latest` (400, field `version`) or an alias of the model (409).
 * The stores re-check the alias in the same write as the version, so a racing alias cannot slip in.
 */
export async function assertVersionNameFree(
  deps: RegistryDeps,
  model: string,
  version: string,
): Promise<void> {
  if (version === IMPLICIT_REF)
    throw invalid('version', `${IMPLICIT_REF} is the implicit alias of the newest VERIFIED version`);
  if (await deps.metadata.getAlias(model, version)) throw versionShadowsAlias(model, version);
}

/**
 * Points an alias at a VERIFIED version. The store re-checks, in the same write, that the target is
 * VERIFIED and that no version of the model is named like the alias.
 */
export async function setAlias(
  deps: RegistryDeps,
  model: string,
  alias: string,
  version: string,
): Promise<Alias> {
  const { metadata } = deps;
  if (!(await metadata.getModel(model))) throw notFound(`model ${model}`, { model });
  if (alias === IMPLICIT_REF) throw invalid('alias', `${IMPLICIT_REF} is implicit and cannot be set`);
  if (await metadata.getVersion({ model, version: alias })) throw aliasShadowsVersion(model, alias);
  const target = await metadata.getVersion({ model, version });
  if (!target) throw notFound(`version ${model}@${version}`, { model, version });
  if (!isServable(target.status))
    throw new RegistryError(
      'NOT_VERIFIED',
      `${model}@${version} is ${target.status}: only a VERIFIED version can be aliased`,
      {
        model,
        version,
        status: target.status,
      },
    );
  const record: Alias = { model, alias, version, updatedAt: deps.clock.now().toISOString() };
  await metadata.setAlias(record);
  return record;
}

/**
 * The aliases of `model`, each with the version it points at.
 * @throws RegistryError NOT_FOUND when the model does not exist.
 */
export async function listAliases(deps: RegistryDeps, model: string): Promise<Alias[]> {
  if (!(await deps.metadata.getModel(model))) throw notFound(`model ${model}`, { model });
  return deps.metadata.listAliases(model);
}

/**
 * Removes alias `model@alias`; the version it pointed at is untouched.
 * @throws RegistryError NOT_FOUND when the alias does not exist.
 */
export async function deleteAlias(deps: RegistryDeps, model: string, alias: string): Promise<void> {
  if (!(await deps.metadata.getAlias(model, alias)))
    throw notFound(`alias ${model}@${alias}`, { model, alias });
  await deps.metadata.deleteAlias(model, alias);
}
