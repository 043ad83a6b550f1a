import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../adapters/fs-blobs/fs-blob-store.js';
import { UrlSigner } from '../../adapters/fs-blobs/url-signer.js';
import { systemClock } from '../../core/ports.js';
import { verifyIntegrity } from '../../gpu-validator/file-integrity.js';
import { runValidation } from '../../gpu-validator/run-validation.js';
import type { ManifestFile, Version } from '../../schemas/version.schema.js';
import { aVersion } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/**
 * The folder store hashes sha256 and md5 as it writes a blob and marks it "verified on write"; validation
 * trusts that mark instead of reading the blob again, and only while the mark names that very copy.
 */
describe('blobs verified on write', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
  });
  afterEach(() => deps.cleanup());

  async function stored(bytes: Buffer, path = 'weights.bin'): Promise<ManifestFile> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // Several chunks, as a socket delivers them.
    const chunks = [bytes.subarray(0, 1000), bytes.subarray(1000, 70_000), bytes.subarray(70_000)];
    await deps.blobs.write(sha256, bytes.length, chunks);
    return {
      path,
      size: bytes.length,
      sha256,
      md5: createHash('md5').update(bytes).digest('hex'),
      format: 'other',
    };
  }

  const versionOf = (file: ManifestFile): Version =>
    aVersion({ status: 'VALIDATING', files: [file], validation: { attempts: 1 } });

  const validate = (file: ManifestFile) =>
    runValidation(versionOf(file), {
      blobs: deps.blobs,
      scratchDir: join(deps.dir, 'scratch'),
      worker: 'w',
      memoryBudgetBytes: 1024 ** 3,
      timeoutMs: 10_000,
    });

  /** Changes one byte of the stored blob in place (same inode, same size), then puts its mtime back. */
  function rotInPlace(sha256: string): void {
    const path = deps.blobs.pathOf(sha256);
    const before = statSync(path);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0xff ^ 0x5a]), 0, 1, 5);
    closeSync(fd);
    utimesSync(path, before.atime, before.mtime);
  }

  it('records the md5 of the same pass, and the mark survives a restart of the store', async () => {
    const file = await stored(randomBytes(150_000));
    const restarted = new FsBlobStore({
      root: join(deps.dir, 'blobs'),
      signer: new UrlSigner(Buffer.alloc(32, 1)),
      publicUrl: () => 'http://127.0.0.1:1',
      clock: systemClock,
    });
    await restarted.init();
    const dest = join(deps.dir, 'scratch', 'a', 'weights.bin');
    expect(await restarted.materialize(file, dest)).toEqual({
      sha256: file.sha256,
      md5: file.md5,
      size: file.size,
    });
  });

  it('validation does not read a proven blob again; it still compares the md5 the store computed', async () => {
    const file = await stored(randomBytes(4096));
    const dest = join(deps.dir, 'scratch', 'b', 'weights.bin');
    const proven = await deps.blobs.materialize(file, dest);
    expect(proven).not.toBeNull();
    // The file at dest is not even readable: a verification that needed the bytes would fail.
    rmSync(dest);
    writeFileSync(dest, Buffer.alloc(file.size), { mode: 0 });
    await expect(verifyIntegrity({ ...file, proven: proven! }, dest)).resolves.toBeUndefined();
    await expect(verifyIntegrity({ ...file, md5: '0'.repeat(32), proven: proven! }, dest)).rejects.toThrow(
      /md5/,
    );
    // Without the proof the same file is read, and refused.
    await expect(verifyIntegrity(file, dest)).rejects.toThrow();
  });

  it('re-hashes a blob whose mark is absent: rotten bytes fail validation and are marked corrupt', async () => {
    const file = await stored(randomBytes(100_000));
    rotInPlace(file.sha256);
    rmSync(deps.blobs.verifiedPath(file.sha256));
    expect(await deps.blobs.materialize(file, join(deps.dir, 'scratch', 'c', 'x.bin'))).toBeNull();
    const report = await validate(file);
    expect(report.error?.code).toBe('CHECKSUM_MISMATCH');
    expect(await deps.blobs.stat(file.sha256)).toEqual({ size: file.size, corrupt: true });
  });

  it('ignores a mark that does not name the stored copy (written to since) or cannot be parsed', async () => {
    const file = await stored(randomBytes(10_000));
    const path = deps.blobs.pathOf(file.sha256);
    utimesSync(path, new Date(), new Date(Date.now() + 5000)); // as a write in place would
    expect(await deps.blobs.provenDigests(file.sha256)).toBeNull();
    const other = await stored(randomBytes(10_000), 'b.bin');
    writeFileSync(deps.blobs.verifiedPath(other.sha256), '{"ino":"1",');
    expect(await deps.blobs.provenDigests(other.sha256)).toBeNull();
  });

  it('a blob rotten after its mark (mtime unchanged) is still caught by the scrub, which un-proves it', async () => {
    const file = await stored(randomBytes(100_000));
    rotInPlace(file.sha256);
    // The scrub's check reads every byte, whatever the mark says.
    expect(await deps.blobs.check(file)).toBe('corrupt');
    await deps.blobs.markCorrupt(file.sha256);
    expect(await deps.blobs.provenDigests(file.sha256)).toBeNull();
    const report = await validate(file);
    expect(report.outcome).toBe('failed');
  });

  it('refuses bytes that differ from the declared sha256 and stores nothing under it', async () => {
    const bytes = randomBytes(50_000);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const bad = Buffer.from(bytes);
    bad[7] = (bad[7]! + 1) % 256;
    await expect(deps.blobs.write(sha256, bytes.length, [bad])).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    expect(await deps.blobs.stat(sha256)).toBeNull();
    expect(await deps.blobs.provenDigests(sha256)).toBeNull();
  });
});
