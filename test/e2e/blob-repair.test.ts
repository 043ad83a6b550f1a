import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { api } from './harness.js';
import { useServer } from './use-server.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Flips one byte of a stored blob in place, as bit rot on the disk would. */
function rot(dataDir: string, sha: string, offset: number): void {
  const path = join(dataDir, 'blobs', 'sha256', sha.slice(0, 2), sha);
  const byte = readFileSync(path)[offset]!;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.from([byte ^ 0xff]), 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

const blobBytes = (dataDir: string, sha: string) =>
  readFileSync(join(dataDir, 'blobs', 'sha256', sha.slice(0, 2), sha));

/** A blob that rots on disk is found, marked corrupt, and repaired by publishing the same file again. */
describe('a rotted blob is detected and repaired by re-publishing', () => {
  const model = buildMlpModel({ layers: 2, dim: 32, seed: 7 });
  const sha = sha256(model);
  const f = useServer((work) => {
    writeFileSync(join(work, 'det.onnx'), model);
    return {};
  });

  it('fetch --report and re-validation detect it; a re-publish replaces it; re-validation is VERIFIED', async () => {
    expect((await f.run('publish', 'rot@1', 'det.onnx', '--wait')).code).toBe(0);
    rot(f.server.dataDir, sha, Math.floor(model.length / 2));

    // A node's fetch sees the wrong bytes (exit 6) and reports it; the server re-hashes its copy and marks it.
    const fetched = await f.run('fetch', 'rot@1', '--dest', join(f.work, 'dest'), '--report');
    expect(fetched.code, fetched.stderr).toBe(6);
    const plan = (await api(f.server, 'GET', '/api/v1/models/rot/download/1')).json!;
    let blobStatus = 0;
    for (let i = 0; i < 50 && blobStatus !== 422; i++) {
      blobStatus = (await fetch(plan.files[0].download.url)).status;
      if (blobStatus !== 422) await sleep(100);
    }
    expect(blobStatus).toBe(422); // the corrupt copy is no longer served

    const revalidated = await f.run('validate', 'rot@1', '--wait', '--json');
    expect(revalidated.code).toBe(3);
    expect(JSON.parse(revalidated.stdout).statusReason.code).toBe('CHECKSUM_MISMATCH');

    // The same file published again: the registry asks for the corrupt blob, and the upload replaces it.
    const start = await api(f.server, 'POST', '/api/v1/models/rot/versions', {
      version: 'probe',
      files: [
        {
          path: 'det.onnx',
          size: model.length,
          sha256: sha,
          md5: createHash('md5').update(model).digest('hex'),
        },
      ],
    });
    expect(start.json!.uploads.map((u: { sha256: string }) => u.sha256)).toEqual([sha]);
    const republished = await f.run('publish', 'rot@2', 'det.onnx', '--wait');
    expect(republished.code, republished.stderr).toBe(0);
    expect(blobBytes(f.server.dataDir, sha).equals(model)).toBe(true);

    const again = await f.run('validate', 'rot@1', '--wait', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).status).toBe('VERIFIED');
    expect((await f.run('fetch', 'rot@1', '--dest', join(f.work, 'dest'))).code).toBe(0);
  });
});

describe('modelgate scrub finds a rotted blob, names the versions, and counts the repair', () => {
  const model = buildMlpModel({ layers: 2, dim: 24, seed: 11 });
  const other = buildMlpModel({ layers: 1, dim: 8, seed: 12 });
  const sha = sha256(model);
  const f = useServer((work) => {
    writeFileSync(join(work, 'det.onnx'), model);
    writeFileSync(join(work, 'cls.onnx'), other);
    return {};
  });

  it('reports checked, corrupt, affected versions, then repaired', async () => {
    expect((await f.run('publish', 'det@1', 'det.onnx', '--wait')).code).toBe(0);
    expect((await f.run('publish', 'cls@1', 'cls.onnx', '--wait')).code).toBe(0);
    rot(f.server.dataDir, sha, 100);

    const found = await f.run('scrub', '--wait', '--json', '--rate', '1MiB');
    expect(found.code, found.stderr).toBe(6);
    const report = JSON.parse(found.stdout);
    expect(report).toMatchObject({
      state: 'finished',
      bytesPerSecond: 1024 * 1024,
      checked: 2,
      checkedBytes: model.length + other.length,
      corrupt: 1,
      repaired: 0,
      corruptBlobs: [sha],
      affectedVersions: [{ model: 'det', version: '1', status: 'VERIFIED', paths: ['det.onnx'] }],
    });
    const human = await f.run('scrub', '--status');
    expect(human.stdout).toMatch(/1 corrupt/);
    expect(human.stdout).toMatch(/det@1 \(VERIFIED\): corrupt det\.onnx/);

    // A node fetching it now is told the registry's copy is corrupt and what repairs it: an integrity
    // failure (exit 6), not an outage to retry.
    const fetched = await f.run('fetch', 'det@1', '--dest', join(f.work, 'scrubbed'));
    expect(fetched.code, fetched.stderr).toBe(6);
    expect(fetched.stderr).toMatch(
      /^error CHECKSUM_MISMATCH: det\.onnx: the registry refused to serve it: the stored copy of blob [0-9a-f]{64} is corrupt: publishing the same file again repairs it/,
    );

    expect((await f.run('publish', 'det@2', 'det.onnx', '--wait')).code).toBe(0);
    const after = await f.run('scrub', '--wait', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({
      state: 'finished',
      checked: 2,
      corrupt: 0,
      repaired: 1,
      repairedBlobs: [sha],
      affectedVersions: [],
    });
  });

  it('refuses a rate below the minimum, naming the field', async () => {
    const r = await api(f.server, 'POST', '/api/v1/scrub', { bytesPerSecond: 10 });
    expect(r.status).toBe(400);
    expect(r.json?.error.details.field).toBe('body.bytesPerSecond');
  });
});

describe('bad requests get 400 or 405, not 500 or 404', () => {
  const f = useServer();
  const blobPath = `/blobs/sha256/${'a'.repeat(64)}`;

  it('answers a malformed %-escape in the path with 400 INVALID_REQUEST', async () => {
    for (const path of ['/api/v1/models/%E0%A4%A', '/api/v1/models/bad%', '/api/v1/models/%ZZ/versions']) {
      const r = await api(f.server, 'GET', path);
      expect(r.status, path).toBe(400);
      expect(r.json?.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'path' } });
    }
  });

  it('answers other methods on /blobs with 405 and Allow', async () => {
    for (const method of ['POST', 'DELETE', 'PATCH']) {
      const res = await fetch(`${f.server.url}${blobPath}`, { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD, PUT');
      expect(((await res.json()) as { error: unknown }).error).toMatchObject({
        code: 'INVALID_REQUEST',
        details: { field: 'method' },
      });
    }
  });

  it('refuses a JSON body that is not UTF-8 and stores nothing', async () => {
    const head = Buffer.from('{"name":"utf","provider":"p","description":"caf');
    const body = Buffer.concat([head, Buffer.from([0xe9]), Buffer.from('"}')]); // Latin-1 é: not UTF-8
    const res = await fetch(`${f.server.url}/api/v1/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'body' },
    });
    expect((await api(f.server, 'GET', '/api/v1/models/utf')).status).toBe(404);
    // The same text in UTF-8 is taken and stored as sent.
    const ok = await api(f.server, 'POST', '/api/v1/models', {
      name: 'utf',
      provider: 'p',
      description: 'café',
    });
    expect(ok.status).toBe(201);
    expect((await api(f.server, 'GET', '/api/v1/models/utf')).json?.description).toBe('café');
  });
});
