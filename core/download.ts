import { VersionString } from '../schemas/names.schema.js';
import type { DownloadPlan, Version } from '../schemas/version.schema.js';
import { invalid, notFound, RegistryError } from './errors.js';
import { fitsMemory, MEMORY_HEADROOM, versionPeakBytes } from './memory-fit.js';
import type { RegistryDeps } from './ports.js';
import { checkProviderAdmits } from './providers.js';
import { resolveVersion } from './resolve.js';
import { isServable } from './version-state.js';

/**
 * The most files one page of a download plan signs: a page stays far below Lambda's 6 MB response limit
 * (about 1.5 KB of presigned URL per file, plus the version's manifest) and signs in milliseconds.
 */
export const DOWNLOAD_PAGE_FILES = 500;

/**
 * What a node needs to fetch NAME@REF: the manifest and a download target per file, one page of
 * DOWNLOAD_PAGE_FILES files at a time. A page's `nextCursor` pins the version the first page resolved
 * (an alias that moves meanwhile does not mix two versions' files); every page is checked afresh, so a
 * version quarantined or a provider disabled between pages is refused. Refused unless
 * the version is VERIFIED: an unverified, failed or quarantined version never reaches a node, nor does a
 * version of a disabled provider (or of a ramping one, to a node the ramp does not admit yet).
 */
export async function planDownload(
  deps: RegistryDeps,
  model: string,
  ref: string,
  node: {
    freeMemoryBytes?: number | undefined;
    node?: string | undefined;
    /** The previous page's `nextCursor`. INVALID_REQUEST (field `cursor`) for one not of this plan. */
    cursor?: string | undefined;
  } = {},
): Promise<DownloadPlan> {
  const start = node.cursor === undefined ? undefined : decodePlanCursor(node.cursor, ref);
  const version = start
    ? await pinnedVersion(deps, model, start.version)
    : await resolveVersion(deps, model, ref);
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
  const offset = start?.offset ?? 0;
  if (offset >= Math.max(version.files.length, 1))
    throw invalid('cursor', `points past the ${version.files.length} files of ${model}@${version.version}`);
  const end = Math.min(offset + DOWNLOAD_PAGE_FILES, version.files.length);
  const files = await Promise.all(
    version.files.slice(offset, end).map(async (f) => ({
      ...f,
      download: await deps.blobs.downloadTarget(f, deps.settings.urlTtlSeconds),
    })),
  );
  if (end === version.files.length) return { version, files };
  return { version, files, nextCursor: encodePlanCursor({ ref, version: version.version, offset: end }) };
}

interface PlanCursor {
  readonly ref: string;
  readonly version: string;
  readonly offset: number;
}

/** base64url of the JSON `[ref, version, offset]`. */
const encodePlanCursor = (c: PlanCursor): string =>
  Buffer.from(JSON.stringify([c.ref, c.version, c.offset])).toString('base64url');

/**
 * The cursor's version and offset, checked (the schema bounds its length): made for this `ref`, a valid
 * version string, a positive integer offset. INVALID_REQUEST (field `cursor`) otherwise.
 */
function decodePlanCursor(cursor: string, ref: string): PlanCursor {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 3 ||
    decoded[0] !== ref ||
    !VersionString.safeParse(decoded[1]).success ||
    !Number.isSafeInteger(decoded[2]) ||
    decoded[2] < 1
  )
    throw invalid('cursor', `not a cursor of the download plan of ${ref}`);
  return { ref, version: decoded[1] as string, offset: decoded[2] as number };
}

/** The version a cursor pinned; NOT_FOUND (details `model`, `version`) if it is gone. */
async function pinnedVersion(deps: RegistryDeps, model: string, version: string): Promise<Version> {
  const found = await deps.metadata.getVersion({ model, version });
  if (!found) throw notFound(`version ${model}@${version}`, { model, version });
  return found;
}
