import { RegistryError } from '../../core/errors.js';

/**
 * Errors that mean the disk (or the quota) is full: ENOSPC and EDQUOT from the file system, EFBIG past a
 * file-size limit, SQLITE_FULL from SQLite (better-sqlite3's SqliteError carries it as `code`).
 */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'SQLITE_FULL']);

export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DISK_FULL_CODES.has(code);
}

/** The 507 the client gets: a JSON error naming the cause, never the path or the SQL. */
export const insufficientDisk = (): RegistryError =>
  new RegistryError(
    'INSUFFICIENT_DISK',
    'the registry is out of disk space: nothing was stored; retry once an operator has freed space',
  );
