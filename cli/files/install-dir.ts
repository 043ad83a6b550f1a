import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  rmdir,
  statfs,
  symlink,
  unlink,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import {
  acquireLock,
  type HeldLock,
  LockFileUnsafeError,
  LockTimeoutError,
  LockWaitAbortedError,
} from '../../adapters/fs-lock/kernel-lock.js';
import { RegistryError } from '../../core/errors.js';
import { findPathClash, REGISTRY_DATA_MARKER } from '../../core/file-paths.js';
import { FilePath, VersionString } from '../../schemas/names.schema.js';
import type { ManifestFile, Version } from '../../schemas/version.schema.js';
import { CliError } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { type DownloadableFile, downloadResumable, FILE_MODE } from './download-file.js';
import { fsRegistryError, rethrowFsError } from './fs-errors.js';
import { sha256Handle } from './hash-file.js';
import { checksumLines, InstalledMetadata, installedMetadata } from './metadata.js';
import { readMetadataFile } from './metadata-file.js';
import { MD5_SUMS_FILE, METADATA_FILE, SHA256_SUMS_FILE } from './sidecar-files.js';

export interface InstallOptions {
  dest: string;
  version: Version;
  /** Every file of the version with where to GET its bytes (DownloadPlan.files). */
  files: DownloadableFile[];
  fetchImpl?: typeof fetch;
  /** Bytes written of all files so far, their total, and the file the latest bytes belong to. */
  onProgress?: (bytesDone: number, bytesTotal: number, path: string) => void;
  /** How long to wait for another fetch into the same DEST to end, in ms (default 5 minutes). */
  lockTimeoutMs?: number;
  /** Called once if another fetch into the same DEST holds its lock: this one waits for it. */
  onLockWait?: () => void;
  /**
   * Called after every byte is downloaded and verified, right before DEST is switched: a last check
   * that may refuse the install by throwing (fetch asks the registry whether the version is still
   * VERIFIED). DEST is then left exactly as it was. It may add files to `staging`, the folder switched in.
   */
  beforeSwitch?: (staging: string) => Promise<void>;
  /** Older content folders to keep for rollback and reuse besides the new one (default 1). */
  keep?: number;
  /**
   * Aborting stops the downloads (or the wait for another fetch's lock); bytes already written stay in the
   * store for the next attempt to resume.
   */
  signal?: AbortSignal;
}

export interface InstallResult {
  dest: string;
  contentDir: string;
  /** Bytes of the version's files. */
  bytes: number;
  /** Bytes received over the network in this fetch. */
  bytesDownloaded: number;
  /** Bytes a killed or failed earlier fetch had already written and verified, not asked for again. */
  bytesResumed: number;
  /** Files linked or copied from a kept content folder (same sha256, verified) instead of downloaded. */
  filesReused: number;
  bytesReused: number;
}

const DIR_MODE = 0o755;
/** Downloads in flight at once: several S3 streams beat one, more only thrash a node's disk. */
const DOWNLOAD_CONCURRENCY = 4;
/** Read size when a local copy is copied rather than linked. */
const COPY_BYTES = 1024 * 1024;
/** Headroom over the model bytes: sidecar files, directory blocks, and a file system never run to 0. */
const DISK_MARGIN_BYTES = 16 * 1024 * 1024;
const PER_FILE_MARGIN_BYTES = 4096;
const STAGING_PREFIX = '.staging-';
/** A real folder found at DEST, moved into the store by the switch (switchDest) and never removed. */
const ADOPTED_PREFIX = 'adopted-';
/**
 * Downloads in progress, one file per sha256: kept when a fetch fails or is killed, so the next one
 * resumes from their bytes; removed with the rest of the store's leftovers after a successful install.
 */
const PARTIAL_DIR = '.partial';
const DEFAULT_KEEP = 1;
/** The kernel lock that serialises fetches of one DEST (adapters/fs-lock), inside the store. */
const LOCK_FILE = '.lock';
const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60 * 1000;
/** open() flags for a folder that must not be reached through a symbolic link. */
const DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Where things live, all next to DEST so every rename stays on one file system (and so is atomic):
 *   <parent>/<name>                      → symlink to the current content folder
 *   <parent>/.<name>.modelgate/<v>-<id>/  content folders (current and one previous, for rollback)
 *   <parent>/.<name>.modelgate/.staging-… a fetch in progress (or left by a killed one)
 *   <parent>/.<name>.modelgate/.lock      the kernel lock held by the fetch in progress
 * The store is only ever used if it is a real directory owned by this user (never a symlink).
 */
