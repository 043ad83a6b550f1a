import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  unlinkSync,
} from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';

/**
 * An exclusive lock that the kernel releases the moment its holder dies (exit, crash, kill -9), with
 * no stale state to clean up and no pid to trust: SQLite's own file lock (POSIX `fcntl` byte-range
 * locks) on a small lock database, taken with `PRAGMA locking_mode=EXCLUSIVE` and an open
 * `BEGIN EXCLUSIVE` transaction that is never committed. No new native dependency: better-sqlite3 is
 * already the registry's database driver.
 *
 * Properties that follow from fcntl locks, and that callers rely on:
 * - released by the kernel when the process ends, even as a zombie waiting to be reaped;
 * - not inherited by child processes (a validation child that outlives its server holds nothing);
 * - two holders in one process exclude each other too (SQLite tracks its locks per inode);
 * - never released early by this module opening or closing the file (it only does so before locking).
 */
export interface HeldLock {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock (idempotent). The file stays: removing it would let two holders lock two files. */
  release(): void;
}

export class LockTimeoutError extends Error {
  constructor(
    readonly path: string,
    readonly waitedMs: number,
  ) {
    super(`${path} is locked by another process (waited ${Math.round(waitedMs / 1000)} s)`);
  }
}

/** The wait for the lock was given up through its signal (a SIGTERM): nothing was taken. */
export class LockWaitAbortedError extends Error {
  constructor(readonly path: string) {
    super(`stopped while waiting for ${path}`);
  }
}

/** The lock file is not a regular file of ours (a symlink, a folder, a device): never opened through. */
export class LockFileUnsafeError extends Error {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(`${path}: ${why}; refusing to use it as a lock file`);
  }
}

const LOCK_FILE_MODE = 0o600;
/** What the previous pid-file lock wrote: its pid in decimal. Such a file is replaced, not trusted. */
const LEGACY_PID_FILE = /^\d{1,10}\n?$/;

/**
 * Creates the lock file if needed, 0600 whatever the umask, without following a symlink at its name
 * (O_NOFOLLOW), and checks it is a regular file owned by this user. The descriptor is closed before
 * SQLite locks: closing a descriptor of a file drops the process's fcntl locks on it.
 */
function prepareLockFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, LOCK_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP')
      throw new LockFileUnsafeError(path, 'is a symbolic link');
    throw err;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new LockFileUnsafeError(path, 'is not a regular file');
    if (typeof process.getuid === 'function' && stats.uid !== process.getuid())
      throw new LockFileUnsafeError(path, `is owned by uid ${stats.uid}, not by this user`);
    if ((stats.mode & 0o777) !== LOCK_FILE_MODE) fchmodSync(fd, LOCK_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** A lock file left by the pid-file lock of earlier versions is not a database: replace it once. */
function replaceLegacyPidFile(path: string, err: unknown): boolean {
  if ((err as { code?: string }).code !== 'SQLITE_NOTADB') return false;
  const stats = lstatSync(path);
  if (!stats.isFile() || stats.size > 16) return false;
  if (!LEGACY_PID_FILE.test(readFileSync(path, 'utf8'))) return false;
  unlinkSync(path);
  return true;
}

/**
 * One attempt: the lock if it is free now, undefined if another holder has it. Throws
 * LockFileUnsafeError for a lock path that is not a regular file of ours, and SQLite's error for a
 * file that is not a lock database.
 */
export function tryLock(path: string): HeldLock | undefined {
  for (let attempt = 0; ; attempt++) {
    prepareLockFile(path);
    // timeout 0: a busy lock answers SQLITE_BUSY at once; waiting is done by the caller, off the CPU.
    const db = new Database(path, { timeout: 0 });
    try {
      // The journal in memory: the lock database is never written, and with a journal file on disk
      // closing an exclusive connection costs ~15 ms (measured here) instead of ~0.01 ms.
      db.pragma('journal_mode = MEMORY');
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') return undefined;
      if (attempt === 0 && replaceLegacyPidFile(path, err)) continue;
      throw err;
    }
    let held = true;
    return {
      path,
      release() {
        if (!held) return;
        held = false;
        db.close();
      },
    };
  }
}

export interface AcquireOptions {
  /** How long to wait for another holder, in ms; 0 tries once. */
  readonly timeoutMs: number;
  /** Between attempts, in ms (default 100). */
  readonly pollMs?: number;
  /** Called once, when the first attempt finds the lock held: a caller may say that it waits. */
  readonly onWait?: () => void;
  /** Aborting gives up the wait at the next attempt (LockWaitAbortedError). */
  readonly signal?: AbortSignal;
}

/**
 * Takes the lock, waiting (bounded, polling without blocking the event loop) while another process
 * holds it. Throws LockTimeoutError after `timeoutMs`, LockWaitAbortedError once `signal` aborts.
 */
export async function acquireLock(path: string, options: AcquireOptions): Promise<HeldLock> {
  const started = Date.now();
  const pollMs = options.pollMs ?? 100;
  for (let first = true; ; first = false) {
    const lock = tryLock(path);
    if (lock) return lock;
    if (options.signal?.aborted) throw new LockWaitAbortedError(path);
    const waited = Date.now() - started;
    if (waited >= options.timeoutMs) throw new LockTimeoutError(path, waited);
    if (first) options.onWait?.();
    await sleep(Math.min(pollMs, options.timeoutMs - waited));
  }
}
