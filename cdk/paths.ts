import { join } from 'node:path';

/** The repository root: Lambda entries, the lock file and the validator's Docker context are found from it. */
export const REPO_ROOT = join(import.meta.dirname, '..');

export const repoPath = (...segments: string[]): string => join(REPO_ROOT, ...segments);
