import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { api } from './harness.js';
import { useServer } from './use-server.js';

const digests = (bytes: Buffer) => ({
  size: bytes.length,
  sha256: createHash('sha256').update(bytes).digest('hex'),
  md5: createHash('md5').update(bytes).digest('hex'),
});

describe('publish refuses what no node could fetch', () => {
  const fixture = useServer();
  const run = (...args: string[]) => fixture.run(...args);
  /** A folder under the work folder with the given files (text content). */
  function folder(name: string, files: Record<string, string> = {}): string {
    const dir = join(fixture.work, name);
    mkdirSync(dir, { recursive: true });
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  }

  beforeAll(async () => {
    expect((await api(fixture.server, 'POST', '/api/v1/models', { name: 'm' })).status).toBe(201);
  });

  it.each([
    ['checksums.txt/a.bin'],
    ['SHA256SUMS/x'],
    ['.modelgate.json/y.onnx'],
    ['SHA256SUMS'],
    ['Checksums.TXT'],
  ])('refuses %s in a published folder (exit 2 naming it)', async (path) => {
    const dir = folder(`reserved-${path.replaceAll('/', '_')}`, { [path]: 'x', 'model.bin': 'y' });
    const published = await run('publish', 'm@r1', dir);
    expect(published.code).toBe(2);
    expect(published.stderr).toContain(`path "${path}"`);
    expect(published.stderr).toContain('written by fetch');
  });

  it.each([
    ['under a reserved name', 'checksums.txt/a.bin', 'written by fetch'],
    ['with a segment over 255 bytes', `models/${'a'.repeat(256)}.onnx`, 'longer than 255 bytes'],
    ['with a 2-byte character segment over 255 bytes', 'é'.repeat(128), 'longer than 255 bytes'],
    // JSON may carry a lone surrogate (`"\ud800"`); Node would write it to disk as U+FFFD.
    ['with a lone surrogate', 'x\ud800.txt', 'well-formed Unicode'],
  ])('the API answers 400 naming the field for a path %s', async (_what, path, message) => {
    const res = await api(fixture.server, 'POST', '/api/v1/models/m/versions', {
      version: 'api1',
      files: [{ path, ...digests(Buffer.from('x')) }],
    });
    expect(res.status).toBe(400);
    expect(res.json!.error.code).toBe('INVALID_REQUEST');
    expect(res.json!.error.details.field).toMatch(/files\.0\.path$/);
    expect(res.json!.error.message).toContain(message);
  });

  it('the API refuses two lone-surrogate paths that a node would write as one file', async () => {
    const res = await api(fixture.server, 'POST', '/api/v1/models/m/versions', {
      version: 'sur1',
      files: ['a\ud800', 'a\udc00'].map((path, i) => ({ path, ...digests(Buffer.from(`x${i}`)) })),
    });
    expect(res.status).toBe(400);
    expect(res.json!.error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'body.files.0.path' },
    });
    expect((await api(fixture.server, 'GET', '/api/v1/models/m/versions/sur1')).status).toBe(404);
  });

  it.each([
    ['two cases of one name', 'c1', ['Model.onnx', 'model.onnx'], 'Model.onnx and model.onnx are one file'],
    [
      'NFC and NFD of one name',
      'c2',
      ['caf\u00e9.txt', 'cafe\u0301.txt'],
      'caf\u00e9.txt and cafe\u0301.txt',
    ],
    ['a file and a folder in another case', 'c3', ['A', 'a/b'], 'A is a file and a/b needs a as a folder'],
    ['a file and a folder of it', 'c4', ['a', 'a/b'], 'a is both a file and a folder (of a/b)'],
  ])(
    'the API refuses %s: 400 naming both paths, nothing declared',
    async (_what, version, paths, message) => {
      const res = await api(fixture.server, 'POST', '/api/v1/models/m/versions', {
        version,
        files: paths.map((path, i) => ({ path, ...digests(Buffer.from(`x${i}`)) })),
      });
      expect(res.status).toBe(400);
      expect(res.json!.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'files[1].path' } });
      expect(res.json!.error.message).toContain(message);
      expect((await api(fixture.server, 'GET', `/api/v1/models/m/versions/${version}`)).status).toBe(404);
    },
  );

  it('still takes paths that differ other than by case or normalization', async () => {
    const paths = ['Model1.onnx', 'model2.onnx', 'caf\u00e9.txt', 'cafe.txt', 'a', 'ab/c'];
    const res = await api(fixture.server, 'POST', '/api/v1/models/m/versions', {
      version: 'distinct1',
      files: paths.map((path, i) => ({ path, ...digests(Buffer.from(`x${i}`)) })),
    });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    expect(res.json!.version.files.map((f: { path: string }) => f.path)).toEqual(paths);
  });

  it('refuses a local file name that is not UTF-8 (exit 2 naming it) before uploading', async () => {
    const dir = folder('not-utf8', { 'model.bin': 'y' });
    // Bytes 0xff and 0xfe never occur in UTF-8; Node would read this name back as x\ufffd\ufffd.txt.
    writeFileSync(
      Buffer.concat([Buffer.from(`${dir}/x`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]),
      'z',
    );
    const published = await run('publish', 'm@u1', dir);
    expect(published.code).toBe(2);
    expect(published.stderr).toContain('not valid UTF-8 (bytes 78fffe2e747874)');
    expect(published.stderr).not.toContain('    at ');
    expect((await api(fixture.server, 'GET', '/api/v1/models/m/versions/u1')).status).toBe(404);
  });

  it('refuses a folder holding Model.onnx and model.onnx (exit 2 naming both) before uploading', async () => {
    const dir = folder('two-cases', { 'Model.onnx': 'a', 'model.onnx': 'b' });
    const published = await run('publish', 'm@local-case', dir);
    expect(published.code).toBe(2);
    expect(published.stderr).toContain(join(dir, 'Model.onnx'));
    expect(published.stderr).toContain(join(dir, 'model.onnx'));
    expect(published.stderr).toContain('are one file on a case-insensitive or normalizing file system');
    expect((await api(fixture.server, 'GET', '/api/v1/models/m/versions/local-case')).status).toBe(404);
  });

  it('refuses a symlink to a file outside the folder unless --follow-symlinks', async () => {
    writeFileSync(join(fixture.work, 'secret.txt'), 'outside');
    const dir = folder('link-out', { 'model.bin': 'in' });
    symlinkSync(join(fixture.work, 'secret.txt'), join(dir, 'secret.txt'));
    const refused = await run('publish', 'm@l1', dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `${join(dir, 'secret.txt')}: symbolic link to ${join(fixture.work, 'secret.txt')}, outside`,
    );
    expect((await api(fixture.server, 'GET', '/api/v1/models/m/versions/l1')).status).toBe(404);

    const followed = await run('publish', 'm@l1', dir, '--follow-symlinks', '--json');
    expect(followed.code, followed.stderr).toBe(0);
    expect(JSON.parse(followed.stdout).files.map((f: { path: string }) => f.path)).toEqual([
      'model.bin',
      'secret.txt',
    ]);
  });

  it('follows a symlink that stays inside the folder', async () => {
    const dir = folder('link-in', { 'weights/model.bin': 'in' });
    symlinkSync('weights/model.bin', join(dir, 'alias.bin'));
    const published = await run('publish', 'm@l2', dir, '--json');
    expect(published.code, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout).files.map((f: { path: string }) => f.path)).toEqual([
      'alias.bin',
      'weights/model.bin',
    ]);
  });

  it.each([
    [
      'a loop back to the folder',
      (dir: string) => symlinkSync('.', join(dir, 'again')),
      'again: symbolic link loop',
    ],
    ['a link to itself', (dir: string) => symlinkSync('self', join(dir, 'self')), 'self: symbolic link loop'],
    [
      'a dangling link',
      (dir: string) => symlinkSync('gone.bin', join(dir, 'gone')),
      'gone: dangling symbolic link',
    ],
  ])('refuses %s with exit 2 naming it, even with --follow-symlinks', async (_what, plant, message) => {
    const dir = folder(`bad-link-${message.split(':')[0]}`, { 'model.bin': 'x' });
    plant(dir);
    for (const extra of [[], ['--follow-symlinks']]) {
      const published = await run('publish', 'm@bad', dir, ...extra);
      expect(published.code).toBe(2);
      expect(published.stderr).toContain(join(dir, message));
      expect(published.stderr).not.toContain('    at ');
    }
  });
});

