import type { DownloadPlan } from '../schemas/version.schema.js';
import { RegistryError } from './errors.js';
import { fitsMemory, MEMORY_HEADROOM, versionPeakBytes } from './memory-fit.js';
import type { RegistryDeps } from './ports.js';
import { checkProviderAdmits } from './providers.js';
import { resolveVersion } from './resolve.js';
import { isServable } from './version-state.js';

/**
 * What a node needs to fetch NAME@REF: the manifest and a download target per file. Refused unless
 * the version is VERIFIED: an unverified, failed or quarantined version never reaches a node, nor does a
 * version of a disabled provider (or of a ramping one, to a node the ramp does not admit yet).
 */
export async function planDownload(
  deps: RegistryDeps,
  model: string,
  ref: string,
  node: { freeMemoryBytes?: number | undefined; node?: string | undefined } = {},
): Promise<DownloadPlan> {
  const version = await resolveVersion(deps, model, ref);
  if (!isServable(version.status))
    throw new RegistryError(
      'NOT_VERIFIED',
      `${model}@${version.version} is ${version.status}: only VERIFIED versions can be fetched`,
      {
        model,
        version: version.version,
        status: version.status,
        ...(version.statusReason ? { reason: version.statusReason } : {}),
      },
    );
  // A disabled provider (or a ramp that does not admit this node yet) is refused before any byte moves.
  await checkProviderAdmits(deps, version.provider, node.node);
  if (node.freeMemoryBytes !== undefined && version.report) {
    const peak = versionPeakBytes(version.report);
    if (!fitsMemory(peak, node.freeMemoryBytes))
      throw new RegistryError(
        'INSUFFICIENT_MEMORY',
        `${model}@${version.version} peaks at ${peak} bytes; × ${MEMORY_HEADROOM} headroom that needs ${Math.ceil(peak * MEMORY_HEADROOM)} bytes, the node has ${node.freeMemoryBytes} free`,
        {
          model,
          version: version.version,
          peakBytes: peak,
          requiredBytes: Math.ceil(peak * MEMORY_HEADROOM),
          freeMemoryBytes: node.freeMemoryBytes,
        },
      );
  }
  const files = await Promise.all(
    version.files.map(async (f) => ({
      ...f,
      download: await deps.blobs.downloadTarget(f, deps.settings.urlTtlSeconds),
    })),
  );
  return { version, files };
}
