import type { ValidationReport } from '../schemas/report.schema.js';
import type { Version, VersionStatus } from '../schemas/version.schema.js';
import { notFound } from './errors.js';
import type { Page, PageRequest, RegistryDeps, VersionRef } from './ports.js';

export async function getVersion(deps: RegistryDeps, ref: VersionRef): Promise<Version> {
  const version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  return version;
}

export async function listVersions(
  deps: RegistryDeps,
  model: string,
  page: PageRequest & { status?: VersionStatus | undefined },
): Promise<Page<Version>> {
  if (!(await deps.metadata.getModel(model))) throw notFound(`model ${model}`, { model });
  return deps.metadata.listVersions(model, page);
}

export async function listReports(
  deps: RegistryDeps,
  ref: VersionRef,
  page: PageRequest,
): Promise<Page<ValidationReport>> {
  await getVersion(deps, ref);
  return deps.metadata.listReports(ref, page);
}
