import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../../cli/files/hash-file.js';

const MiB = 1024 * 1024;
// 0 and 1 byte, and sizes that are not multiples of the 4 MiB read, one of them many reads long.
const SIZES = [0, 1, 2 * MiB + 1, 4 * MiB - 3, 17 * MiB + 5];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'files-hash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function randomFile(size: number): Promise<{ path: string; data: Buffer }> {
  const data = randomBytes(size);
  const path = join(dir, `data-${size}.bin`);
  await writeFile(path, data);
  return { path, data };
}

const digest = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

describe('sha256File', () => {
  it.each(SIZES)('matches one-shot crypto sha256 for %i bytes', async (size) => {
    const { path, data } = await randomFile(size);
    await expect(sha256File(path)).resolves.toEqual({ size, sha256: digest('sha256', data) });
  });

  it('reports progress that ends at the file size', async () => {
    const { path } = await randomFile(9 * MiB + 1);
    const seen: number[] = [];
    await sha256File(path, (bytes) => seen.push(bytes));
    expect(seen).toEqual([4 * MiB, 8 * MiB, 9 * MiB + 1]);
  });

  it('throws FILE_MISSING for a file that does not exist', async () => {
    await expect(sha256File(join(dir, 'nope.bin'))).rejects.toMatchObject({ code: 'FILE_MISSING' });
  });
});
