import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { api, cli, type ServerHandle } from './harness.js';
import { useServers } from './use-server.js';

/** kill -9 in the middle of an upload or a validation: on restart, no half blob and no version stuck. */
describe('a server killed with -9 recovers on restart', () => {
  const servers = useServers();
  const server = (dataDir?: string): Promise<ServerHandle> => servers.start(dataDir ? { dataDir } : {});

  it('leaves no partial blob after being killed mid-upload', async () => {
    const first = await server();
    const bytes = Buffer.alloc(8 * 1024 * 1024, 1);
    const sha = createHash('sha256').update(bytes).digest('hex');
    await api(first, 'POST', '/api/v1/models', { name: 'crash' });
    const start = await api(first, 'POST', '/api/v1/models/crash/versions', {
      version: '1',
      files: [
        {
          path: 'w.bin',
          size: bytes.length,
          sha256: sha,
          md5: createHash('md5').update(bytes).digest('hex'),
        },
      ],
    });
    const upload = start.json!.uploads[0];
    // Send half of the body, then kill the server while it waits for the rest.
    const req = request(upload.url, { method: 'PUT', headers: upload.headers });
    req.on('error', () => {});
    req.write(bytes.subarray(0, bytes.length / 2));
    await eventually(() => readdirSync(join(first.dataDir, 'blobs', 'tmp')).length === 1, {
      what: 'the upload to be in flight (one temporary blob)',
    });
    await first.kill9();
    req.destroy();

    const second = await server(first.dataDir);
    expect(existsSync(join(second.dataDir, 'blobs', 'sha256', sha.slice(0, 2), sha))).toBe(false);
    expect(readdirSync(join(second.dataDir, 'blobs', 'tmp'))).toEqual([]);
    const commit = await api(second, 'POST', '/api/v1/models/crash/versions/1/commit');
    expect(commit.json?.error.code).toBe('BLOBS_MISSING');
  });

  it('validates again a version left VALIDATING by a kill -9', async () => {
    const first = await server();
    const work = servers.tempDir();
    mkdirSync(join(work, 'many'));
    // Several models: validation takes long enough to be caught in the middle.
    for (let i = 0; i < 6; i++)
      writeFileSync(join(work, 'many', `m${i}.onnx`), buildMlpModel({ layers: 4, dim: 256, seed: i }));
    const published = await cli(['publish', 'slow@1', 'many'], first.env, work);
    expect(published.code).toBe(0);
    await eventually(
      async () => (await api(first, 'GET', '/api/v1/models/slow/versions/1')).json?.status === 'VALIDATING',
      { what: 'slow@1 to be VALIDATING', intervalMs: 25 },
    );
    await first.kill9();

    const second = await server(first.dataDir);
    const recovered = second.logs.some((l) => l.includes('"event":"validation_recovered"'));
    expect(recovered).toBe(true);
    const waited = await cli(['status', 'slow@1', '--json'], second.env, work);
    expect(() => JSON.parse(waited.stdout)).not.toThrow();
    const v = await eventually(
      async () => {
        const version = (await api(second, 'GET', '/api/v1/models/slow/versions/1')).json;
        return version?.status === 'VERIFIED' || version?.status === 'FAILED' ? version : undefined;
      },
      { what: 'slow@1 to settle', timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(v.status).toBe('VERIFIED');
    expect(v.validation.attempts).toBe(2);
  });
});
