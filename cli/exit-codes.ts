import type { ErrorCode } from '../schemas/error-codes.schema.js';

/** The CLI's exit codes: a contract with deploy scripts. */
export const EXIT = {
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  VALIDATION_FAILED: 3,
  REFUSED: 4,
  INSUFFICIENT_MEMORY: 5,
  INTEGRITY: 6,
  /** This node's environment (permissions, disk, GPU, runtime): `doctor` and `sync --load-check`. */
  ENVIRONMENT: 7,
} as const;

export function exitCodeOf(code: ErrorCode | undefined): number {
  switch (code) {
    case 'INVALID_REQUEST':
    case 'CONFIG_INVALID':
      return EXIT.USAGE;
    case 'NOT_FOUND':
    case 'NOT_VERIFIED':
    case 'PROVIDER_DISABLED':
    case 'ALREADY_EXISTS':
    case 'CONFLICT':
    case 'BLOBS_MISSING':
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
      return EXIT.REFUSED;
    case 'INSUFFICIENT_MEMORY':
      return EXIT.INSUFFICIENT_MEMORY;
    case 'CHECKSUM_MISMATCH':
    case 'FILE_MISSING':
      return EXIT.INTEGRITY;
    default:
      return EXIT.UNEXPECTED;
  }
}

/** What to do next, per error code: the second half of every CLI error line. */
export const HINTS: Partial<Record<ErrorCode, string>> = {
  NOT_FOUND: 'check the name with `modelgate list`',
  NOT_VERIFIED:
    'fetch a VERIFIED version (`modelgate list NAME --status VERIFIED`) or see why with `modelgate status`',
  ALREADY_EXISTS: 'versions are immutable: publish under a new version string',
  BLOBS_MISSING: 'upload the missing files again with `modelgate publish`',
  CHECKSUM_MISMATCH: 'the bytes changed in transit or on disk: fetch or publish again',
  FILE_MISSING: 'fetch the version again into the folder',
  INSUFFICIENT_MEMORY: 'fetch onto a node with more free memory, or choose a smaller version',
  INSUFFICIENT_DISK: 'free disk space under the destination, then retry',
  PROVIDER_DISABLED: 'an operator disabled the provider: see `modelgate provider`',
  UNAUTHORIZED: 'set MODELGATE_TOKEN to a token the registry accepts',
  FORBIDDEN: 'ask for a token with the needed role',
};
