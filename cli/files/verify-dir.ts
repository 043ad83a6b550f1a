import type { Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryError } from '../../core/errors.js';
import type { ManifestFile } from '../../schemas/version.schema.js';
import { rethrowFsError } from './fs-errors.js';
import { type Sha256Result, sha256File } from './hash-file.js';
import { createSha256Pool, poolThreads, type Sha256Pool } from './hash-pool.js';
import type { InstalledMetadata } from './metadata.js';
import { readMetadataFile } from './metadata-file.js';
import { METADATA_FILE, SIDECAR_FILES } from './sidecar-files.js';

export type ProblemKind = 'missing' | 'mismatch' | 'size' | 'extra';

export interface VerifyProblem {
  path: string;
  kind: ProblemKind;
}

export interface VerifyResult {
  ok: boolean;
  model: string;
  version: string;
  problems: VerifyProblem[];
}

/** The folder itself first: a missing one is named as such, not as a folder without a manifest. */
async function assertFolder(dir: string): Promise<void> {
  const stats = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    return rethrowFsError(err, `cannot read ${dir}`);
  });
  if (!stats)
    throw new RegistryError(
      'FILE_MISSING',
      `the folder ${dir} does not exist: check the path, or fetch the version into it with \`modelgate fetch NAME@VERSION --dest ${dir}\``,
      { dir },
    );
  if (!stats.isDirectory())
    throw new RegistryError('FILE_MISSING', `${dir} is a file, not a folder written by \`modelgate fetch\``, {
      dir,
    });
}

export async function readMetadata(dir: string): Promise<InstalledMetadata> {
  const { path, text } = await readMetadataText(dir);
  return parseMetadata(path, safeJson(text));
}

