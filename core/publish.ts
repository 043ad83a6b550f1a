import type {
  CommitVersionRequest,
  CompletedUpload,
  FileFormat,
  ManifestFile,
  StagedUpload,
  StageUploadsRequest,
  StageUploadsResponse,
  StartVersionRequest,
  StartVersionResponse,
  UploadPartsRequest,
  UploadPartsResponse,
  Version,
} from '../schemas/version.schema.js';
import { UPLOAD_TARGETS_PAGE } from '../schemas/version.schema.js';
import { assertVersionNameFree } from './aliases.js';
import { invalid, notFound, RegistryError } from './errors.js';
import { eventsOf } from './events.js';
import { findPathClash } from './file-paths.js';
import { assertMemoryBudgetAllowed } from './memory-fit.js';
import type { BlobStat, RegistryDeps, VersionRef } from './ports.js';
import { transitionCondition } from './version-state.js';

/** `onnx` for a path ending in `.onnx` (any case), `other` for every other file. */
export const formatOf = (path: string): FileFormat =>
  path.toLowerCase().endsWith('.onnx') ? 'onnx' : 'other';

/**
 * Refuses manifests a node could not lay out on disk (two names for one file, a file that is also a
 * folder, on any node's file system: `findPathClash`) and a sha256 declared with two sizes.
 */
function checkManifest(files: readonly ManifestFile[]): void {
  const clash = findPathClash(files.map((f) => f.path));
  if (clash) throw invalid(`files[${clash.index}].path`, clash.message);
  const sizeOf = new Map<string, number>();
  files.forEach((f, i) => {
    const known = sizeOf.get(f.sha256);
    if (known !== undefined && known !== f.size)
      throw invalid(
        `files[${i}].size`,
        `sha256 ${f.sha256} declared with two sizes (${known} and ${f.size})`,
      );
    sizeOf.set(f.sha256, f.size);
  });
}

/**
 * Declares a new version and its manifest. Answers with an upload target for each distinct blob the
 * registry does not hold yet; a re-publish that shares files with an earlier version uploads only
 * what changed. The version stays PENDING_UPLOAD until committed. Declaring again a version left
 * PENDING_UPLOAD (an interrupted publish) with the same declaration resumes it: new upload targets for
 * the blobs still missing. Any other existing version is ALREADY_EXISTS.
 */
export async function startVersion(
  deps: RegistryDeps,
  modelName: string,
  req: StartVersionRequest,
): Promise<StartVersionResponse> {
  const model = await deps.metadata.getModel(modelName);
  if (!model) throw notFound(`model ${modelName}`, { model: modelName });
  assertMemoryBudgetAllowed(req.memoryBudgetBytes, deps.settings);
  await assertVersionNameFree(deps, modelName, req.version);
  const files: ManifestFile[] = req.files.map((f) => ({ ...f, format: f.format ?? formatOf(f.path) }));
  checkManifest(files);
  const now = deps.clock.now().toISOString();
  const version = await createOrResume(deps, {
    model: modelName,
    version: req.version,
    provider: model.provider,
    status: 'PENDING_UPLOAD',
    files,
    totalSize: files.reduce((sum, f) => sum + f.size, 0),
    inputShapes: req.inputShapes,
    ...(Object.keys(req.inputValues).length > 0 ? { inputValues: req.inputValues } : {}),
    ...(req.memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes: req.memoryBudgetBytes }),
    publisher: req.publisher,
    createdAt: now,
    updatedAt: now,
    validation: { attempts: 0 },
  });
  const paged = req.pagedUploads || req.uploadsAfter !== undefined;
  const { missing, moreAfter } = await missingBlobsPage(
    deps,
    files,
    req.uploadsAfter,
    paged ? UPLOAD_TARGETS_PAGE : Number.POSITIVE_INFINITY,
  );
  const uploads = await Promise.all(
    missing.map(async (f) => ({
      sha256: f.sha256,
      size: f.size,
      ...(await deps.blobs.uploadTarget(f, deps.settings.urlTtlSeconds)),
    })),
  );
  return { version, uploads, ...(moreAfter ? { moreUploadsAfter: moreAfter } : {}) };
}

