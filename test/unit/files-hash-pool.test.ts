import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSha256Pool, poolThreads } from '../../cli/files/hash-pool.js';

const MiB = 1024 * 1024;
// Empty, one byte, either side of the 4 MiB read, and several reads with a short last one.
const SIZES = [0, 1, 4 * MiB - 3, 4 * MiB, 4 * MiB + 1, 9 * MiB + 5];

let dir: string;
const files: Array<{ path: string; size: number; sha256: string }> = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'files-hash-pool-'));
  for (const size of SIZES) {
    const data = randomBytes(size);
    const path = join(dir, `data-${size}.bin`);
    await writeFile(path, data);
    files.push({ path, size, sha256: createHash('sha256').update(data).digest('hex') });
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createSha256Pool', () => {
  it('gives, for files hashed two at a time, the digests of createHash over each whole file', async () => {
    const pool = createSha256Pool(2);
    try {
      const results = await Promise.all(files.map((file) => pool.hash(file.path)));
      expect(results).toEqual(files.map(({ size, sha256 }) => ({ size, sha256 })));
      // The same threads and buffers serve a second round.
      await expect(pool.hash(files[5]!.path)).resolves.toEqual({
        size: files[5]!.size,
        sha256: files[5]!.sha256,
      });
    } finally {
      await pool.close();
    }
  });

  it('reports a file that cannot be read with its path and code, and hashes the others', async () => {
    const pool = createSha256Pool(1);
    try {
      const missing = join(dir, 'gone.bin');
      const [bad, good] = await Promise.allSettled([pool.hash(missing), pool.hash(files[1]!.path)]);
      expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'FILE_MISSING' } });
      expect((bad as PromiseRejectedResult).reason.message).toContain(missing);
      expect(good).toEqual({ status: 'fulfilled', value: { size: 1, sha256: files[1]!.sha256 } });
    } finally {
      await pool.close();
    }
  });

  it('does not follow a symlink in place of a file', async () => {
    const link = join(dir, 'link.bin');
    await symlink(files[1]!.path, link);
    const pool = createSha256Pool(1);
    try {
      await expect(pool.hash(link)).rejects.toMatchObject({ code: 'ELOOP' });
    } finally {
      await pool.close();
    }
  });

  it('follows a symlink when asked (publish), and reports the bytes hashed as it reads', async () => {
    const link = join(dir, 'followed.bin');
    const target = files.at(-1)!; // several 4 MiB reads and a short last one
    await symlink(target.path, link);
    const pool = createSha256Pool(1);
    const seen: number[] = [];
    try {
      await expect(
        pool.hash(link, { followSymlinks: true, onProgress: (b) => seen.push(b) }),
      ).resolves.toEqual({ size: target.size, sha256: target.sha256 });
      expect(seen.length).toBeGreaterThan(2);
      expect(seen).toEqual([...seen].sort((x, y) => x - y));
      expect(seen.at(-1)).toBe(target.size);
    } finally {
      await pool.close();
    }
  });

  it('refuses what is still queued when closed, and any file after', async () => {
    const pool = createSha256Pool(1);
    const pending = [pool.hash(files[5]!.path), pool.hash(files[4]!.path)].map((p) =>
      p.then(
        () => 'done',
        () => 'refused',
      ),
    );
    await pool.close();
    expect(await Promise.all(pending)).toContain('refused');
    await expect(pool.hash(files[0]!.path)).rejects.toThrow(/closed/);
  });

  it('uses one thread per file, at most two', () => {
    expect(poolThreads(0)).toBe(1);
    expect(poolThreads(1)).toBe(1);
    expect(poolThreads(10)).toBeLessThanOrEqual(2);
  });
});
