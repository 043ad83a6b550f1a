import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runValidation } from '../../gpu-validator/run-validation.js';
import type { ManifestFile, Version } from '../../schemas/version.schema.js';
import { aVersion } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** A validation's re-hash marks a blob corrupt only when its bytes do not hash to its sha256. */
describe('validation marks rotted blobs corrupt', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
  });
  afterEach(() => deps.cleanup());

  async function stored(text: string, md5?: string): Promise<ManifestFile> {
    const bytes = Buffer.from(text);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await deps.blobs.write(sha256, bytes.length, [bytes]);
    return {
      path: 'vocab.txt',
      size: bytes.length,
      sha256,
      md5: md5 ?? createHash('md5').update(bytes).digest('hex'),
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

  it('marks the blob whose stored bytes changed', async () => {
    const file = await stored('a\nb\nc\n');
    const fd = openSync(deps.blobs.pathOf(file.sha256), 'r+');
    writeSync(fd, Buffer.from('z'), 0, 1, 2);
    closeSync(fd);
    const report = await validate(file);
    expect(report.error?.code).toBe('CHECKSUM_MISMATCH');
    expect(await deps.blobs.stat(file.sha256)).toEqual({ size: file.size, corrupt: true });
  });

  it('does not mark intact bytes whose manifest declared a wrong md5', async () => {
    const file = await stored('intact\n', '0'.repeat(32));
    const report = await validate(file);
    expect(report.error?.code).toBe('CHECKSUM_MISMATCH');
    expect(report.error?.message).toMatch(/md5/);
    expect(await deps.blobs.stat(file.sha256)).toEqual({ size: file.size });
  });
});