describe('an interrupted publish resumes', () => {
  const fixture = useServer();
  const run = (...args: string[]) => fixture.run(...args);

  it('continues a version left PENDING_UPLOAD: uploads only what is missing, then validates', async () => {
    const model = buildMlpModel({ layers: 1, dim: 4 });
    const vocab = Buffer.from('a b c\n');
    const dir = join(fixture.work, 'bundle');
    mkdirSync(dir);
    writeFileSync(join(dir, 'det.onnx'), model);
    writeFileSync(join(dir, 'vocab.txt'), vocab);
    // The first publish declared the version and uploaded one file, then died.
    expect((await api(fixture.server, 'POST', '/api/v1/models', { name: 'r' })).status).toBe(201);
    const started = await api(fixture.server, 'POST', '/api/v1/models/r/versions', {
      version: '1',
      files: [
        { path: 'det.onnx', ...digests(model) },
        { path: 'vocab.txt', ...digests(vocab) },
      ],
      publisher: 'first-run',
    });
    expect(started.status).toBe(201);
    const upload = started.json!.uploads.find((u: { sha256: string }) => u.sha256 === digests(model).sha256);
    expect(
      (await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: model })).status,
    ).toBeLessThan(300);

    const resumed = await run('publish', 'r@1', dir, '--wait');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout.trim()).toBe('r@1 VERIFIED');
    expect(resumed.stderr).toContain('uploaded 1 new blob(s)');
  });

  it('still refuses a different manifest under the same version string (exit 4)', async () => {
    const a = Buffer.from('first');
    expect((await api(fixture.server, 'POST', '/api/v1/models', { name: 'd' })).status).toBe(201);
    await api(fixture.server, 'POST', '/api/v1/models/d/versions', {
      version: '1',
      files: [{ path: 'w.bin', ...digests(a) }],
    });
    const file = join(fixture.work, 'w.bin');
    writeFileSync(file, 'second');
    const published = await run('publish', 'd@1', file);
    expect(published.code).toBe(4);
    expect(published.stderr).toContain('ALREADY_EXISTS');
  });
});
