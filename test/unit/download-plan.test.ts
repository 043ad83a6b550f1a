import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkDownloadPlan } from '../../cli/files/download-plan.js';
import { aVersion } from '../helpers/builders.js';

const hex = (algorithm: string, text: string) => createHash(algorithm).update(text).digest('hex');

function file(path: string, content = path) {
  return {
    path,
    size: content.length,
    sha256: hex('sha256', content),
    md5: hex('md5', content),
    format: 'other' as const,
  };
}

/** A plan as the server answers it: the version with its manifest, and a GET URL per file. */
// biome-ignore lint/suspicious/noExplicitAny: tests mutate the plan's JSON freely to make it hostile
function plan(files = [file('det.onnx'), file('dict/keys.txt')]): any {
  return {
    version: aVersion({
      model: 'ocr-det',
      version: '1.0.0',
      provider: 'paddle',
      status: 'VERIFIED',
      files,
      validation: { attempts: 1 },
    }),
    files: files.map((f) => ({
      ...f,
      download: {
        url: `http://127.0.0.1:1/blobs/sha256/${f.sha256}`,
        method: 'GET',
        headers: {},
        expiresAt: '2100-01-01T00:00:00Z',
      },
    })),
  };
}

describe('checkDownloadPlan', () => {
  it('accepts the plan the server answers', () => {
    const raw = plan();
    expect(checkDownloadPlan(raw, 'ocr-det').files.map((f) => f.path)).toEqual(['det.onnx', 'dict/keys.txt']);
  });

  it.each([
    [
      'a version string that climbs out',
      (p: ReturnType<typeof plan>) => (p.version.version = '../../x'),
      'version.version',
    ],
    ['a version string with a slash', (p) => (p.version.version = 'a/b'), 'version.version'],
    ['a file path that climbs out', (p) => (p.files[0].path = '../../etc/x'), 'files.0.path'],
    ['an absolute file path', (p) => (p.files[0].path = '/etc/x'), 'files.0.path'],
    ['a path under a name fetch writes', (p) => (p.files[0].path = 'checksums.txt/a'), 'files.0.path'],
    ['a segment over 255 bytes', (p) => (p.files[0].path = 'é'.repeat(128)), 'files.0.path'],
    ['a lone surrogate in a path', (p) => (p.files[0].path = 'det\ud800.onnx'), 'files.0.path'],
    ['a digest that is not hex', (p) => (p.files[0].sha256 = 'z'.repeat(64)), 'files.0.sha256'],
    ['a negative size', (p) => (p.files[0].size = -1), 'files.0.size'],
    ['a size beyond 2^53', (p) => (p.files[0].size = 2 ** 60), 'files.0.size'],
    ['a size other than the manifest', (p) => (p.files[0].size += 1), 'files.0'],
    ['a digest other than the manifest', (p) => (p.files[1].sha256 = p.files[0].sha256), 'files.1'],
    ['another model', (p) => (p.version.model = 'other'), 'version.model'],
    ['a version that is not VERIFIED', (p) => (p.version.status = 'QUARANTINED'), 'version.status'],
    ['a file not in the manifest', (p) => p.files.push({ ...p.files[0], path: 'extra.bin' }), 'files'],
    ['a path listed twice', (p) => (p.files[1] = { ...p.files[0] }), 'files.1.path'],
    [
      'a URL that is not http',
      (p) => (p.files[0].download.url = 'file:///etc/passwd'),
      'files.0.download.url',
    ],
    [
      'an upload instead of a download',
      (p) => (p.files[0].download.method = 'PUT'),
      'files.0.download.method',
    ],
    ['no files array', (p) => delete p.files, 'files'],
  ] as Array<[string, (p: ReturnType<typeof plan>) => unknown, string]>)(
    'refuses %s with UNSAFE_PLAN (exit 6) naming the field',
    (_what, mutate, field) => {
      const raw = plan();
      mutate(raw);
      let error: unknown;
      try {
        checkDownloadPlan(raw, 'ocr-det');
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: 'UNSAFE_PLAN', exitCode: 6, details: { field } });
      expect((error as Error).message).toContain('nothing was written');
    },
  );

  it('refuses a manifest where a path is both a file and a folder', () => {
    const raw = plan([file('a'), file('a/b')]);
    expect(() => checkDownloadPlan(raw, 'ocr-det')).toThrow(/a is both a file and a folder/);
  });

  // Node writes a lone surrogate as U+FFFD: these two paths would be one file on every node.
  it('refuses two paths with lone surrogates as UNSAFE_PLAN, not a file-system error later', () => {
    const raw = plan([file('a\ud800'), file('a\udc00')]);
    expect(() => checkDownloadPlan(raw, 'ocr-det')).toThrow(
      expect.objectContaining({
        code: 'UNSAFE_PLAN',
        exitCode: 6,
        details: { field: 'version.files.0.path' },
      }),
    );
  });

  // Publishing refuses them (core/file-paths.ts); a version that holds them was published before that rule
  // and lays out on the file systems that keep its names apart, so a fetch compares paths exactly.
  it('takes, on fetch, paths only a case-insensitive or normalizing file system would merge', () => {
    for (const paths of [
      ['Model.onnx', 'model.onnx'],
      ['caf\u00e9.txt', 'cafe\u0301.txt'],
      ['A', 'a/b'],
    ])
      expect(checkDownloadPlan(plan(paths.map((p) => file(p))), 'ocr-det').files).toHaveLength(2);
  });

  it('accepts paths that differ other than by case or normalization', () => {
    const paths = ['Model1.onnx', 'model2.onnx', 'caf\u00e9.txt', 'cafe.txt', 'ab/c', 'a'];
    expect(checkDownloadPlan(plan(paths.map((p) => file(p))), 'ocr-det').files).toHaveLength(6);
  });

  it('refuses more files than a version may hold', () => {
    const raw = plan(Array.from({ length: 10_001 }, (_, i) => file(`f${i}`)));
    expect(() => checkDownloadPlan(raw, 'ocr-det')).toThrow(/has 10001 files, a version holds at most 10000/);
  });

  it('refuses what is not a plan at all', () => {
    for (const raw of [null, 'x', 42, [], {}])
      expect(() => checkDownloadPlan(raw, 'ocr-det')).toThrow(/download plan is unsafe/);
  });
});
