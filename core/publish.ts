import type {
  FileFormat,
  ManifestFile,
  StartVersionRequest,
  StartVersionResponse,
  Version,
} from '../schemas/version.schema.js';
import { invalid, notFound, RegistryError } from './errors.js';
import { eventsOf } from './events.js';
import type { RegistryDeps, VersionRef } from './ports.js';
import { transitionCondition } from './version-state.js';

export const formatOf = (path: string): FileFormat =>
  path.toLowerCase().endsWith('.onnx') ? 'onnx' : 'other';

/** Refuses manifests a node could not lay out on disk: duplicate paths, a file that is also a folder. */
function checkManifest(files: readonly ManifestFile[]): void {
  const paths = new Set<string>();
  const sizeOf = new Map<string, number>();
  files.forEach((f, i) => {
    if (paths.has(f.path)) throw invalid(`files[${i}].path`, `duplicate path ${f.path}`);
    paths.add(f.path);
    const known = sizeOf.get(f.sha256);
    if (known !== undefined && known !== f.size)
      throw invalid(
        `files[${i}].size`,
        `sha256 ${f.sha256} declared with two sizes (${known} and ${f.size})`,
      );
    sizeOf.set(f.sha256, f.size);
  });
  files.forEach((f, i) => {
    const parts = f.path.split('/');
    for (let n = 1; n < parts.length; n++) {
      const dir = parts.slice(0, n).join('/');
      if (paths.has(dir)) throw invalid(`files[${i}].path`, `${dir} is both a file and a folder`);
    }
  });
}

/**
 * Declares a new version and its manifest. Answers with an upload target for each distinct blob the
 * registry does not hold yet; a re-publish that shares files with an earlier version uploads only
 * what changed. The version stays PENDING_UPLOAD until committed.
 */
export async function startVersion(
  deps: RegistryDeps,
  modelName: string,
  req: StartVersionRequest,
): Promise<StartVersionResponse> {
  const model = await deps.metadata.getModel(modelName);
  if (!model) throw notFound(`model ${modelName}`, { model: modelName });
  const files: ManifestFile[] = req.files.map((f) => ({ ...f, format: f.format ?? formatOf(f.path) }));
  checkManifest(files);
  const now = deps.clock.now().toISOString();
  const version = await deps.metadata.createVersion({
    model: modelName,
    version: req.version,
    provider: model.provider,
    status: 'PENDING_UPLOAD',
    files,
    totalSize: files.reduce((sum, f) => sum + f.size, 0),
    inputShapes: req.inputShapes,
    ...(req.memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes: req.memoryBudgetBytes }),
    publisher: req.publisher,
    createdAt: now,
    updatedAt: now,
    validation: { attempts: 0 },
  });
  const missing = await missingBlobs(deps, files);
  const uploads = await Promise.all(
    missing.map(async (f) => ({
      sha256: f.sha256,
      size: f.size,
      ...(await deps.blobs.uploadTarget(f, deps.settings.urlTtlSeconds)),
    })),
  );
  return { version, uploads };
}

/** Distinct blobs of the manifest that are not stored, or stored with another size. */
async function missingBlobs(deps: RegistryDeps, files: readonly ManifestFile[]): Promise<ManifestFile[]> {
  const distinct = [...new Map(files.map((f) => [f.sha256, f])).values()];
  const stats = await Promise.all(distinct.map((f) => deps.blobs.stat(f.sha256)));
  return distinct.filter((f, i) => stats[i]?.size !== f.size);
}

/**
 * Seals a version once every blob is stored: PENDING_UPLOAD → UPLOADED, then queued for validation.
 * Idempotent: committing a version that is already past PENDING_UPLOAD returns it unchanged, so a
 * client may retry a commit whose answer it lost.
 */
export async function commitVersion(deps: RegistryDeps, ref: VersionRef): Promise<Version> {
  const version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  if (version.status !== 'PENDING_UPLOAD') return version;
  const missing = await missingBlobs(deps, version.files);
  if (missing.length > 0) {
    const missingShas = new Set(missing.map((m) => m.sha256));
    throw new RegistryError('BLOBS_MISSING', `${missing.length} file(s) not uploaded yet`, {
      missing: version.files
        .filter((f) => missingShas.has(f.sha256))
        .map((f) => ({ path: f.path, sha256: f.sha256 })),
    });
  }
  const committed = await deps.metadata.updateVersion(
    ref,
    transitionCondition(['PENDING_UPLOAD'], 'UPLOADED'),
    { status: 'UPLOADED', updatedAt: deps.clock.now().toISOString() },
  );
  await deps.queue.enqueue(ref);
  eventsOf(deps).versionCommitted({ version: committed });
  return committed;
}
