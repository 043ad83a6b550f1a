import type { ValidationReport } from '../schemas/report.schema.js';
import type { Version, VersionStatus } from '../schemas/version.schema.js';
import { notFound } from './errors.js';
import { pageWithinBytes } from './pages.js';
import type { Page, PageRequest, RegistryDeps, VersionRef } from './ports.js';
import { sourcesOf, transitionCondition } from './version-state.js';

/**
 * The version `ref` names.
 * @throws RegistryError NOT_FOUND when it does not exist.
 */
export async function getVersion(deps: RegistryDeps, ref: VersionRef): Promise<Version> {
  const version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  return version;
}

/**
 * One page of a model's versions, optionally of one status.
 * @throws RegistryError NOT_FOUND when the model does not exist.
 */
export async function listVersions(
  deps: RegistryDeps,
  model: string,
  page: PageRequest & { status?: VersionStatus | undefined },
): Promise<Page<Version>> {
  if (!(await deps.metadata.getModel(model))) throw notFound(`model ${model}`, { model });
  return pageWithinBytes(page.limit, (limit) => deps.metadata.listVersions(model, { ...page, limit }));
}

/**
 * One page of a version's validation reports (every attempt), newest first.
 * @throws RegistryError NOT_FOUND when the version does not exist.
 */
export async function listReports(
  deps: RegistryDeps,
  ref: VersionRef,
  page: PageRequest,
): Promise<Page<ValidationReport>> {
  await getVersion(deps, ref);
  return pageWithinBytes(page.limit, (limit) => deps.metadata.listReports(ref, { ...page, limit }));
}

/**
 * An admin retires a version: any state → DEPRECATED (DESIGN.md's state machine), in one conditional
 * write. A DEPRECATED version is never served again: fetch refuses it, `latest` skips it, and an alias
 * that points at it serves the last VERIFIED version before it. Deprecating it again changes nothing.
 */
export async function deprecateVersion(
  deps: RegistryDeps,
  ref: VersionRef,
  reason: string | undefined,
): Promise<Version> {
  const version = await getVersion(deps, ref);
  if (version.status === 'DEPRECATED') return version;
  const at = deps.clock.now().toISOString();
  return deps.metadata.updateVersion(ref, transitionCondition(sourcesOf('DEPRECATED'), 'DEPRECATED'), {
    status: 'DEPRECATED',
    deprecation: { at, ...(reason === undefined ? {} : { reason }) },
    updatedAt: at,
  });
}