interface Layout {
  dest: string;
  parent: string;
  name: string;
  store: string;
}

type DestState = { kind: 'absent' } | { kind: 'symlink'; target: string } | { kind: 'directory' };

const randomId = () => randomBytes(6).toString('hex');
const tmpLinkPrefix = (layout: Layout) => `.${layout.name}.link-`;

function layoutFor(dest: string): Layout {
  const abs = resolve(dest);
  const name = basename(abs);
  const parent = dirname(abs);
  return { dest: abs, parent, name, store: join(parent, `.${name}.modelgate`) };
}

/**
 * The version string and manifest paths become paths on this node: re-check them here, whatever the
 * server sent, before any file-system call.
 */
function assertSafePaths(version: string, files: readonly ManifestFile[]): void {
  if (!VersionString.safeParse(version).success)
    throw new RegistryError('INVALID_REQUEST', `unsafe version string: ${JSON.stringify(version)}`, {
      version,
    });
  for (const { path } of files)
    if (!FilePath.safeParse(path).success)
      throw new RegistryError('INVALID_REQUEST', `unsafe file path in manifest: ${JSON.stringify(path)}`, {
        path,
      });
  const clash = findPathClash(
    files.map((f) => f.path),
    'exact',
  );
  if (clash)
    throw new RegistryError('INVALID_REQUEST', `file paths in manifest clash: ${clash.message}`, {
      path: clash.path,
    });
}

async function inspectDest(dest: string): Promise<DestState> {
  try {
    const stats = await lstat(dest);
    if (stats.isSymbolicLink())
      return { kind: 'symlink', target: resolve(dirname(dest), await readlink(dest)) };
    if (stats.isDirectory()) return { kind: 'directory' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return rethrowFsError(err, `cannot inspect ${dest}`);
  }
  throw new RegistryError('CONFIG_INVALID', `${dest} exists and is neither a directory nor a symlink`, {
    dest,
  });
}

/**
 * A local registry's data folder at or above DEST (it holds REGISTRY_DATA_MARKER): DEST there would be
 * the registry's own blobs or metadata, moved aside and replaced by a link (exit 2, touching nothing).
 */
async function assertOutsideRegistryData(dest: string): Promise<void> {
  // Through links too: /app/models → DATA/blobs puts --dest /app/models/x inside DATA.
  let existing = dest;
  while (dirname(existing) !== existing && !(await lstat(existing).catch(() => undefined)))
    existing = dirname(existing);
  const resolved = await realOr(existing);
  for (const start of resolved === existing ? [dest] : [dest, resolved])
    await assertNoMarkerAbove(dest, start);
}

async function assertNoMarkerAbove(dest: string, start: string): Promise<void> {
  for (let dir = start; ; dir = dirname(dir)) {
    const marker = await lstat(join(dir, REGISTRY_DATA_MARKER)).catch(() => undefined);
    if (marker?.isFile())
      throw new CliError(
        'USAGE',
        `--dest ${dest} is inside the data folder of a modelgate registry (${dir} holds its ${REGISTRY_DATA_MARKER}): fetch would take over the registry's own files; give a folder outside it`,
        EXIT.USAGE,
        { dest, dataDir: dir },
      );
    if (dirname(dir) === dir) return;
  }
}

/** Folders a fetch never adopts, whatever they hold: the system's own, where a typo in --dest lands. */
const SYSTEM_FOLDERS = new Set(
  [
    'bin',
    'boot',
    'dev',
    'etc',
    'home',
    'lib',
    'lib64',
    'media',
    'mnt',
    'opt',
    'proc',
    'root',
    'run',
    'sbin',
    'srv',
    'sys',
    'tmp',
    'usr',
    'var',
  ].map((name) => `/${name}`),
);

/** `dir` and every folder above it. */
function selfAndAncestors(dir: string): string[] {
  const all = [dir];
  while (dirname(all.at(-1)!) !== all.at(-1)) all.push(dirname(all.at(-1)!));
  return all;
}

/** Every user's home folder as /etc/passwd lists it (none where it cannot be read). */
async function passwdHomes(): Promise<string[]> {
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.split(':')[5] ?? '')
    .filter((home) => home.startsWith('/') && home !== '/');
}

