import { lstat, readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { FilePath } from '../schemas/names.schema.js';
import { CliError } from './cli-error.js';

export interface LocalFile {
  /** Path inside the version (POSIX separators). */
  readonly path: string;
  readonly localPath: string;
  readonly size: number;
}

/**
 * The files of a version from the command line: a file is published under its base name, a folder
 * contributes every file below it under its relative path. Symbolic links inside a folder are followed
 * to files; anything else (sockets, devices) is refused rather than silently left out.
 */
export async function collectFiles(command: string, paths: readonly string[]): Promise<LocalFile[]> {
  const files: LocalFile[] = [];
  for (const p of paths) {
    const info = await stat(p).catch(() => {
      throw CliError.usage(`${p}: no such file or folder`, command);
    });
    if (info.isDirectory()) await walk(command, p, p, files);
    else if (info.isFile()) files.push({ path: basename(p), localPath: p, size: info.size });
    else throw CliError.usage(`${p}: not a regular file or folder`, command);
  }
  if (files.length === 0) throw CliError.usage('no files to publish', command);
  const seen = new Map<string, string>();
  for (const f of files) {
    const parsed = FilePath.safeParse(f.path);
    if (!parsed.success)
      throw CliError.usage(`${f.localPath}: path "${f.path}" ${parsed.error.issues[0]?.message}`, command);
    const other = seen.get(f.path);
    if (other)
      throw CliError.usage(`${f.localPath} and ${other} would both be published as ${f.path}`, command);
    seen.set(f.path, f.localPath);
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

async function walk(command: string, root: string, dir: string, out: LocalFile[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const info = entry.isSymbolicLink() ? await stat(full) : await lstat(full);
    if (info.isDirectory()) await walk(command, root, full, out);
    else if (info.isFile())
      out.push({ path: relative(root, full).split(sep).join('/'), localPath: full, size: info.size });
    else throw CliError.usage(`${full}: not a regular file`, command);
  }
}
