import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_STAGED_UPLOADS } from '../../adapters/fs-blobs/staged-uploads.js';
import { setAlias } from '../../core/aliases.js';
import { planDownload } from '../../core/download.js';
import { RegistryError } from '../../core/errors.js';
import { createModel } from '../../core/models.js';
import type { BlobStore, RegistryDeps } from '../../core/ports.js';
import { commitVersion, stageUploads, startVersion, uploadPartTargets } from '../../core/publish.js';
import { resolveVersion } from '../../core/resolve.js';
import { claimValidation, completeValidation } from '../../core/validation-jobs.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import { StartVersionRequest, UPLOAD_TARGETS_PAGE } from '../../schemas/version.schema.js';
import { blobOf } from '../fixtures/version-files.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

const request = (version: string, files: { path: string; text: string }[]) =>
  StartVersionRequest.parse({
    version,
    files: files.map((f) => {
      const { bytes: _b, ...rest } = blobOf(f.text);
      return { path: f.path, ...rest };
    }),
  });

const passedReport = (worker: string): ValidationReport => ({
  outcome: 'passed',
  runtime: { name: 'onnxruntime-node', version: 'test' },
  executionProvider: 'cpu',
  worker,
  attempt: 1,
  startedAt: new Date().toISOString(),
  finishedAt: new Date().toISOString(),
  durationMs: 1,
  memoryBudgetBytes: 1024,
  files: [],
  totals: { loadMs: 0, inferenceMs: 0, peakRssBytes: 0 },
  nodeClasses: [],
});

const expectCode = async (p: Promise<unknown>, code: string) => {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  expect((error as RegistryError).code).toBe(code);
  return error as RegistryError;
};