const realOr = (path: string) => realpath(path).catch(() => path);

/**
 * A real folder at DEST is adopted (moved into the store, the model put in its place): right for a
 * hand-made install such as /app/models/paddle, never for a user's home folder (this one's, any in
 * /etc/passwd, any folder in /home: `sudo fetch --dest ~` names another user's), the working folder, a
 * folder above one of them, a system folder or a folder in /usr, where a typo in --dest would move a
 * user's or the system's files aside and leave a model where they were (exit 2, touching nothing).
 */
async function assertAdoptable(dest: string): Promise<void> {
  const homes = await Promise.all([homedir(), ...(await passwdHomes())].map(realOr));
  const refused = whyNotAdoptable(await realpath(dest), homes, await realOr(process.cwd()));
  if (refused)
    throw new CliError(
      'USAGE',
      `--dest ${dest} is ${refused}, a folder fetch did not write: fetch would move it aside and put the model in its place; give the folder the model must appear in, e.g. /app/models/paddle`,
      EXIT.USAGE,
      { dest },
    );
}

/**
 * Why the real folder `real` (a resolved path) may not be adopted, or undefined: assertAdoptable's rule,
 * given the home folders (resolved) and the working folder (resolved).
 */
export function whyNotAdoptable(real: string, homes: readonly string[], cwd: string): string | undefined {
  const above = (folders: readonly string[]) => new Set(folders.flatMap(selfAndAncestors));
  if (above(homes).has(real) || dirname(real) === '/home') return 'a home folder or a folder above one';
  if (above([cwd]).has(real)) return 'the working folder or a folder above it';
  if (SYSTEM_FOLDERS.has(real) || dirname(real) === '/usr') return 'a system folder';
  return undefined;
}

async function assertFreeDisk(dir: string, files: readonly ManifestFile[], bytes: number): Promise<void> {
  const fsStats = await statfs(dir);
  const available = fsStats.bavail * fsStats.bsize;
  const needed = bytes + DISK_MARGIN_BYTES + files.length * PER_FILE_MARGIN_BYTES;
  if (available < needed)
    throw new RegistryError(
      'INSUFFICIENT_DISK',
      `${dir} has ${available} bytes free, the version needs ${needed} (${bytes} of files plus margin)`,
      { dir, available, needed },
    );
}