type NewVersion = Omit<Version, 'seq'>;

const fileKey = (f: ManifestFile) => JSON.stringify([f.path, f.size, f.sha256, f.format]);
/** JSON with object keys sorted: two declarations that differ only in key order are the same. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );

/**
 * The same declaration: the same files (path, size, sha256, format, in any order), input shapes,
 * input values and memory budget. An md5 the resuming declaration gives must be the one declared first;
 * one it leaves out is not a difference (the registry computes what the publisher does not declare).
 * The publisher's name and the time are not part of it.
 */
function sameDeclaration(existing: Version, input: NewVersion): boolean {
  const files = (v: { files: readonly ManifestFile[] }) => v.files.map(fileKey).sort().join('\n');
  const declaredMd5 = new Map(existing.files.map((f) => [f.path, f.md5]));
  return (
    files(existing) === files(input) &&
    input.files.every((f) => f.md5 === undefined || f.md5 === declaredMd5.get(f.path)) &&
    canonical(existing.inputShapes) === canonical(input.inputShapes) &&
    canonical(existing.inputValues ?? {}) === canonical(input.inputValues ?? {}) &&
    existing.memoryBudgetBytes === input.memoryBudgetBytes
  );
}

/** Creates the version, or returns the one an interrupted publish of the same declaration left. */
async function createOrResume(deps: RegistryDeps, input: NewVersion): Promise<Version> {
  try {
    return await deps.metadata.createVersion(input);
  } catch (e) {
    if (!(e instanceof RegistryError) || e.code !== 'ALREADY_EXISTS') throw e;
    const existing = await deps.metadata.getVersion({ model: input.model, version: input.version });
    if (existing?.status !== 'PENDING_UPLOAD') throw e;
    if (!sameDeclaration(existing, input))
      throw new RegistryError(
        'ALREADY_EXISTS',
        `version ${input.model}@${input.version} is already declared, with other files or settings, and waits for its uploads: publish this one under a new version string`,
        { model: input.model, version: input.version, status: existing.status },
      );
    return existing;
  }
}

/** Blobs looked up at once while missing blobs are gathered. */
const STAT_BATCH = 256;

/**
 * Distinct blobs of the manifest, in sha256 order after `after`, that are not stored, stored with another
 * size, or marked corrupt (their bytes failed their hash somewhere): a publish uploads those again and the
 * upload replaces them. At most `limit`; `moreAfter` (the last one's sha256) when more follow. Blobs are
 * looked up a batch at a time, so a version of 10 000 files costs about one lookup per blob over all its
 * pages and never 10 000 lookups at once.
 */
async function missingBlobsPage(
  deps: RegistryDeps,
  files: readonly ManifestFile[],
  after: string | undefined,
  limit = UPLOAD_TARGETS_PAGE,
): Promise<{ missing: ManifestFile[]; moreAfter?: string }> {
  const distinct = [...new Map(files.map((f) => [f.sha256, f])).values()]
    .filter((f) => after === undefined || f.sha256 > after)
    .sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  const missing: ManifestFile[] = [];
  for (let start = 0; start < distinct.length; start += STAT_BATCH) {
    const batch = distinct.slice(start, start + STAT_BATCH);
    const stats = await Promise.all(batch.map((f) => deps.blobs.stat(f.sha256)));
    for (const [i, f] of batch.entries()) {
      if (isStoredIntact(stats[i], f.size)) continue;
      if (missing.length === limit) return { missing, moreAfter: missing.at(-1)!.sha256 };
      missing.push(f);
    }
  }
  return { missing };
}

/** Every missing blob of the manifest (missingBlobsPage without a limit). */
const missingBlobs = async (deps: RegistryDeps, files: readonly ManifestFile[]) =>
  (await missingBlobsPage(deps, files, undefined, Number.POSITIVE_INFINITY)).missing;

const isStoredIntact = (stat: BlobStat | null | undefined, size: number): boolean =>
  stat?.size === size && !stat.corrupt;

