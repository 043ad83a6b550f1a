import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel, truncate } from '../fixtures/onnx-writer.js';
import { api, BACKENDS, cli, type ServerHandle } from './harness.js';
import { useServer } from './use-server.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** Every bad input of the issue: a clear error with a code and the field at fault, and nothing lost. */
describe.each(BACKENDS)('bad input gets a clear error and loses nothing (%s backend)', (backend) => {
  const fixture = useServer({ backend });
  let server: ServerHandle;
  let work: string;
  const run = fixture.run;
  const model = buildMlpModel({ layers: 2, dim: 16 });

  beforeAll(async () => {
    ({ server, work } = fixture);
    writeFileSync(join(work, 'good.onnx'), model);
    writeFileSync(join(work, 'truncated.onnx'), truncate(model, Math.floor(model.length / 2)));
    writeFileSync(join(work, 'not-onnx.onnx'), 'this is a text file, not a model\n');
    writeFileSync(join(work, 'vocab.txt'), 'a\nb\n');
    const published = await run('publish', 'good@1.0.0', 'good.onnx', '--wait');
    expect(published.code).toBe(0);
  });

  it.each([
    ['../x@1.0.0', 'path traversal'],
    ['@1.0.0', 'empty name'],
    [`${'a'.repeat(101)}@1`, 'too long'],
    ['bad\u0007name@1', 'control character'],
    ['ok@../1', 'traversal in version'],
    ['ok@', 'empty version'],
  ])('refuses %s (%s) before any request, exit 2', async (ref) => {
    const r = await run('publish', ref, 'good.onnx');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error USAGE: .+--help/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('answers a body that is not JSON with 400 naming the body', async () => {
    const r = await api(server, 'POST', '/api/v1/models', '{"name": ');
    expect(r.status).toBe(400);
    expect(r.json?.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'body' } });
  });

  it('answers a schema violation with 400 naming the field', async () => {
    const r = await api(server, 'POST', '/api/v1/models', { name: '../etc', provider: 'p' });
    expect(r.status).toBe(400);
    expect(r.json?.error.details.field).toBe('body.name');
    const v = await api(server, 'POST', '/api/v1/models/good/versions', {
      version: '2.0.0',
      files: [{ path: '../escape.onnx', size: 1, sha256: 'a'.repeat(64), md5: 'b'.repeat(32) }],
    });
    expect(v.status).toBe(400);
    expect(v.json?.error.details.field).toBe('body.files.0.path');
    const p = await api(server, 'GET', '/api/v1/models/BAD NAME');
    expect(p.status).toBe(400);
    expect(p.json?.error.details.field).toBe('name');
  });

  it('refuses input values or shapes past what one version record holds, with 400 naming the field', async () => {
    // 300 inputs with 256-character names and 1024-character values: ~400 KB, DynamoDB's whole item.
    const names = Array.from({ length: 300 }, (_, n) => `${String(n).padStart(3, '0')}${'x'.repeat(253)}`);
    const file = { path: 'm.onnx', size: 1, sha256: 'a'.repeat(64) };
    const values = await api(server, 'POST', '/api/v1/models/good/versions', {
      version: '3.0.0',
      files: [file],
      inputValues: Object.fromEntries(names.map((n) => [n, 'v'.repeat(1024)])),
    });
    expect(values.status).toBe(400);
    expect(values.json?.error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'body.inputValues' },
    });
    expect(values.json?.error.message).toContain('more than 64 KiB of JSON');
    const shapes = await api(server, 'POST', '/api/v1/models/good/versions', {
      version: '3.0.0',
      files: [file],
      inputShapes: Object.fromEntries(names.map((n) => [n, [1, 3, 224, 224]])),
    });
    expect(shapes.status).toBe(400);
    expect(shapes.json?.error.details.field).toBe('body.inputShapes');
    expect((await api(server, 'GET', '/api/v1/models/good/versions/3.0.0')).status).toBe(404);
    // Many inputs with ordinary names fit: an LLM's 64 past key values and more.
    const many = Object.fromEntries(
      Array.from({ length: 200 }, (_, n) => [`past_key_values.${n}.key`, [1, 8, 16, 64]]),
    );
    const fits = await api(server, 'POST', '/api/v1/models/good/versions', {
      version: '3.0.1',
      files: [file],
      inputShapes: many,
    });
    expect(fits.status, JSON.stringify(fits.json)).toBe(201);
  });

  it('refuses to publish an existing version (exit 4) and keeps the stored one', async () => {
    const before = JSON.parse((await run('status', 'good@1.0.0', '--json')).stdout);
    writeFileSync(join(work, 'other.onnx'), buildMlpModel({ layers: 1, dim: 8 }));
    const r = await run('publish', 'good@1.0.0', 'other.onnx');
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('error ALREADY_EXISTS');
    const after = JSON.parse((await run('status', 'good@1.0.0', '--json')).stdout);
    expect(after).toEqual(before);
  });

  /** Starts a one-file version whose declared bytes are `real`, and returns its upload instruction. */
  async function startOneFile(model: string, real: Buffer) {
    await api(server, 'POST', '/api/v1/models', { name: model });
    const start = await api(server, 'POST', `/api/v1/models/${model}/versions`, {
      version: '1',
      files: [{ path: 'f.bin', size: real.length, sha256: sha256(real), md5: md5(real) }],
    });
    expect(start.status).toBe(201);
    return start.json!.uploads[0];
  }

  if (backend === 'embedded')
    it('rejects bytes that differ from the declared sha256 and stores nothing under that hash', async () => {
      const real = Buffer.from('the real bytes');
      const upload = await startOneFile('mismatch', real);
      const forged = Buffer.from('the fake bytes');
      const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: forged });
      expect(put.status).toBe(422);
      expect(((await put.json()) as { error: { code: string } }).error.code).toBe('CHECKSUM_MISMATCH');
      expect(
        existsSync(join(server.dataDir, 'blobs', 'sha256', sha256(real).slice(0, 2), sha256(real))),
      ).toBe(false);
      expect(readdirSync(join(server.dataDir, 'blobs', 'tmp'))).toEqual([]);

      const commit = await api(server, 'POST', '/api/v1/models/mismatch/versions/1/commit');
      expect(commit.status).toBe(409);
      expect(commit.json?.error).toMatchObject({
        code: 'BLOBS_MISSING',
        details: { missing: [{ path: 'f.bin' }] },
      });

      const good = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: real });
      expect(good.status).toBe(200);
      expect((await api(server, 'POST', '/api/v1/models/mismatch/versions/1/commit')).json?.status).toBe(
        'UPLOADED',
      );
    });

  // Real S3 refuses these bytes at upload (the PUT is signed with x-amz-checksum-sha256); s3rver does not
  // check that header, so here the forged bytes get stored. The validator re-hashes what it downloads, so
  // the version still fails, naming the cause, and is never served.
  if (backend === 'aws')
    it('fails a version whose stored bytes differ from the manifest with CHECKSUM_MISMATCH', async () => {
      const real = Buffer.from('the real bytes');
      const upload = await startOneFile('mismatch', real);
      const put = await fetch(upload.url, {
        method: 'PUT',
        headers: upload.headers,
        body: Buffer.from('the fake bytes'),
      });
      expect(put.status).toBe(200); // s3rver, not S3: see above
      expect((await api(server, 'POST', '/api/v1/models/mismatch/versions/1/commit')).status).toBe(200);
      const r = await run('status', 'mismatch@1', '--json');
      let v = JSON.parse(r.stdout);
      for (let i = 0; i < 100 && v.status !== 'FAILED' && v.status !== 'VERIFIED'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        v = (await api(server, 'GET', '/api/v1/models/mismatch/versions/1')).json;
      }
      expect(v.status).toBe('FAILED');
      expect(v.statusReason.code).toBe('CHECKSUM_MISMATCH');
    });

  it('answers a commit with missing blobs with 409 listing them', async () => {
    await startOneFile('missing', Buffer.from('never uploaded'));
    const commit = await api(server, 'POST', '/api/v1/models/missing/versions/1/commit');
    expect(commit.status).toBe(409);
    expect(commit.json?.error).toMatchObject({
      code: 'BLOBS_MISSING',
      details: { missing: [{ path: 'f.bin' }] },
    });
  });

  it('answers racing publishers of one version with one 201 and 409s, never a 500', async () => {
    await api(server, 'POST', '/api/v1/models', { name: 'race' });
    // Each racer declares other bytes: the same declaration would resume the pending version instead.
    const body = (i: number) => ({
      version: '1',
      files: [{ path: 'f.bin', size: 2, sha256: sha256(`x${i}`), md5: md5(`x${i}`) }],
    });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => api(server, 'POST', '/api/v1/models/race/versions', body(i))),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect(
      answers.filter((a) => a.status === 409).every((a) => a.json?.error.code === 'ALREADY_EXISTS'),
    ).toBe(true);
  });

  if (backend === 'embedded')
    it('refuses a blob URL used for other bytes or after tampering', async () => {
      const real = Buffer.from('signed');
      const upload = await startOneFile('sig', real);
      const url = new URL(upload.url);
      url.searchParams.set('size', '7');
      const r = await fetch(url, { method: 'PUT', body: Buffer.from('signed!') });
      expect(r.status).toBe(403);
    });

  it('fails a truncated .onnx and a text file named .onnx as MODEL_CORRUPTED (exit 3)', async () => {
    for (const [name, file] of [
      ['trunc', 'truncated.onnx'],
      ['notonnx', 'not-onnx.onnx'],
    ]) {
      const r = await run('publish', `${name}@1`, file!, '--wait');
      expect(r.code).toBe(3);
      expect(r.stdout.trim()).toBe(`${name}@1 FAILED`);
      expect(r.stderr).toContain('error MODEL_CORRUPTED');
      expect(r.stderr).toContain('runbook');
    }
  });

  it('checks files of other formats for integrity only', async () => {
    const r = await run('publish', 'vocab@1', 'vocab.txt', '--wait', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).report.files[0].check).toBe('integrity-only');
  });

  it('refuses to fetch a FAILED or unknown version (exit 4) and leaves DIR untouched', async () => {
    const dest = join(work, 'dest');
    mkdirSync(dest);
    writeFileSync(join(dest, 'keep.txt'), 'precious');
    for (const ref of ['trunc@1', 'good@9.9.9', 'nosuchmodel@1', 'good@production']) {
      const r = await run('fetch', ref, '--dest', dest);
      expect(r.code, ref).toBe(4);
      expect(r.stderr).toMatch(/^error (NOT_VERIFIED|NOT_FOUND): /);
    }
    expect(readdirSync(dest)).toEqual(['keep.txt']);
    expect(readFileSync(join(dest, 'keep.txt'), 'utf8')).toBe('precious');
  });

  it('refuses an alias to a missing or unverified version (exit 4)', async () => {
    expect((await run('alias', 'set', 'good', 'production', '7.7.7')).code).toBe(4);
    const failed = await run('alias', 'set', 'trunc', 'production', '1');
    expect(failed.code).toBe(4);
    expect(failed.stderr).toContain('NOT_VERIFIED');
    expect((await run('alias', 'list', 'good', '--json')).stdout).toContain('"items": []');
  });

  it('tells how to start a registry that does not answer (one line)', async () => {
    const r = await cli(['list'], { MODELGATE_REGISTRY: 'http://127.0.0.1:9' }, work);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('modelgate serve');
  });

  it('answers usage errors with exit 2 and help', async () => {
    expect((await run('fetch', 'good@1.0.0')).code).toBe(2); // no --dest
    expect((await run('nope')).code).toBe(2);
    const help = await run('publish', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: modelgate publish');
  });
});
