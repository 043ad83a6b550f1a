import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryError } from '../../core/errors.js';
import type { ManifestFile } from '../../schemas/version.schema.js';
import { rethrowFsError } from './fs-errors.js';
import { sha256File } from './hash-file.js';
import { InstalledMetadata, METADATA_FILE, SIDECAR_FILES } from './metadata.js';

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
  await assertFolder(dir);
  const path = join(dir, METADATA_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new RegistryError(
        'FILE_MISSING',
        `${dir} has no ${METADATA_FILE}: it was not written by \`modelgate fetch\` (or the file was removed)`,
        { dir },
      );
    return rethrowFsError(err, `cannot read ${path}`);
  }
  const parsed = InstalledMetadata.safeParse(safeJson(text));
  if (!parsed.success)
    throw new RegistryError(
      'CONFIG_INVALID',
      `${path} is not a valid ${METADATA_FILE}: ${parsed.error.message}`,
      {
        path,
      },
    );
  return parsed.data;
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** Size first (cheap), then the full sha256; a path that is not a regular file counts as missing. */
export async function checkFile(dir: string, file: ManifestFile): Promise<ProblemKind | undefined> {
  const path = join(dir, file.path);
  const stats = await lstat(path).catch(() => undefined);
  if (!stats?.isFile()) return 'missing';
  if (stats.size !== file.size) return 'size';
  const { sha256 } = await sha256File(path);
  return sha256 === file.sha256 ? undefined : 'mismatch';
}

/** Every non-directory entry under `dir`, as manifest-style relative paths ('a/b.onnx'). */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/** Files in `dir` that are neither a manifest file nor one fetch writes itself: what a loader might pick up by mistake. */
export async function extraFiles(dir: string, metadata: InstalledMetadata): Promise<string[]> {
  const known = new Set([...metadata.files.map((file) => file.path), ...SIDECAR_FILES]);
  return (await listFiles(dir)).filter((path) => !known.has(path));
}

/**
 * Re-checks an installed folder against its `.modelgate.json`: every manifest file present with the
 * right size and sha256, and nothing else besides the files fetch writes itself. It names precisely
 * what the runbook's "Check file integrity" step looks for: missing, truncated, corrupted, foreign.
 */
export async function verifyDir(dir: string): Promise<VerifyResult> {
  const metadata = await readMetadata(dir);
  const problems: VerifyProblem[] = [];
  for (const file of metadata.files) {
    const kind = await checkFile(dir, file);
    if (kind) problems.push({ path: file.path, kind });
  }
  for (const path of await extraFiles(dir, metadata)) problems.push({ path, kind: 'extra' });
  return { ok: problems.length === 0, model: metadata.model, version: metadata.version, problems };
}
