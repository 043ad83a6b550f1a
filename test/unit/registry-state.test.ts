import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import { providerFilesPresent } from '../../core/registry-state.js';
import { aManifestFile, aNewVersion } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** ocr_model_files_present's source: every file of every served version, checked in the real blob folder. */
describe('providerFilesPresent', () => {
  let deps: TestDeps;
  const bytes = Buffer.from('model bytes');
  const sha256 = createHash('sha256').update(bytes).digest('hex');

  beforeEach(async () => {
    deps = await localTestDeps();
    await createModel(deps, { name: 'det', provider: 'paddle', description: '', tags: [] });
    await createModel(deps, { name: 'empty', provider: 'nothing', description: '', tags: [] });
    const now = deps.clock.now().toISOString();
    await deps.metadata.createVersion(
      aNewVersion({
        model: 'det',
        provider: 'paddle',
        status: 'VERIFIED',
        files: [aManifestFile({ path: 'det.onnx', size: bytes.length, sha256 })],
        createdAt: now,
        validation: { attempts: 1 },
      }),
    );
  });
  afterEach(() => deps.cleanup());

  it('is false while a file is missing, true once it is stored, null for a provider serving nothing', async () => {
    expect(await providerFilesPresent(deps)).toEqual({ paddle: false, nothing: null });
    await deps.blobs.write(sha256, bytes.length, Readable.from([bytes]));
    expect(await providerFilesPresent(deps)).toEqual({ paddle: true, nothing: null });
  });
});
