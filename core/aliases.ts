import type { Alias } from '../schemas/version.schema.js';
import { notFound, RegistryError } from './errors.js';
import type { RegistryDeps } from './ports.js';
import { isServable } from './version-state.js';

/** Points an alias at a VERIFIED version. The store re-checks VERIFIED in the same write. */
export async function setAlias(
  deps: RegistryDeps,
  model: string,
  alias: string,
  version: string,
): Promise<Alias> {
  const { metadata } = deps;
  if (!(await metadata.getModel(model))) throw notFound(`model ${model}`, { model });
  if (await metadata.getVersion({ model, version: alias }))
    throw new RegistryError('CONFLICT', `alias ${alias} would shadow version ${model}@${alias}`, {
      field: 'alias',
    });
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

export async function listAliases(deps: RegistryDeps, model: string): Promise<Alias[]> {
  if (!(await deps.metadata.getModel(model))) throw notFound(`model ${model}`, { model });
  return deps.metadata.listAliases(model);
}

export async function deleteAlias(deps: RegistryDeps, model: string, alias: string): Promise<void> {
  if (!(await deps.metadata.getAlias(model, alias)))
    throw notFound(`alias ${model}@${alias}`, { model, alias });
  await deps.metadata.deleteAlias(model, alias);
}