/**
 * Upload URLs for parts of a blob that `startVersion` planned as a multipart upload, each signed with
 * the part's SHA-256. Asked for while uploading rather than all at start: a part's URL cannot be signed
 * before its checksum is known, and a long upload would outlive URLs signed at its start.
 */
export async function uploadPartTargets(
  deps: RegistryDeps,
  ref: VersionRef,
  req: UploadPartsRequest,
): Promise<UploadPartsResponse> {
  const version = await pendingVersion(deps, ref);
  const file = version.files.find((f) => f.sha256 === req.sha256);
  if (!file) throw invalid('sha256', `${req.sha256} is not a file of ${ref.model}@${ref.version}`);
  if (!deps.blobs.partUploadTargets)
    throw invalid('uploadId', 'this registry takes every file in one upload, never in parts');
  const blob = { sha256: file.sha256, size: file.size };
  return {
    parts: await deps.blobs.partUploadTargets(blob, req.uploadId, req.parts, deps.settings.urlTtlSeconds),
  };
}

async function pendingVersion(deps: RegistryDeps, ref: VersionRef): Promise<Version> {
  const version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  if (version.status !== 'PENDING_UPLOAD')
    throw new RegistryError(
      'CONFLICT',
      `${ref.model}@${ref.version} is ${version.status}: it takes no more uploads`,
      { ...ref, status: version.status },
    );
  return version;
}

/**
 * Signed targets for files a publisher sends while it hashes them (their sha256 is named at commit, see
 * `claimStagedUploads`); null for a file the store very likely holds, and for every file past the store's
 * limit of staged uploads (those are hashed first and uploaded as usual: staging only saves time);
 * `staged: false` where the blob store takes no staged uploads (S3).
 */
export async function stageUploads(
  deps: RegistryDeps,
  req: StageUploadsRequest,
): Promise<StageUploadsResponse> {
  const target = deps.blobs.stagedUploadTarget?.bind(deps.blobs);
  if (!target) return { staged: false, uploads: [] };
  const ttl = deps.settings.urlTtlSeconds;
  const uploads: StageUploadsResponse['uploads'] = [];
  let full = false;
  for (const file of req.files) {
    if (!full)
      try {
        uploads.push(await target(file, ttl));
        continue;
      } catch (e) {
        if (!(e instanceof RegistryError) || e.code !== 'UNAVAILABLE') throw e;
        full = true;
      }
    uploads.push(null);
  }
  return { staged: true, uploads };
}

/**
 * Seals a version once every blob is stored: PENDING_UPLOAD → UPLOADED, then queued for validation.
 * Multipart uploads named in the request are assembled and staged uploads claimed first. Idempotent:
 * committing a version that is already past PENDING_UPLOAD returns it unchanged, so a client may retry a
 * commit whose answer it lost.
 */
export async function commitVersion(
  deps: RegistryDeps,
  ref: VersionRef,
  req: Partial<CommitVersionRequest> = {},
): Promise<Version> {
  const version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  if (version.status !== 'PENDING_UPLOAD') return version;
  await completeUploads(deps, version, req.multipart ?? []);
  await claimStagedUploads(deps, version, req.staged ?? []);
  const missing = await missingBlobs(deps, version.files);
  if (missing.length > 0) {
    const missingShas = new Set(missing.map((m) => m.sha256));
    throw new RegistryError('BLOBS_MISSING', `${missing.length} file(s) not uploaded yet`, {
      missing: version.files
        .filter((f) => missingShas.has(f.sha256))
        .map((f) => ({ path: f.path, sha256: f.sha256 })),
    });
  }
  let committed: Version;
  try {
    committed = await deps.metadata.updateVersion(ref, transitionCondition(['PENDING_UPLOAD'], 'UPLOADED'), {
      status: 'UPLOADED',
      updatedAt: deps.clock.now().toISOString(),
    });
  } catch (e) {
    // A commit of the same version that ran alongside (a client retrying one whose answer was slow)
    // won the write: the version is committed and queued by it, and this commit answers as a retry does.
    if (!(e instanceof RegistryError) || e.code !== 'CONFLICT') throw e;
    const current = await deps.metadata.getVersion(ref);
    if (!current || current.status === 'PENDING_UPLOAD') throw e;
    return current;
  }
  await deps.queue.enqueue(ref);
  eventsOf(deps).versionCommitted({ version: committed });
  return committed;
}

