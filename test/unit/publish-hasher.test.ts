import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublishHasher } from '../../cli/files/hash-file.js';

/** One pair of digest workers hashes every file of a publish: each file's digests are its own. */
describe('createPublishHasher', () => {
  const dir = mkdtempSync(join(tmpdir(), 'publish-hasher-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each file, in turn, the digests of its own bytes (ring slots and digests do not leak across files)', async () => {
    // Sizes around the 2 MiB slot: several slots, exactly one, and less than one; and an empty file.
    const sizes = [5 * 1024 * 1024 + 17, 2 * 1024 * 1024, 1000, 0];
    const files = sizes.map((size, i) => {
      const bytes = randomBytes(size);
      const path = join(dir, `f${i}.bin`);
      writeFileSync(path, bytes);
      return {
        path,
        expected: {
          size,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          md5: createHash('md5').update(bytes).digest('hex'),
        },
      };
    });
    const hasher = createPublishHasher();
    try {
      for (const f of files) {
        let last = -1;
        const got = await hasher.hash(f.path, (b) => (last = b));
        expect(got).toEqual(f.expected);
        if (f.expected.size > 0) expect(last).toBe(f.expected.size);
      }
    } finally {
      await hasher.close();
    }
  });

  it('names the file it cannot read', async () => {
    const hasher = createPublishHasher();
    try {
      await expect(hasher.hash(join(dir, 'absent.bin'))).rejects.toThrow(/absent\.bin/);
    } finally {
      await hasher.close();
    }
  });
});