describe('publish → commit → validate → fetch plan (use cases over SQLite and a blob folder)', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
    await createModel(deps, { name: 'ocr-det', provider: 'paddle', description: '', tags: [] });
  });
  afterEach(() => deps.cleanup());

  /** The folder store's methods every BlobStore has, none of the optional ones (no parts, no staging). */
  const requiredBlobMethods = (): BlobStore => ({
    stat: (sha) => deps.blobs.stat(sha),
    uploadTarget: (b, ttl) => deps.blobs.uploadTarget(b, ttl),
    downloadTarget: (b, ttl) => deps.blobs.downloadTarget(b, ttl),
    materialize: (b, dest) => deps.blobs.materialize(b, dest),
    markCorrupt: (sha) => deps.blobs.markCorrupt(sha),
    check: (b, throttle) => deps.blobs.check(b, throttle),
    list: () => deps.blobs.list(),
  });

  async function store(text: string) {
    const b = blobOf(text);
    await deps.blobs.write(b.sha256, b.size, [b.bytes]);
  }

  it('asks only for blobs the registry lacks, once per distinct blob', async () => {
    await store('weights');
    const res = await startVersion(
      deps,
      'ocr-det',
      request('1.0.0', [
        { path: 'det.onnx', text: 'weights' },
        { path: 'vocab.txt', text: 'abc' },
        { path: 'copy/vocab.txt', text: 'abc' },
      ]),
    );
    expect(res.version.status).toBe('PENDING_UPLOAD');
    expect(res.version.seq).toBe(1);
    expect(res.uploads.map((u) => u.sha256)).toEqual([blobOf('abc').sha256]);
    expect(res.uploads[0]!.url).toContain(`/blobs/sha256/${blobOf('abc').sha256}`);
    expect(res.version.files.map((f) => f.format)).toEqual(['onnx', 'other', 'other']);
  });

  it('answers the upload targets of a version of many new files a page at a time, each blob once', async () => {
    const files = Array.from({ length: UPLOAD_TARGETS_PAGE * 2 + 3 }, (_, n) => ({
      path: `shard-${n}.bin`,
      text: `bytes of shard ${n}`,
    }));
    await store('bytes of shard 7'); // stored already: never a target
    // Without pagedUploads (a client from before paging) every target comes at once.
    const all = await startVersion(deps, 'ocr-det', request('1.0.0', files));
    expect(all.uploads).toHaveLength(files.length - 1);
    expect(all.moreUploadsAfter).toBeUndefined();
    const declaration = { ...request('1.0.0', files), pagedUploads: true };
    const pages: string[][] = [];
    let after: string | undefined;
    do {
      const res = await startVersion(deps, 'ocr-det', {
        ...declaration,
        ...(after ? { uploadsAfter: after } : {}),
      });
      pages.push(res.uploads.map((u) => u.sha256));
      after = res.moreUploadsAfter;
    } while (after !== undefined && pages.length < 10);
    expect(pages.map((p) => p.length)).toEqual([UPLOAD_TARGETS_PAGE, UPLOAD_TARGETS_PAGE, 2]);
    const paged = pages.flat();
    expect(paged).toEqual([...paged].sort()); // sha256 order, so a cursor continues where a page ended
    expect(new Set(paged)).toEqual(
      new Set(files.filter((f) => f.text !== 'bytes of shard 7').map((f) => blobOf(f.text).sha256)),
    );
    // The declaration again resumes the same version: no second version, the same first page.
    const again = await startVersion(deps, 'ocr-det', declaration);
    expect(again.version.seq).toBe(1);
    expect(again.uploads.map((u) => u.sha256)).toEqual(pages[0]);
  });

  it('refuses a commit until every blob is stored, naming the missing files', async () => {
    await startVersion(
      deps,
      'ocr-det',
      request('1.0.0', [
        { path: 'a.onnx', text: 'A' },
        { path: 'b.txt', text: 'B' },
      ]),
    );
    await store('A');
    const e = await expectCode(commitVersion(deps, { model: 'ocr-det', version: '1.0.0' }), 'BLOBS_MISSING');
    expect(e.details?.missing).toEqual([{ path: 'b.txt', sha256: blobOf('B').sha256 }]);
    expect(deps.enqueued).toEqual([]);
    await store('B');
    const committed = await commitVersion(deps, { model: 'ocr-det', version: '1.0.0' });
    expect(committed.status).toBe('UPLOADED');
    expect(deps.enqueued).toEqual(['ocr-det@1.0.0']);
    // a retried commit is harmless
    expect((await commitVersion(deps, { model: 'ocr-det', version: '1.0.0' })).status).toBe('UPLOADED');
    expect(deps.enqueued).toHaveLength(1);
  });

  it('refuses to publish a version twice and leaves the stored one untouched', async () => {
    const first = await startVersion(deps, 'ocr-det', request('1.0.0', [{ path: 'a.onnx', text: 'A' }]));
    await expectCode(
      startVersion(deps, 'ocr-det', request('1.0.0', [{ path: 'a.onnx', text: 'other' }])),
      'ALREADY_EXISTS',
    );
    const stored = await deps.metadata.getVersion({ model: 'ocr-det', version: '1.0.0' });
    expect(stored).toEqual(first.version);
  });

  it('refuses manifests a node could not lay out', async () => {
    const dup = await expectCode(
      startVersion(
        deps,
        'ocr-det',
        request('1', [
          { path: 'a', text: 'x' },
          { path: 'a', text: 'y' },
        ]),
      ),
      'INVALID_REQUEST',
    );
    expect(dup.details?.field).toBe('files[1].path');
    await expectCode(
      startVersion(
        deps,
        'ocr-det',
        request('2', [
          { path: 'a', text: 'x' },
          { path: 'a/b', text: 'y' },
        ]),
      ),
      'INVALID_REQUEST',
    );
    expect(await deps.metadata.getVersion({ model: 'ocr-det', version: '1' })).toBeNull();
  });

  it('serves and aliases only VERIFIED versions', async () => {
    await store('A');
    await startVersion(deps, 'ocr-det', request('1.0.0', [{ path: 'a.onnx', text: 'A' }]));
    const ref = { model: 'ocr-det', version: '1.0.0' };
    await commitVersion(deps, ref);
    await expectCode(planDownload(deps, 'ocr-det', '1.0.0'), 'NOT_VERIFIED');
    await expectCode(setAlias(deps, 'ocr-det', 'production', '1.0.0'), 'NOT_VERIFIED');
    await expectCode(planDownload(deps, 'ocr-det', 'latest'), 'NOT_FOUND');

    const claimed = await claimValidation(deps, (await deps.metadata.getVersion(ref))!, 'w1');
    expect(claimed?.status).toBe('VALIDATING');
    await completeValidation(deps, ref, 'w1', passedReport('w1'));

    await setAlias(deps, 'ocr-det', 'production', '1.0.0');
    const plan = await planDownload(deps, 'ocr-det', 'production');
    expect(plan.version.version).toBe('1.0.0');
    expect(plan.files[0]!.download.method).toBe('GET');
    expect((await resolveVersion(deps, 'ocr-det', 'latest')).version).toBe('1.0.0');
    await expectCode(resolveVersion(deps, 'ocr-det', 'nope'), 'NOT_FOUND');
    await expectCode(setAlias(deps, 'ocr-det', 'production', '9.9.9'), 'NOT_FOUND');
  });

  describe('staged uploads', () => {
    const ref = { model: 'ocr-det', version: '1.0.0' };
    const A = { path: 'a.bin', text: 'A' };
    const A_AND_B = [A, { path: 'b.bin', text: 'B' }];
    /** Declares ocr-det@1.0.0 with these files. */
    const declare = (files: { path: string; text: string }[], on: RegistryDeps = deps) =>
      startVersion(on, 'ocr-det', request('1.0.0', files));

    /** Sends `text` to a new staged upload of the folder store, as the blob endpoint would. */
    async function stage(text: string): Promise<string> {
      const b = blobOf(text);
      const [target] = (await stageUploads(deps, { files: [{ size: b.size, headSha256: b.sha256 }] }))
        .uploads;
      await deps.blobs.writeStaged(target!.uploadId, [b.bytes]);
      return target!.uploadId;
    }

    it('claims staged bytes at commit as the blob they hash to', async () => {
      const uploadId = await stage('A');
      await declare([A]);
      const committed = await commitVersion(deps, ref, {
        staged: [{ sha256: blobOf('A').sha256, uploadId }],
      });
      expect(committed.status).toBe('UPLOADED');
      expect(await deps.blobs.stat(blobOf('A').sha256)).toEqual({ size: 1 });
    });

    it('refuses a claim of other bytes (CHECKSUM_MISMATCH): the version keeps waiting, nothing is stored', async () => {
      const uploadId = await stage('B'); // the file changed between its hash and its upload
      await declare([A]);
      const e = await expectCode(
        commitVersion(deps, ref, { staged: [{ sha256: blobOf('A').sha256, uploadId }] }),
        'CHECKSUM_MISMATCH',
      );
      expect(e.details).toMatchObject({
        sha256: blobOf('A').sha256,
        actual: blobOf('B').sha256,
        field: 'staged[0].sha256',
        path: 'a.bin',
      });
      expect(e.message).toMatch(/^a\.bin: /);
      expect((await deps.metadata.getVersion(ref))?.status).toBe('PENDING_UPLOAD');
      expect(await deps.blobs.stat(blobOf('A').sha256)).toBeNull();
      expect(await deps.blobs.stat(blobOf('B').sha256)).toBeNull();
    });

    it('settles every claim of a refused commit: good bytes stored, bad dropped, nothing left staged', async () => {
      const bad = await stage('X'); // b.bin changed after it was hashed
      const good = await stage('A');
      await declare(A_AND_B);
      const e = await expectCode(
        commitVersion(deps, ref, {
          staged: [
            { sha256: blobOf('B').sha256, uploadId: bad },
            { sha256: blobOf('A').sha256, uploadId: good },
          ],
        }),
        'CHECKSUM_MISMATCH',
      );
      expect(e.details).toMatchObject({ path: 'b.bin', field: 'staged[0].sha256' });
      expect(await deps.blobs.stat(blobOf('A').sha256)).toEqual({ size: 1 });
      expect(await deps.blobs.stat(blobOf('B').sha256)).toBeNull();
      expect(deps.blobs.stagedUploads).toBe(0);
    });

    it('takes a retried commit that names uploads it already claimed', async () => {
      const uploadId = await stage('A');
      await declare(A_AND_B);
      const staged = [{ sha256: blobOf('A').sha256, uploadId }];
      await expectCode(commitVersion(deps, ref, { staged }), 'BLOBS_MISSING'); // b.bin not sent yet
      await store('B');
      expect((await commitVersion(deps, ref, { staged })).status).toBe('UPLOADED');
      // An id never made, for a blob not stored, is still refused, naming the entry.
      await startVersion(deps, 'ocr-det', request('2.0.0', [{ path: 'c.bin', text: 'C' }]));
      const e = await expectCode(
        commitVersion(
          deps,
          { model: 'ocr-det', version: '2.0.0' },
          { staged: [{ sha256: blobOf('C').sha256, uploadId: 'f'.repeat(32) }] },
        ),
        'INVALID_REQUEST',
      );
      expect(e.details).toMatchObject({ field: 'staged[0].uploadId', path: 'c.bin' });
    });

    it("refuses a claim for a file that is not the version's, and claims nothing", async () => {
      const uploadId = await stage('B');
      await declare([A]);
      const e = await expectCode(
        commitVersion(deps, ref, { staged: [{ sha256: blobOf('B').sha256, uploadId }] }),
        'INVALID_REQUEST',
      );
      expect(e.details?.field).toBe('staged[0].sha256');
      expect(deps.blobs.stagedUploads).toBe(1);
    });

    it("answers null past the store's limit of staged uploads: those files go the usual way", async () => {
      const files = Array.from({ length: 100 }, (_, i) => ({ size: 1, headSha256: blobOf(`f${i}`).sha256 }));
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(...(await stageUploads(deps, { files })).uploads);
      expect(answers.filter((u) => u !== null)).toHaveLength(MAX_STAGED_UPLOADS);
      expect(answers.slice(MAX_STAGED_UPLOADS).every((u) => u === null)).toBe(true);
    });

    it('answers staged: false where the store takes none (S3), and refuses claims there', async () => {
      const s3Like = { ...deps, blobs: requiredBlobMethods() };
      expect(await stageUploads(s3Like, { files: [{ size: 1, headSha256: 'a'.repeat(64) }] })).toEqual({
        staged: false,
        uploads: [],
      });
      await declare([A], s3Like);
      const e = await expectCode(
        commitVersion(s3Like, ref, { staged: [{ sha256: blobOf('A').sha256, uploadId: 'a'.repeat(32) }] }),
        'INVALID_REQUEST',
      );
      expect(e.details?.field).toBe('staged');
    });
  });

  describe('multipart uploads', () => {
    const ref = { model: 'ocr-det', version: '1.0.0' };
    const parts = [{ partNumber: 1, checksumSha256: `${'A'.repeat(43)}=`, etag: '"e1"' }];

    /** The folder store with the two multipart methods of the port: assembling stores the blob. */
    function withParts(): { deps: RegistryDeps; assembled: string[] } {
      const assembled: string[] = [];
      const blobs: BlobStore = {
        ...requiredBlobMethods(),
        partUploadTargets: async (b, uploadId, ps) =>
          ps.map((p) => ({
            partNumber: p.partNumber,
            url: `http://parts/${b.sha256}/${uploadId}/${p.partNumber}`,
            method: 'PUT' as const,
            headers: {},
            expiresAt: '',
          })),
        completeUpload: async (b, uploadId) => {
          assembled.push(`${b.sha256}/${uploadId}`);
          await store(b.sha256 === blobOf('A').sha256 ? 'A' : 'B');
        },
      };
      return { deps: { ...deps, blobs }, assembled };
    }

    it('assembles the uploads named at commit, and not a blob already stored', async () => {
      const { deps: d, assembled } = withParts();
      await startVersion(
        d,
        'ocr-det',
        request('1.0.0', [
          { path: 'a.bin', text: 'A' },
          { path: 'b.bin', text: 'B' },
        ]),
      );
      await store('B'); // e.g. another publisher's upload finished first
      const committed = await commitVersion(d, ref, {
        multipart: [
          { sha256: blobOf('A').sha256, uploadId: 'ua', parts },
          { sha256: blobOf('B').sha256, uploadId: 'ub', parts },
        ],
      });
      expect(committed.status).toBe('UPLOADED');
      expect(assembled).toEqual([`${blobOf('A').sha256}/ua`]);
    });

    it("refuses uploads of files that are not the version's, and assembles nothing", async () => {
      const { deps: d, assembled } = withParts();
      await startVersion(d, 'ocr-det', request('1.0.0', [{ path: 'a.bin', text: 'A' }]));
      const e = await expectCode(
        commitVersion(d, ref, { multipart: [{ sha256: blobOf('B').sha256, uploadId: 'ub', parts }] }),
        'INVALID_REQUEST',
      );
      expect(e.details?.field).toBe('multipart[0].sha256');
      expect(assembled).toEqual([]);
    });

    it('signs parts only for a file of a version still taking uploads', async () => {
      const { deps: d } = withParts();
      await startVersion(d, 'ocr-det', request('1.0.0', [{ path: 'a.bin', text: 'A' }]));
      const ask = (sha256: string) =>
        uploadPartTargets(d, ref, {
          sha256,
          uploadId: 'ua',
          parts: [{ partNumber: 2, checksumSha256: parts[0]!.checksumSha256 }],
        });
      expect((await ask(blobOf('A').sha256)).parts.map((p) => p.url)).toEqual([
        `http://parts/${blobOf('A').sha256}/ua/2`,
      ]);
      await expectCode(ask(blobOf('B').sha256), 'INVALID_REQUEST');
      await store('A');
      await commitVersion(d, ref);
      await expectCode(ask(blobOf('A').sha256), 'CONFLICT');
    });

    it('says so where the store takes every file in one upload', async () => {
      await startVersion(deps, 'ocr-det', request('1.0.0', [{ path: 'a.bin', text: 'A' }]));
      const sha256 = blobOf('A').sha256;
      await expectCode(
        uploadPartTargets(deps, ref, {
          sha256,
          uploadId: 'u',
          parts: [{ partNumber: 1, checksumSha256: parts[0]!.checksumSha256 }],
        }),
        'INVALID_REQUEST',
      );
      await expectCode(
        commitVersion(deps, ref, { multipart: [{ sha256, uploadId: 'u', parts }] }),
        'INVALID_REQUEST',
      );
    });
  });
});