/** chmod a folder through a descriptor opened without following a symbolic link at `path`. */
async function chmodDirNoFollow(path: string, mode: number): Promise<void> {
  const fh = await open(path, DIR_NOFOLLOW);
  try {
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

/**
 * A new folder (never an existing one: EEXIST is an error), then an explicit chmod: the mode given to
 * mkdir is filtered by the umask, the runbook wants rwxr-xr-x.
 */
async function makeDir(path: string): Promise<void> {
  await mkdir(path, { mode: DIR_MODE });
  await chmodDirNoFollow(path, DIR_MODE);
}

const notOurs = (store: string, why: string) =>
  new CliError(
    'CONFIG_INVALID',
    `${store} ${why}: fetch keeps its content there and uses only a real folder owned by this user; move it away and fetch again`,
    EXIT.USAGE,
    { path: store },
  );

/**
 * Creates the store folder or checks the existing one: it must be a real directory (lstat: never a
 * symlink, to a folder or a file) owned by the current user; else exit 2 naming it, touching nothing.
 * The chmod goes through a descriptor opened with O_NOFOLLOW, so even a symlink swapped in between
 * is not followed.
 */
async function openStore(store: string): Promise<void> {
  try {
    await mkdir(store, { mode: DIR_MODE });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const stats = await lstat(store);
  if (stats.isSymbolicLink()) throw notOurs(store, 'is a symbolic link');
  if (!stats.isDirectory()) throw notOurs(store, 'is not a folder');
  if (typeof process.getuid === 'function' && stats.uid !== process.getuid())
    throw notOurs(store, `is owned by uid ${stats.uid}, not by this user`);
  try {
    await chmodDirNoFollow(store, DIR_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw notOurs(store, 'was replaced while fetch checked it');
    throw err;
  }
}

/** The store's kernel lock: one fetch per DEST at a time; a second one waits, bounded, then fails. */
async function lockStore(layout: Layout, opts: InstallOptions): Promise<HeldLock> {
  const timeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  try {
    return await acquireLock(join(layout.store, LOCK_FILE), {
      timeoutMs,
      ...(opts.onLockWait ? { onWait: opts.onLockWait } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    // Stopped (sync's SIGTERM) while another fetch held DEST: as a stop during the downloads, nothing changed.
    if (err instanceof LockWaitAbortedError)
      throw new RegistryError(
        'UNAVAILABLE',
        `the fetch was stopped while another fetch into ${layout.dest} ran`,
      );
    if (err instanceof LockTimeoutError)
      throw new CliError(
        'CONFLICT',
        `another fetch into ${layout.dest} is still running after ${Math.round(err.waitedMs / 1000)} s (it holds ${err.path}): let it finish, or wait longer with --lock-timeout`,
        EXIT.REFUSED,
        { dest: layout.dest, lock: err.path },
      );
    if (err instanceof LockFileUnsafeError) throw notOurs(err.path, 'is not a lock file of fetch');
    throw err;
  }
}

/**
 * Removes what killed fetches left: staging folders in the store and temporary links beside DEST.
 * Called with the store lock held, so none of them belongs to a running fetch. rm and unlink never
 * follow a symbolic link.
 */
async function removeDeadLeftovers(layout: Layout): Promise<void> {
  for (const entry of await readdir(layout.store))
    if (entry.startsWith(STAGING_PREFIX))
      await rm(join(layout.store, entry), { recursive: true, force: true });
  for (const entry of await readdir(layout.parent)) {
    if (!entry.startsWith(tmpLinkPrefix(layout))) continue;
    const path = join(layout.parent, entry);
    if ((await lstat(path)).isSymbolicLink()) await unlink(path);
  }
}

/** Creates the sub-folders the manifest's nested paths need, before any download starts. */
async function makeSubDirs(root: string, files: readonly ManifestFile[]): Promise<string[]> {
  const dirs = new Set<string>();
  for (const { path } of files) {
    const segments = path.split('/').slice(0, -1);
    for (let i = 1; i <= segments.length; i++) dirs.add(segments.slice(0, i).join('/'));
  }
  const sorted = [...dirs].sort((a, b) => a.length - b.length);
  for (const dir of sorted) await makeDir(join(root, dir));
  return sorted.map((dir) => join(root, dir));
}

/** fsync a folder so the entries (new files, renames) in it survive a crash, not only their data. */
async function syncDir(path: string): Promise<void> {
  const fh = await open(path, DIR_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeSyncedFile(path: string, content: string): Promise<void> {
  const fh = await open(path, 'wx', FILE_MODE);
  try {
    await fh.writeFile(content);
    await fh.chmod(FILE_MODE);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeSidecars(dir: string, version: Version, files: readonly ManifestFile[]): Promise<void> {
  await writeSyncedFile(join(dir, MD5_SUMS_FILE), checksumLines(files, 'md5'));
  await writeSyncedFile(join(dir, SHA256_SUMS_FILE), checksumLines(files, 'sha256'));
  const metadata = installedMetadata(version, files, new Date());
  await writeSyncedFile(join(dir, METADATA_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
}

/**
 * Runs `task` over `items`, `limit` at a time. The first failure aborts the others (through the signal)
 * and stops new ones; it is rethrown only once every task has settled, so that nothing still writes
 * into the staging folder when the caller removes it.
 */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, signal: AbortSignal) => Promise<void>,
  outer?: AbortSignal,
): Promise<void> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  outer?.addEventListener('abort', abort, { once: true });
  if (outer?.aborted) abort();
  const errors: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length && !controller.signal.aborted) {
      const item = items[next++] as T;
      try {
        await task(item, controller.signal);
      } catch (err) {
        errors.push(err);
        controller.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  outer?.removeEventListener('abort', abort);
  if (errors.length > 0) throw errors[0];
  if (outer?.aborted)
    throw new RegistryError('UNAVAILABLE', 'the fetch was stopped: its downloads resume next time');
}

/** A file on this node that may hold a version file's bytes: the manifest path `path` below `root`. */
export interface LocalCopy {
  root: string;
  path: string;
  size: number;
}

/** Where each file's bytes come from: a verified local copy, another path of the same plan, or the network. */
interface Sources {
  /** path → an existing file with the same sha256 (verified before it is linked or copied). */
  local: Map<string, LocalCopy>;
  /** Files to download, one per sha256. */
  download: DownloadableFile[];
  /** path → the path in the plan whose download it shares (same sha256). */
  twins: Map<string, string>;
}

interface Transfer {
  bytesDownloaded: number;
  bytesResumed: number;
  filesReused: number;
  bytesReused: number;
}

/**
 * The files of the content folders kept in the store (and of DEST when it is a hand-made folder with a
 * manifest), by sha256: candidates for reuse. Only their manifests are read here; each candidate is
 * re-hashed before it is used.
 */
async function localCopies(layout: Layout, state: DestState): Promise<Map<string, LocalCopy>> {
  const dirs = (await readdir(layout.store))
    .filter((e) => !e.startsWith('.'))
    .map((e) => join(layout.store, e));
  if (state.kind === 'directory') dirs.push(layout.dest);
  const bySha = new Map<string, LocalCopy>();
  for (const dir of dirs) {
    const text = await readMetadataFile(join(dir, METADATA_FILE)).catch(() => undefined);
    if (text === undefined) continue;
    let parsed: ReturnType<typeof InstalledMetadata.safeParse>;
    try {
      parsed = InstalledMetadata.safeParse(JSON.parse(text));
    } catch {
      continue;
    }
    if (!parsed.success) continue;
    for (const f of parsed.data.files)
      if (FilePath.safeParse(f.path).success && !bySha.has(f.sha256))
        bySha.set(f.sha256, { root: dir, path: f.path, size: f.size });
  }
  return bySha;
}

function planSources(files: readonly DownloadableFile[], local: Map<string, LocalCopy>): Sources {
  const sources: Sources = { local: new Map(), download: [], twins: new Map() };
  const first = new Map<string, string>();
  for (const file of files) {
    const copy = local.get(file.sha256);
    if (copy && copy.size === file.size) sources.local.set(file.path, copy);
    else if (first.has(file.sha256)) sources.twins.set(file.path, first.get(file.sha256)!);
    else {
      first.set(file.sha256, file.path);
      sources.download.push(file);
    }
  }
  return sources;
}

const sameInode = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino;

/**
 * Opens a local copy only if it is a regular file reached from its root without following a symbolic
 * link anywhere: the root and every folder on the way must be real folders (lstat), and the file, opened
 * with O_NOFOLLOW, must be the inode lstat found there. A hand-made DEST (and the copy of it kept in the
 * store) is not fetch's: a folder in it may be a link (`ext -> /srv/shared`), and following it would put
 * a file outside DEST into the version. Undefined when anything on the way is not what it must be.
 */
async function openLocalCopy(copy: LocalCopy): Promise<{ fh: FileHandle; stats: Stats } | undefined> {
  let folder = copy.root;
  for (const segment of ['', ...copy.path.split('/').slice(0, -1)]) {
    folder = join(folder, segment);
    if (!(await lstat(folder).catch(() => undefined))?.isDirectory()) return undefined;
  }
  const path = join(copy.root, copy.path);
  const found = await lstat(path).catch(() => undefined);
  if (!found?.isFile()) return undefined;
  // O_NONBLOCK: a FIFO swapped in after the lstat must not hang the open (it changes nothing for a file).
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const fh = await open(path, flags).catch(() => undefined);
  if (!fh) return undefined;
  const stats = await fh.stat().catch(() => undefined);
  if (stats?.isFile() && sameInode(stats, found)) return { fh, stats };
  await fh.close();
  return undefined;
}

/**
 * Whether a verified local file may become the new version's file itself (a hard link shares its inode:
 * mode, owner and all). Only a file of this user's that is already rw-r--r--, as the runbook wants:
 * fetch never chmods a file it did not create, so any other is copied.
 */
function linkable(stats: Stats): boolean {
  return (stats.mode & 0o7777) === FILE_MODE && stats.uid === (process.getuid?.() ?? stats.uid);
}

/**
 * Bytes of the local copies that will be copied rather than hard-linked (not `linkable`): they take disk
 * as downloads do, so the free-disk check counts them. A copy that is gone or not a regular file is not
 * counted.
 */
export async function bytesToCopy(copies: Iterable<LocalCopy>): Promise<number> {
  let bytes = 0;
  for (const copy of copies) {
    const stats = await lstat(join(copy.root, copy.path)).catch(() => undefined);
    if (stats?.isFile() && !linkable(stats)) bytes += copy.size;
  }
  return bytes;
}

/**
 * Hard-links `source` at `target`; false (nothing left at `target`) when the link fails (another file
 * system, a file system without links) or is not the inode `expected` that was checked and hashed: a
 * folder on the way was swapped for a link after the check, and the file is copied from what was hashed.
 */
async function linkChecked(source: string, target: string, expected: Stats): Promise<boolean> {
  try {
    await link(source, target);
  } catch {
    return false;
  }
  if (sameInode(await lstat(target), expected)) return true;
  await unlink(target);
  return false;
}

/**
 * Copies an open file into a new `target` (rw-r--r--, synced), hashing the bytes as they are copied:
 * true only if they are `sha256`, else the copy is removed.
 */
async function copyVerified(source: FileHandle, target: string, sha256: string): Promise<boolean> {
  const out = await open(target, 'wx', FILE_MODE);
  let copied = false;
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(COPY_BYTES);
    for (let position = 0; ; ) {
      const { bytesRead } = await source.read(buffer, 0, COPY_BYTES, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      await out.write(buffer, 0, bytesRead);
      position += bytesRead;
    }
    copied = hash.digest('hex') === sha256;
    // The mode given to open is filtered by the umask: this file is fetch's own, so it is set here.
    await out.chmod(FILE_MODE);
    await out.sync();
  } finally {
    await out.close();
    if (!copied) await rm(target, { force: true });
  }
  return copied;
}

/**
 * A kept or hand-made local file with the manifest's size and sha256, put at `target`: a hard link (same
 * inode, no bytes copied) where `linkable`, else a copy. Only a file `openLocalCopy` reaches inside its
 * folder is used. False when it is not what its manifest said any more: then it is downloaded like any other.
 */
async function reuseLocal(copy: LocalCopy, target: string, file: ManifestFile): Promise<boolean> {
  const opened = await openLocalCopy(copy);
  if (!opened) return false;
  const { fh, stats } = opened;
  try {
    if (stats.size !== file.size) return false;
    if (linkable(stats)) {
      const { sha256 } = await sha256Handle(fh).catch(() => ({ sha256: '' }));
      if (sha256 !== file.sha256) return false;
      if (await linkChecked(join(copy.root, copy.path), target, stats)) {
        await fh.sync();
        return true;
      }
    }
    return await copyVerified(fh, target, file.sha256);
  } finally {
    await fh.close();
  }
}

async function downloadAll(
  layout: Layout,
  staging: string,
  opts: InstallOptions,
  sources: Sources,
): Promise<Transfer> {
  const fetchImpl = opts.fetchImpl ?? globalThis.fetch;
  const transfer: Transfer = { bytesDownloaded: 0, bytesResumed: 0, filesReused: 0, bytesReused: 0 };
  const byPath = new Map(opts.files.map((f) => [f.path, f]));
  const toDownload = [...sources.download];
  for (const [path, copy] of sources.local) {
    const file = byPath.get(path)!;
    if (await reuseLocal(copy, join(staging, path), file)) {
      transfer.filesReused++;
      transfer.bytesReused += file.size;
    } else if (!toDownload.some((f) => f.sha256 === file.sha256)) toDownload.push(file);
    else sources.twins.set(path, toDownload.find((f) => f.sha256 === file.sha256)!.path);
  }
  const total = toDownload.reduce((sum, f) => sum + f.size, 0);
  const partials = join(layout.store, PARTIAL_DIR);
  if (toDownload.length > 0) await mkdir(partials, { mode: DIR_MODE }).catch(ignoreExists);
  let done = 0;
  const onBytes = (path: string) => (bytes: number) => {
    done += bytes;
    opts.onProgress?.(done, total, path);
  };
  await forEachLimited(
    toDownload,
    DOWNLOAD_CONCURRENCY,
    async (file, signal) => {
      const partial = join(partials, file.sha256);
      const outcome = await downloadResumable(file, partial, fetchImpl, onBytes(file.path), signal);
      transfer.bytesDownloaded += outcome.bytesDownloaded;
      transfer.bytesResumed += outcome.bytesResumed;
      // A link, not a rename: if another file fails, this one stays complete in the store and the
      // next attempt takes it from there without a byte of download; the store is pruned after a switch.
      await link(partial, join(staging, file.path));
    },
    opts.signal,
  );
  for (const [path, twin] of sources.twins) await link(join(staging, twin), join(staging, path));
  return transfer;
}

function ignoreExists(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
}

/** Downloads, verifies and seals a complete content folder; returns its final path. */
async function buildContentDir(
  layout: Layout,
  opts: InstallOptions,
  sources: Sources,
): Promise<{ contentDir: string; transfer: Transfer }> {
  const id = `${opts.version.version}-${randomId()}`;
  const staging = join(layout.store, `${STAGING_PREFIX}${id}`);
  const contentDir = join(layout.store, id);
  let downloaded = false;
  try {
    await makeDir(staging);
    const subDirs = await makeSubDirs(staging, opts.files);
    const transfer = await downloadAll(layout, staging, opts, sources);
    downloaded = true;
    await writeSidecars(staging, opts.version, opts.files);
    for (const dir of [...subDirs, staging]) await syncDir(dir);
    await opts.beforeSwitch?.(staging);
    // Only complete, verified folders ever carry a name without the staging prefix.
    await rename(staging, contentDir);
    await syncDir(layout.store);
    return { contentDir, transfer };
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    // Every byte arrived and the install was still refused (by the last check, or a failed load check):
    // nothing is left to resume, so the version's downloads go too.
    if (downloaded) await removePartials(layout, opts.files);
    throw err;
  }
}

async function removePartials(layout: Layout, files: readonly ManifestFile[]): Promise<void> {
  const dir = join(layout.store, PARTIAL_DIR);
  for (const file of files) await rm(join(dir, file.sha256), { force: true });
  await rmdir(dir).catch(() => {});
}

/**
 * Points DEST at `contentDir` atomically: a new symlink is made next to DEST and renamed over it, so a
 * reader sees the old content or the new, never a mix. A real directory at DEST (a hand-made install)
 * is first moved into the store and kept there for good (its files are not fetch's: no rotation removes
 * them, whoever deletes them is the user): between those two renames, DEST is absent for a few microseconds; if the second rename fails the directory is moved back.
 * Returns the previous content folder, if any.
 */
async function switchDest(layout: Layout, contentDir: string, state: DestState): Promise<string | undefined> {
  const tmpLink = join(layout.parent, `${tmpLinkPrefix(layout)}${randomId()}`);
  await symlink(relative(layout.parent, contentDir), tmpLink);
  try {
    if (state.kind !== 'directory') {
      await rename(tmpLink, layout.dest);
      return state.kind === 'symlink' ? state.target : undefined;
    }
    const adopted = join(layout.store, `${ADOPTED_PREFIX}${randomId()}`);
    await rename(layout.dest, adopted);
    try {
      await rename(tmpLink, layout.dest);
    } catch (err) {
      await rename(adopted, layout.dest);
      throw err;
    }
    return adopted;
  } catch (err) {
    await rm(tmpLink, { force: true });
    throw err;
  }
}

/**
 * A content folder fetch named (`<version>-<id>`, see buildContentDir): the only folders rotation removes.
 * A hand-made DEST moved into the store (`adopted-<id>`) holds files fetch did not write, and anything
 * else in the store is not fetch's either: neither is ever removed.
 */
function isContentFolder(entry: string): boolean {
  const match = /^(.+)-[0-9a-f]{12}$/.exec(entry);
  return !entry.startsWith(ADOPTED_PREFIX) && match !== null && VersionString.safeParse(match[1]).success;
}

/**
 * Keeps the new content folder and the `keep` most recent other content folders (the previous one first,
 * then by the time their content was written); removes the older content folders and the partial
 * downloads (the install is complete). Runs with the lock held.
 */
async function pruneStore(
  store: string,
  current: string,
  previous: string | undefined,
  keep: number,
): Promise<void> {
  const others: { path: string; mtimeMs: number }[] = [];
  for (const entry of await readdir(store)) {
    const path = join(store, entry);
    if (!isContentFolder(entry) || path === current) continue;
    others.push({
      path,
      mtimeMs: path === previous ? Number.POSITIVE_INFINITY : (await lstat(path)).mtimeMs,
    });
  }
  others.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const { path } of others.slice(keep)) await rm(path, { recursive: true, force: true });
  await rm(join(store, PARTIAL_DIR), { recursive: true, force: true });
}

/**
 * What to do about a failure of this node's file system, appended to its message (an error line says what
 * happened, then what to do): the runbook's "Fix: Permission Issues" and "Disk space exhaustion".
 */
function withRemedy(err: unknown, layout: Layout): unknown {
  if (!(err instanceof RegistryError)) return err;
  const remedy =
    err.code === 'PERMISSION_DENIED'
      ? `fetch needs to write ${layout.parent} (the destination's store and link live there): run it as a user who may, or make ${layout.parent} writable for this one`
      : err.code === 'INSUFFICIENT_DISK'
        ? `free space on the file system of ${layout.parent}, or keep fewer old versions (--keep 0)`
        : undefined;
  return remedy ? new RegistryError(err.code, `${err.message}: ${remedy}`, err.details) : err;
}

/**
 * Installs every file of `version` at `dest` (DESIGN.md "Fetch"). Before any file-system call, the
 * version string and paths are checked. Then the store folder beside DEST must be a real folder of this
 * user's (else exit 2), and its kernel lock is taken: fetches of one DEST run one at a time, a second
 * waits (bounded) then fails with CONFLICT. With the lock held: what killed fetches left is removed; free
 * disk is checked; each file is downloaded into a hidden staging folder in one pass that hashes as it
 * writes, size and sha256 verified, fsynced, 0644 in 0755 folders; `checksums.txt` (md5sum -c),
 * `SHA256SUMS` (sha256sum -c) and `.modelgate.json` are written; `beforeSwitch` may still refuse; then
 * `dest` is switched to the new content atomically. A failure at any step before the switch leaves
 * `dest` exactly as it was and removes the staging folder.
 */
export async function installVersion(opts: InstallOptions): Promise<InstallResult> {
  const layout = layoutFor(opts.dest);
  // `/` has no parent to hold its store and cannot be renamed: fetch would write /.modelgate and fail.
  if (layout.name === '')
    throw new CliError(
      'USAGE',
      `--dest ${opts.dest} is the root folder: give the folder the model must appear in, e.g. /app/models/paddle`,
      EXIT.USAGE,
      { dest: opts.dest },
    );
  assertSafePaths(opts.version.version, opts.files);
  await assertOutsideRegistryData(layout.dest);
  // Before the store is made beside it: refused, nothing is written.
  if ((await inspectDest(layout.dest)).kind === 'directory') await assertAdoptable(layout.dest);
  const total = opts.files.reduce((sum, file) => sum + file.size, 0);
  let lock: HeldLock | undefined;
  try {
    await mkdir(layout.parent, { recursive: true, mode: DIR_MODE });
    await openStore(layout.store);
    lock = await lockStore(layout, opts);
    const state = await inspectDest(layout.dest);
    await removeDeadLeftovers(layout);
    const sources = planSources(opts.files, await localCopies(layout, state));
    const needed =
      sources.download.reduce((sum, f) => sum + f.size, 0) + (await bytesToCopy(sources.local.values()));
    await assertFreeDisk(layout.parent, sources.download, needed);
    const { contentDir, transfer } = await buildContentDir(layout, opts, sources);
    let previous: string | undefined;
    try {
      previous = await switchDest(layout, contentDir, state);
    } catch (err) {
      await rm(contentDir, { recursive: true, force: true });
      throw err;
    }
    // From here on the install has happened: neither step may undo it or report it as failed.
    await syncDir(layout.parent).catch(() => {});
    // Best effort: a folder left behind is harmless and goes with the next fetch.
    await pruneStore(layout.store, contentDir, previous, opts.keep ?? DEFAULT_KEEP).catch(() => {});
    return { dest: layout.dest, contentDir, bytes: total, ...transfer };
  } catch (err) {
    throw withRemedy(fsRegistryError(err, `cannot install into ${layout.dest}`) ?? err, layout);
  } finally {
    lock?.release();
  }
}
