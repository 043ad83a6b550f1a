import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { RegistryError } from '../../core/errors.js';

/**
 * More than fetch ever writes: `.modelgate.json` holds a version the registry answered in at most
 * MAX_ANSWER_BYTES (128 MiB, cli/registry-client.ts), pretty-printed.
 */
export const MAX_METADATA_BYTES = 256 * 1024 * 1024;

const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

const notFetchs = (path: string, what: string) =>
  new RegistryError('CONFIG_INVALID', `${path} ${what}: not a manifest that fetch writes`, {
    path,
  });

/**
 * The text of a folder's `.modelgate.json`, which anyone may have put there: read only if it is a regular
 * file of at most MAX_METADATA_BYTES, and then only the bytes fstat found. Opened with O_NONBLOCK, so a
 * FIFO there does not hang the open; fstat on that descriptor refuses a FIFO or a device (/dev/zero behind
 * a link would be read forever). Errors from open (ENOENT, EACCES) are thrown as they are; the rest is
 * RegistryError CONFIG_INVALID naming the file.
 */
export async function readMetadataFile(path: string): Promise<string> {
  const fh = await open(path, READ_FLAGS);
  try {
    const stats = await fh.stat();
    if (!stats.isFile()) throw notFetchs(path, 'is not a regular file');
    if (stats.size > MAX_METADATA_BYTES)
      throw notFetchs(path, `is ${stats.size} bytes, more than the ${MAX_METADATA_BYTES / 2 ** 20} MiB`);
    const bytes = Buffer.alloc(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await fh.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return bytes.subarray(0, filled).toString('utf8');
  } finally {
    await fh.close();
  }
}
