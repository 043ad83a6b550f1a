import { isUtf8 } from 'node:buffer';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { findPathClash } from '../core/file-paths.js';
import { FilePath } from '../schemas/names.schema.js';
import { CliError } from './cli-error.js';

export interface LocalFile {
  /** Path inside the version (POSIX separators). */
  readonly path: string;
  readonly localPath: string;
  readonly size: number;
}

export interface CollectOptions {
  /** Follow symbolic links that point outside the published folder (default: refuse them). */
  readonly followSymlinks?: boolean;
}

/** One published folder being walked: its path as given, its real path, and the real folders above. */
interface Walk {
  readonly command: string;
  readonly root: string;
  readonly realRoot: string;
  readonly options: CollectOptions;
}

/**
 * The files of a version from the command line: a file is published under its base name, a folder
 * contributes every file below it under its relative path. Inside a folder, a symbolic link is followed
 * only if its target is inside the folder too (one pointing outside is refused unless
 * `followSymlinks`); a dangling link or a loop is refused naming it; anything else that is not a file
 * or a folder (sockets, devices) is refused rather than silently left out. Every refusal is a usage
 * error (exit 2) naming the path at fault; so is a file name that is not UTF-8, a path FilePath
 * refuses (a reserved name, a segment over 255 bytes, a lone surrogate) and two paths one node would
 * take for one file (`Model.onnx` and `model.onnx`).
 */
export async function collectFiles(
  command: string,
  paths: readonly string[],
  options: CollectOptions = {},
): Promise<LocalFile[]> {
  const files: LocalFile[] = [];
  for (const p of paths) {
    const info = await stat(p).catch((err: NodeJS.ErrnoException) => {
      throw CliError.usage(`${p}: ${brokenLinkReason(err) ?? 'no such file or folder'}`, command);
    });
    if (info.isDirectory()) {
      const realRoot = await realpath(p);
      await walk({ command, root: p, realRoot, options }, p, new Set([realRoot]), files);
    } else if (info.isFile()) files.push({ path: basename(p), localPath: p, size: info.size });
    else throw CliError.usage(`${p}: not a regular file or folder`, command);
  }
  if (files.length === 0) throw CliError.usage('no files to publish', command);
  for (const f of files) {
    const parsed = FilePath.safeParse(f.path);
    if (!parsed.success)
      throw CliError.usage(`${f.localPath}: path "${f.path}" ${parsed.error.issues[0]?.message}`, command);
  }
  assertNoPathClash(command, files);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * The registry's rule (core/file-paths.ts), checked before any byte is hashed: two local files published
 * under one path, or under paths a case-insensitive node would merge, are a usage error naming both.
 */
function assertNoPathClash(command: string, files: readonly LocalFile[]): void {
  const clash = findPathClash(files.map((f) => f.path));
  if (!clash) return;
  const mine = files[clash.index]!;
  const other = files.find((f) => f.path === clash.other)!;
  if (clash.path === clash.other)
    throw CliError.usage(
      `${mine.localPath} and ${other.localPath} would both be published as ${mine.path}`,
      command,
    );
  throw CliError.usage(`${mine.localPath} and ${other.localPath}: ${clash.message}`, command);
}

/** Why a link cannot be followed, from the error of following it. */
function brokenLinkReason(err: NodeJS.ErrnoException): string | undefined {
  if (err.code === 'ELOOP') return 'symbolic link loop';
  if (err.code === 'ENOENT') return undefined;
  return err.message;
}

const isInside = (path: string, folder: string) => path === folder || path.startsWith(`${folder}${sep}`);

/** The real target of a symbolic link in a published folder, or a usage error naming the link. */
async function linkTarget(w: Walk, link: string): Promise<string> {
  let target: string;
  try {
    target = await realpath(link);
  } catch (err) {
    const why =
      brokenLinkReason(err as NodeJS.ErrnoException) ?? 'dangling symbolic link (its target does not exist)';
    throw CliError.usage(`${link}: ${why}`, w.command);
  }
  if (!w.options.followSymlinks && !isInside(target, w.realRoot))
    throw CliError.usage(
      `${link}: symbolic link to ${target}, outside ${w.root}: refused (publish what the folder holds, or pass --follow-symlinks)`,
      w.command,
    );
  return target;
}

/**
 * An entry's name as text. Linux allows any bytes but '/' and NUL in a name; bytes that are not UTF-8
 * would be read as U+FFFD, so the published path would name another file than the one hashed, and no
 * node could write it back under its own name: refused, naming it (as read) and its bytes.
 */
function entryName(w: Walk, dir: string, raw: Buffer): string {
  if (isUtf8(raw)) return raw.toString('utf8');
  throw CliError.usage(
    `${join(dir, raw.toString('utf8'))}: the file name is not valid UTF-8 (bytes ${raw.toString('hex')}): rename it to publish it`,
    w.command,
  );
}

/** `above` holds the real paths of the folders being walked: reaching one again is a loop. */
async function walk(w: Walk, dir: string, above: ReadonlySet<string>, out: LocalFile[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, encoding: 'buffer' })) {
    const full = join(dir, entryName(w, dir, entry.name));
    const target = entry.isSymbolicLink() ? await linkTarget(w, full) : undefined;
    const info = target ? await stat(target) : await lstat(full);
    if (info.isDirectory()) {
      const real = target ?? (await realpath(full));
      if (above.has(real))
        throw CliError.usage(`${full}: symbolic link loop (leads back to ${real})`, w.command);
      await walk(w, full, new Set([...above, real]), out);
    } else if (info.isFile())
      out.push({ path: relative(w.root, full).split(sep).join('/'), localPath: full, size: info.size });
    else throw CliError.usage(`${full}: not a regular file`, w.command);
  }
}
