import { RegistryError } from '../../core/errors.js';

/** errno codes that name one of the runbook's root causes; anything else is not ours to classify. */
const ERRNO_TO_CODE = {
  ENOENT: 'FILE_MISSING',
  ENOTDIR: 'FILE_MISSING',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EROFS: 'PERMISSION_DENIED',
  ENOSPC: 'INSUFFICIENT_DISK',
  EDQUOT: 'INSUFFICIENT_DISK',
} as const;

const errnoOf = (err: unknown): string | undefined =>
  err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string'
    ? (err as NodeJS.ErrnoException).code
    : undefined;

/**
 * Turns a file-system error into the RegistryError an operator can act on (the runbook's "Missing
 * Model Files", "Permission Issues", "Disk space exhaustion"); returns undefined for any other error.
 */
export function fsRegistryError(err: unknown, what: string): RegistryError | undefined {
  if (err instanceof RegistryError) return err;
  const errno = errnoOf(err);
  if (errno === undefined || !(errno in ERRNO_TO_CODE)) return undefined;
  const code = ERRNO_TO_CODE[errno as keyof typeof ERRNO_TO_CODE];
  return new RegistryError(code, `${what}: ${(err as Error).message}`, { errno });
}

/** Rethrows `err` as a RegistryError when it is a known file-system failure, unchanged otherwise. */
export function rethrowFsError(err: unknown, what: string): never {
  throw fsRegistryError(err, what) ?? err;
}
