import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../core/errors.js';
import { createModel } from '../../core/models.js';
import { commitVersion, startVersion } from '../../core/publish.js';
import { StartVersionRequest } from '../../schemas/version.schema.js';
import { blobOf } from '../fixtures/version-files.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

const request = (files: { path: string; text: string }[], extra: Record<string, unknown> = {}) =>
  StartVersionRequest.parse({
    version: '1.0.0',
    files: files.map((f) => {
      const { bytes: _b, ...rest } = blobOf(f.text);
      return { path: f.path, ...rest };
    }),
    ...extra,
  });

const FILES = [
  { path: 'det.onnx', text: 'weights' },
  { path: 'vocab.txt', text: 'abc' },
];
const ref = { model: 'ocr-det', version: '1.0.0' };

describe('an interrupted publish resumes', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
    await createModel(deps, { name: 'ocr-det', provider: 'paddle', description: '', tags: [] });
  });
  afterEach(() => deps.cleanup());

  it('declaring the same manifest again answers the same version and URLs for the blobs still missing', async () => {
    const first = await startVersion(deps, 'ocr-det', request(FILES, { inputShapes: { x: [1, 3] } }));
    expect(first.uploads).toHaveLength(2);
    const w = blobOf('weights');
    await deps.blobs.write(w.sha256, w.size, [w.bytes]); // one upload made it before the interruption

    const again = await startVersion(
      deps,
      'ocr-det',
      request([...FILES].reverse(), { inputShapes: { x: [1, 3] }, publisher: 'someone-else' }),
    );
    expect(again.version.seq).toBe(first.version.seq);
    expect(again.version.status).toBe('PENDING_UPLOAD');
    expect(again.uploads.map((u) => u.sha256)).toEqual([blobOf('abc').sha256]);
    const a = blobOf('abc');
    await deps.blobs.write(a.sha256, a.size, [a.bytes]);
    expect((await commitVersion(deps, ref)).status).toBe('UPLOADED');
  });

  it('answers a commit that loses the race to a concurrent commit of the same version with the committed version', async () => {
    await startVersion(deps, 'ocr-det', request(FILES));
    for (const f of FILES) {
      const b = blobOf(f.text);
      await deps.blobs.write(b.sha256, b.size, [b.bytes]);
    }
    // Both commits read PENDING_UPLOAD; the other one writes first, between this one's read and write.
    const racing = Object.assign(Object.create(deps), {
      metadata: Object.assign(Object.create(deps.metadata), {
        updateVersion: async (...args: Parameters<TestDeps['metadata']['updateVersion']>) => {
          await commitVersion(deps, ref);
          return deps.metadata.updateVersion(...args);
        },
      }),
    });
    const answered = await commitVersion(racing, ref);
    expect(answered).toMatchObject({ ...ref, status: 'UPLOADED' });
  });

  it.each([
    ['another file', [{ path: 'det.onnx', text: 'other weights' }, FILES[1]!], {}],
    ['a file less', [FILES[0]!], {}],
    ['other input shapes', FILES, { inputShapes: { x: [1, 4] } }],
    ['another memory budget', FILES, { memoryBudgetBytes: 1024 }],
  ] as const)('refuses a declaration with %s (ALREADY_EXISTS)', async (_what, files, extra) => {
    await startVersion(deps, 'ocr-det', request(FILES, { inputShapes: { x: [1, 3] } }));
    const shapes = 'inputShapes' in extra ? {} : { inputShapes: { x: [1, 3] } };
    const attempt = startVersion(deps, 'ocr-det', request([...files], { ...shapes, ...extra }));
    await expect(attempt).rejects.toBeInstanceOf(RegistryError);
    await expect(attempt).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(attempt).rejects.toThrow(/other files or settings/);
  });

  it('resumes a declaration that leaves out the md5s declared first, and refuses one declaring other md5s', async () => {
    await startVersion(deps, 'ocr-det', request(FILES));
    const withoutMd5 = request(FILES);
    for (const f of withoutMd5.files) delete f.md5;
    expect((await startVersion(deps, 'ocr-det', withoutMd5)).version.files.map((f) => f.md5)).toEqual(
      FILES.map((f) => blobOf(f.text).md5),
    );
    const otherMd5 = request(FILES);
    otherMd5.files[0]!.md5 = '0'.repeat(32);
    await expect(startVersion(deps, 'ocr-det', otherMd5)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
  });

  it('still refuses the same manifest once the version is committed', async () => {
    await startVersion(deps, 'ocr-det', request(FILES));
    for (const f of FILES) {
      const b = blobOf(f.text);
      await deps.blobs.write(b.sha256, b.size, [b.bytes]);
    }
    await commitVersion(deps, ref);
    await expect(startVersion(deps, 'ocr-det', request(FILES))).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      message: expect.stringContaining('already exists'),
    });
  });
});
