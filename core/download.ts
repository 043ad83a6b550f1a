import type { DownloadPlan } from '../schemas/version.schema.js';
import { RegistryError } from './errors.js';
import type { RegistryDeps } from './ports.js';
import { resolveVersion } from './resolve.js';
import { isServable } from './version-state.js';

/**
 * What a node needs to fetch NAME@REF: the manifest and a download target per file. Refused unless
 * the version is VERIFIED: an unverified, failed or quarantined version never reaches a node.
 */
export async function planDownload(deps: RegistryDeps, model: string, ref: string): Promise<DownloadPlan> {
  const version = await resolveVersion(deps, model, ref);
  if (!isServable(version.status))
    throw new RegistryError(
      'NOT_VERIFIED',
      `${model}@${version.version} is ${version.status}: only VERIFIED versions can be fetched`,
      { model, version: version.version, status: version.status, ...(version.statusReason ? { reason: version.statusReason } : {}) },
    );
  const files = await Promise.all(
    version.files.map(async (f) => ({ ...f, download: await deps.blobs.downloadTarget(f, deps.settings.urlTtlSeconds) })),
  );
  return { version, files };
}