/** The folder checked, then the text of its manifest (not yet trusted). */
async function readMetadataText(dir: string): Promise<{ path: string; text: string }> {
  await assertFolder(dir);
  const path = join(dir, METADATA_FILE);
  try {
    return { path, text: await readMetadataFile(path) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new RegistryError(
        'FILE_MISSING',
        `${dir} has no ${METADATA_FILE}: it was not written by \`modelgate fetch\` (or the file was removed); verify the folder a fetch wrote, or fetch into this one first (\`modelgate fetch NAME@VERSION --dest ${dir}\`)`,
        { dir },
      );
    return rethrowFsError(err, `cannot read ${path}`);
  }
}

/**
 * The manifest checked against its schema; zod and the schemas load here, not at start-up. A manifest
 * listing more files than a version may hold is refused before zod walks them (a hostile one of a million
 * entries would take minutes); an invalid one is named by its first issue, on one line.
 */
async function parseMetadata(path: string, raw: unknown): Promise<InstalledMetadata> {
  const { InstalledMetadata } = await import('./metadata.js');
  const { MAX_VERSION_FILES } = await import('../../schemas/version.schema.js');
  const files = (raw as { files?: unknown } | null)?.files;
  if (Array.isArray(files) && files.length > MAX_VERSION_FILES)
    throw invalidMetadata(
      path,
      `files: lists ${files.length} files, a version holds at most ${MAX_VERSION_FILES}`,
    );
  const parsed = InstalledMetadata.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalidMetadata(
      path,
      `${issue?.path.map(String).join('.') || 'manifest'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

const invalidMetadata = (path: string, why: string) =>
  new RegistryError('CONFIG_INVALID', `${path} is not a valid ${METADATA_FILE} (${why})`, { path });

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * lstat of `rel` below `dir`, only if every folder on the way is a real folder (lstat), never a symbolic
 * link: a file reached through `rec -> /srv/other` is not in the folder, and reading it would vouch for
 * bytes outside it. Undefined when it is absent or reached through a link. `dir` itself may be a link
 * (DEST is one, to its content folder).
 */
async function lstatInside(dir: string, rel: string): Promise<Stats | undefined> {
  const segments = rel.split('/');
  for (let i = 1; i < segments.length; i++) {
    const folder = await lstatOrAbsent(join(dir, ...segments.slice(0, i)));
    if (!folder?.isDirectory()) return undefined;
  }
  return lstatOrAbsent(join(dir, rel));
}

/**
 * Undefined only when nothing is there: a folder this user may not enter (EACCES) is a permission
 * problem to name, never a missing file (a re-download would not fix it).
 */
function lstatOrAbsent(path: string): Promise<Stats | undefined> {
  return lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    return rethrowFsError(err, `cannot read ${path}`);
  });
}

/**
 * Size first (cheap), then the full sha256 (`hash`, `sha256File` unless given: it must hash the whole
 * file at the path it is given); a path that is not a regular file in the folder itself (lstatInside) counts
 * as missing.
 */
export async function checkFile(
  dir: string,
  file: ManifestFile,
  hash: (path: string) => Promise<Sha256Result> = sha256File,
): Promise<ProblemKind | undefined> {
  const path = join(dir, file.path);
  const stats = await lstatInside(dir, file.path);
  if (!stats?.isFile()) return 'missing';
  if (stats.size !== file.size) return 'size';
  const digest = await hash(path);
  if (digest.size !== file.size) return 'size';
  return digest.sha256 === file.sha256 ? undefined : 'mismatch';
}

/** Every non-directory entry under `dir`, as manifest-style relative paths ('a/b.onnx'). */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const folder = join(dir, prefix);
  const entries = await readdir(folder, { withFileTypes: true }).catch((err) =>
    rethrowFsError(err, `cannot list ${folder}`),
  );
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/** Files in `dir` that are neither a manifest file nor one fetch writes itself: what a loader might pick up by mistake. */
export async function extraFiles(dir: string, metadata: InstalledMetadata): Promise<string[]> {
  return extraOf(await listFiles(dir), metadata);
}

function extraOf(listing: readonly string[], metadata: InstalledMetadata): string[] {
  const known = new Set([...metadata.files.map((file) => file.path), ...SIDECAR_FILES]);
  return listing.filter((path) => !known.has(path));
}

/**
 * The files of the folder's listing that the manifest's raw JSON (not yet checked against its schema)
 * declares, with their declared size, in manifest order. Only a path the listing holds is ever opened:
 * the manifest chooses among the folder's own files, it never names one.
 */
function declaredFiles(raw: unknown, listing: readonly string[]): Array<{ path: string; size: number }> {
  const files = (raw as { files?: unknown } | null)?.files;
  if (!Array.isArray(files)) return [];
  const present = new Set(listing);
  const out: Array<{ path: string; size: number }> = [];
  for (const file of files as Array<{ path?: unknown; size?: unknown } | null>) {
    if (typeof file?.path === 'string' && typeof file.size === 'number' && present.has(file.path))
      out.push({ path: file.path, size: file.size });
  }
  return out;
}

/**
 * Starts hashing a declared file of the right size, before the manifest is checked (undefined for one
 * that is not a regular file of that size: checkFile reports it without hashing). The promise never
 * rejects unobserved: a caller that gives up (an invalid manifest) leaves no unhandled rejection.
 */
function startHash(pool: Sha256Pool, dir: string, file: { path: string; size: number }) {
  const path = join(dir, file.path);
  const started = lstatInside(dir, file.path).then(
    (stats) => (stats?.isFile() && stats.size === file.size ? pool.hash(path) : undefined),
    () => undefined,
  );
  started.catch(() => {});
  return started;
}

/**
 * Re-checks an installed folder against its `.modelgate.json`: every manifest file present with the
 * right size and sha256, and nothing else besides the files fetch writes itself. It names precisely
 * what the runbook's "Check file integrity" step looks for: missing, truncated, corrupted, foreign.
 *
 * Fast as `openssl dgst -sha256` or faster: the files are hashed on worker threads (two files at once
 * on two cores), and hashing starts as soon as the folder is listed and the manifest's JSON read, while
 * the main thread loads zod and checks the manifest against its schema. Every verdict still comes from
 * the checked manifest; a file it lists that was not hashed early is hashed then. `hashed`, when given,
 * receives the sha256 of every file hashed, by manifest path (for `verify --key`: not read twice).
 */
export async function verifyDir(dir: string, hashed?: Map<string, string>): Promise<VerifyResult> {
  // The first hashing thread starts now, while the folder is listed and the manifest read.
  const pool = createSha256Pool(poolThreads());
  try {
    return await verifyWith(pool, dir, hashed);
  } finally {
    await pool.close();
  }
}

async function verifyWith(
  pool: Sha256Pool,
  dir: string,
  hashed?: Map<string, string>,
): Promise<VerifyResult> {
  const { path, text } = await readMetadataText(dir);
  // A folder that cannot be listed fails after the manifest's own checks, as before hashing started early.
  const listed = listFiles(dir);
  listed.catch(() => {});
  const raw = safeJson(text);
  const declared = declaredFiles(raw, (await listed.catch(() => undefined)) ?? []);
  const early = new Map(declared.map((file) => [file.path, startHash(pool, dir, file)]));
  // zod's load takes ~80 ms of CPU: once the first thread hashes, not while it starts on the same cores.
  await pool.started;
  const metadata = await parseMetadata(path, raw);
  const hashOf = (rel: string) => async (full: string) => {
    const digest = (await early.get(rel)) ?? (await pool.hash(full));
    hashed?.set(rel, digest.sha256);
    return digest;
  };
  const kinds = await Promise.all(metadata.files.map((file) => checkFile(dir, file, hashOf(file.path))));
  const problems: VerifyProblem[] = [];
  metadata.files.forEach((file, i) => {
    const kind = kinds[i];
    if (kind) problems.push({ path: file.path, kind });
  });
  for (const extra of extraOf(await listed, metadata)) problems.push({ path: extra, kind: 'extra' });
  return { ok: problems.length === 0, model: metadata.model, version: metadata.version, problems };
}
