import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';

/**
 * Creates `path` (it must not exist) with `bytes` random bytes, written 8 MiB at a time and fsynced, so no
 * write-back of it runs during what is measured next.
 */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'wx');
  const chunk = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    for (let written = 0; written < bytes; written += chunk.length)
      await fh.write(randomFillSync(chunk), 0, Math.min(chunk.length, bytes - written));
    await fh.sync();
  } finally {
    await fh.close();
  }
}
