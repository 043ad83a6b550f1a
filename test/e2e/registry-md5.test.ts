import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { api, BACKENDS, type ServerHandle } from './harness.js';
import { useServer } from './use-server.js';

/**
 * The publisher declares each file's sha256; the md5 may be left to the registry, which records the md5
 * of the bytes its validation verified against that sha256. A VERIFIED version then names both digests,
 * and a node's `checksums.txt` passes `md5sum -c`. An md5 the publisher does declare is still checked.
 */

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Declares, uploads and commits a version through the API, then waits for its verdict. */
async function publishByApi(
  server: ServerHandle,
  model: string,
  files: Array<{ path: string; bytes: Buffer; md5?: string }>,
) {
  expect((await api(server, 'POST', '/api/v1/models', { name: model, provider: 'p' })).status).toBe(201);
  const started = await api(server, 'POST', `/api/v1/models/${model}/versions`, {
    version: '1',
    files: files.map((f) => ({
      path: f.path,
      size: f.bytes.length,
      sha256: sha256(f.bytes),
      ...(f.md5 ? { md5: f.md5 } : {}),
    })),
  });
  expect(started.status, JSON.stringify(started.json)).toBe(201);
  expect(
    started.json!.version.files.every((f: { md5?: string }) => f.md5 === undefined || f.md5.length === 32),
  ).toBe(true);
  for (const u of started.json!.uploads as Array<{
    sha256: string;
    url: string;
    method: string;
    headers: Record<string, string>;
  }>) {
    const bytes = files.find((f) => sha256(f.bytes) === u.sha256)!.bytes;
    const put = await fetch(u.url, { method: u.method, headers: u.headers, body: bytes });
    expect(put.status).toBeLessThan(300);
  }
  expect((await api(server, 'POST', `/api/v1/models/${model}/versions/1/commit`, {})).status).toBe(200);
  for (let i = 0; i < 300; i++) {
    const v = (await api(server, 'GET', `/api/v1/models/${model}/versions/1`)).json!;
    if (v.status === 'VERIFIED' || v.status === 'FAILED') return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${model}@1 got no verdict in 30 s`);
}

describe.each(BACKENDS)('md5 left to the registry on the %s backend', (backend) => {
  const fixture = useServer({ backend });

  it('records the md5 of the verified bytes: the CLI declares none, the VERIFIED version names both digests, md5sum -c passes on the node', async () => {
    const model = buildMlpModel({ layers: 1, dim: 4 });
    const vocab = Buffer.from('a b c\n');
    const dir = join(fixture.work, 'bundle');
    mkdirSync(dir);
    writeFileSync(join(dir, 'det.onnx'), model);
    writeFileSync(join(dir, 'vocab.txt'), vocab);
    const published = await fixture.run('publish', 'ocr@1', dir, '--provider', 'p', '--wait', '--json');
    expect(published.code, published.stderr).toBe(0);
    const version = JSON.parse(published.stdout);
    expect(version.status).toBe('VERIFIED');
    const byPath = Object.fromEntries(
      version.files.map((f: { path: string; md5: string }) => [f.path, f.md5]),
    );
    expect(byPath).toEqual({ 'det.onnx': md5(model), 'vocab.txt': md5(vocab) });
    const reported = version.report.files.map((f: { path: string; md5: string }) => [f.path, f.md5]).sort();
    expect(reported).toEqual([
      ['det.onnx', md5(model)],
      ['vocab.txt', md5(vocab)],
    ]);

    const dest = join(fixture.work, 'node');
    const fetched = await fixture.run('fetch', 'ocr@1', '--dest', dest);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(readFileSync(join(dest, 'checksums.txt'), 'utf8')).toContain(`${md5(vocab)}  vocab.txt`);
    execFileSync('md5sum', ['-c', '--quiet', 'checksums.txt'], { cwd: dest });
  });

  it('still fails a version whose declared md5 is not that of its bytes (CHECKSUM_MISMATCH), and records the real one', async () => {
    const bytes = Buffer.from('weights that are fine\n');
    const wrong = md5(Buffer.from('other bytes'));
    const v = await publishByApi(fixture.server, 'declared', [{ path: 'w.bin', bytes, md5: wrong }]);
    expect(v.status).toBe('FAILED');
    expect(v.statusReason.code).toBe('CHECKSUM_MISMATCH');
    expect(v.statusReason.message).toContain(wrong);
    expect(v.files[0].md5).toBe(wrong); // the declaration is kept as it was: the report says what the bytes are
    expect(v.report.files[0].md5).toBe(md5(bytes));
  });

  it('a version declared without md5 has none until its validation records it', async () => {
    const bytes = Buffer.from('config\n');
    expect(
      (await api(fixture.server, 'POST', '/api/v1/models', { name: 'pending', provider: 'p' })).status,
    ).toBe(201);
    const started = await api(fixture.server, 'POST', '/api/v1/models/pending/versions', {
      version: '1',
      files: [{ path: 'c.txt', size: bytes.length, sha256: sha256(bytes) }],
    });
    expect(started.status).toBe(201);
    expect(started.json!.version.files[0].md5).toBeUndefined();
    const v = await publishByApi(fixture.server, 'later', [{ path: 'c.txt', bytes }]);
    expect(v.status).toBe('VERIFIED');
    expect(v.files[0].md5).toBe(md5(bytes));
  });
});