/**
 * The size of each blob of the version, by sha256, once every upload in `uploads` (the request's field
 * `field`) names one of them: INVALID_REQUEST naming the first that does not.
 */
function blobSizesNamed(
  version: Version,
  field: string,
  uploads: readonly { sha256: string }[],
): Map<string, number> {
  const sizeOf = new Map(version.files.map((f) => [f.sha256, f.size]));
  uploads.forEach((u, i) => {
    if (!sizeOf.has(u.sha256))
      throw invalid(
        `${field}[${i}].sha256`,
        `${u.sha256} is not a file of ${version.model}@${version.version}`,
      );
  });
  return sizeOf;
}

/**
 * Assembles the multipart uploads of the version's blobs. A blob already stored with its size (a
 * retried commit, another publisher of the same file) is not assembled again. Whole-file integrity is
 * not checked here: S3's multipart checksum is a checksum of the part checksums, not the file's
 * SHA-256. Per-part checksums catch bytes corrupted in transit; the validator, which re-hashes every
 * byte it reads, catches a wrong file (FAILED with CHECKSUM_MISMATCH).
 */
async function completeUploads(
  deps: RegistryDeps,
  version: Version,
  uploads: readonly CompletedUpload[],
): Promise<void> {
  if (uploads.length === 0) return;
  const complete = deps.blobs.completeUpload?.bind(deps.blobs);
  if (!complete) throw invalid('multipart', 'this registry takes every file in one upload, never in parts');
  const sizeOf = blobSizesNamed(version, 'multipart', uploads);
  await Promise.all(
    uploads.map(async (u) => {
      const blob = { sha256: u.sha256, size: sizeOf.get(u.sha256)! };
      if (isStoredIntact(await deps.blobs.stat(blob.sha256), blob.size)) return;
      await complete(blob, u.uploadId, u.parts);
    }),
  );
}

/**
 * Claims the staged uploads the publisher names as the bytes of the version's blobs. The store hashed
 * them as they arrived and refuses any whose sha256 or size differ (CHECKSUM_MISMATCH): a file that changed
 * between the publisher's hash and its upload, or bytes corrupted on the way, is never stored under the
 * declared hash. Every claim is settled, good ones stored and bad ones dropped, before the first refusal
 * is thrown (naming the file and `staged[i]`), so nothing staged is left behind by a refused commit. An
 * upload already claimed, for a blob now stored intact, is no error: a commit retried after a refusal or
 * a lost answer claims again what it claimed before.
 */
async function claimStagedUploads(
  deps: RegistryDeps,
  version: Version,
  staged: readonly StagedUpload[],
): Promise<void> {
  if (staged.length === 0) return;
  const claim = deps.blobs.claimStagedUpload?.bind(deps.blobs);
  if (!claim)
    throw invalid(
      'staged',
      'this registry takes no staged uploads: upload to the targets of POST …/versions',
    );
  const sizeOf = blobSizesNamed(version, 'staged', staged);
  const refusals: RegistryError[] = [];
  for (const [i, u] of staged.entries()) {
    const blob = { sha256: u.sha256, size: sizeOf.get(u.sha256)! };
    try {
      await claim(u.uploadId, blob);
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      const spent = e.code === 'INVALID_REQUEST' && e.details?.field === 'uploadId';
      if (spent && isStoredIntact(await deps.blobs.stat(blob.sha256), blob.size)) continue;
      const path = version.files.find((f) => f.sha256 === u.sha256)!.path;
      const field = spent ? `staged[${i}].uploadId` : `staged[${i}].sha256`;
      refusals.push(new RegistryError(e.code, `${path}: ${e.message}`, { ...e.details, field, path }));
    }
  }
  if (refusals.length > 0) throw refusals[0];
}
