import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ProvenDigests } from '../core/ports.js';
import type { ManifestFile } from '../schemas/version.schema.js';
import { LoadFailure } from './load-failure.js';

/**
 * DESIGN.md Validation step 1: the bytes on disk are the bytes the publisher declared. Both digests are
 * computed in one streaming pass (md5 is what nodes check with `md5sum -c`, so it must be right too).
 */

const READ_CHUNK = 1 << 20;

export function fileAccessFailure(path: string, error: NodeJS.ErrnoException): LoadFailure {
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new LoadFailure('PERMISSION_DENIED', `${path} is not readable (${error.code})`);
  }
  if (error.code === 'ENOENT') return new LoadFailure('FILE_MISSING', `${path} is missing`);
  return new LoadFailure('FILE_MISSING', `${path} cannot be read: ${error.message}`);
}

export async function hashFile(localPath: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(localPath, { highWaterMark: READ_CHUNK })) {
    sha256.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex'), size };
}

/**
 * Throws the LoadFailure that names what is wrong with the file, or returns when it is intact. A file
 * carrying `proven` digests (the blob store hashed these very bytes as it wrote or read them, and they
 * match its sha256 and size) is not read again: only its size is checked and its md5 compared. A file
 * hashed here gets the digests it proved as its `proven`, so no later check of the same validation reads
 * it again and the report can record its md5. A declared md5 must match; an undeclared one is the
 * registry's to record.
 */
export async function verifyIntegrity(
  file: ManifestFile & { proven?: ProvenDigests | undefined },
  localPath: string,
): Promise<void> {
  let actual: { sha256: string; md5: string; size: number };
  try {
    const info = await stat(localPath);
    if (!info.isFile()) throw new LoadFailure('FILE_MISSING', `${file.path} is not a regular file`);
    if (info.size !== file.size) {
      throw new LoadFailure(
        'FILE_MISSING',
        `${file.path} is ${info.size} bytes; the manifest says ${file.size}`,
      );
    }
    const proven = provenFor(file);
    actual = proven ?? (await hashFile(localPath));
  } catch (error) {
    if (error instanceof LoadFailure) throw error;
    throw fileAccessFailure(file.path, error as NodeJS.ErrnoException);
  }
  if (actual.size !== file.size) {
    throw new LoadFailure('FILE_MISSING', `${file.path} changed size while being hashed`);
  }
  if (actual.sha256 !== file.sha256) {
    throw new LoadFailure(
      'CHECKSUM_MISMATCH',
      `${file.path}: sha256 is ${actual.sha256}; the manifest says ${file.sha256}`,
    );
  }
  if (file.md5 !== undefined && actual.md5 !== file.md5) {
    throw new LoadFailure(
      'CHECKSUM_MISMATCH',
      `${file.path}: md5 is ${actual.md5}; the manifest says ${file.md5}`,
    );
  }
  file.proven = { sha256: actual.sha256, md5: actual.md5, size: actual.size };
}

/** The file's proven digests when they are for its declared sha256 and size, else undefined. */
export function provenFor(
  file: ManifestFile & { proven?: ProvenDigests | undefined },
): ProvenDigests | undefined {
  const proven = file.proven;
  return proven && proven.sha256 === file.sha256 && proven.size === file.size ? proven : undefined;
}
