import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { STAGE_MIN_BYTES } from '../../cli/staged-upload.js';
import { HEAD_BYTES } from '../../schemas/version.schema.js';
import { eventually } from '../helpers/eventually.js';
import { api, BACKENDS, type ServerHandle } from './harness.js';
import { useServer } from './use-server.js';

/**
 * Big files go on their way while the CLI hashes them (a staged upload, claimed at commit with the
 * sha256 the CLI computed) where the registry's storage takes staged uploads: the blob folder. On S3
 * the registry answers `staged: false` and the CLI hashes first, as before. Either way the version is
 * the same, and a file the registry already holds is not sent again.
 */
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Requests the server counted for a route template and method (its /metrics). */
async function requestsOf(server: ServerHandle, route: string, method: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n'))
    if (
      line.startsWith('ocr_http_request_duration_seconds_count{') &&
      line.includes(`route="${route}"`) &&
      line.includes(`method="${method}"`)
    )
      n += Number(line.split(' ').pop());
  return n;
}

describe.each(BACKENDS)('staged uploads on the %s backend', (backend) => {
  const fixture = useServer({ backend });
  let server: ServerHandle;
  let work: string;
  const run = (...args: string[]) => fixture.run(...args);
  const big = randomBytes(STAGE_MIN_BYTES + 4097);

  beforeAll(async () => {
    ({ server, work } = fixture);
    await mkdir(join(work, 'model'));
    writeFileSync(join(work, 'model', 'weights.bin'), big);
    writeFileSync(join(work, 'model', 'labels.txt'), 'small: hashed first, then sent\n');
    expect((await api(server, 'POST', '/api/v1/models', { name: 'big', provider: 'p' })).status).toBe(201);
  });

  it(`publishes a file of ${STAGE_MIN_BYTES / 2 ** 20} MiB and more ${backend === 'embedded' ? 'while hashing it' : 'after hashing it (S3 takes no staged uploads)'}`, async () => {
    const published = await run('publish', 'big@1.0.0', './model/', '--wait', '--json');
    expect(published.code, published.stderr).toBe(0);
    const version = JSON.parse(published.stdout);
    expect(version.status).toBe('VERIFIED');
    expect(version.files.find((f: { path: string }) => f.path === 'weights.bin').sha256).toBe(sha256(big));
    const staged = await requestsOf(server, '/blobs/uploads/{uploadId}', 'PUT');
    const answer = await api(server, 'POST', '/api/v1/staged-uploads', {
      files: [{ size: 1, headSha256: sha256(Buffer.from('x')) }],
    });
    expect(answer.status).toBe(201);
    if (backend === 'embedded') {
      expect(staged).toBe(1);
      // The small file went the usual way: declared with its sha256, then sent.
      expect(await requestsOf(server, '/blobs/sha256/{sha256}', 'PUT')).toBe(1);
      expect(answer.json!.staged).toBe(true);
    } else {
      expect(staged).toBe(0);
      expect(answer.json).toEqual({ staged: false, uploads: [] });
    }

    const fetched = await run('fetch', 'big@1.0.0', '--dest', join(work, 'node'));
    expect(fetched.code, fetched.stderr).toBe(0);
  });

  it('does not send again a big file the registry holds, and leaves no staged bytes behind', async () => {
    const puts = await requestsOf(server, '/blobs/uploads/{uploadId}', 'PUT');
    const published = await run('publish', 'big@1.0.1', './model/weights.bin', '--wait');
    expect(published.code, published.stderr).toBe(0);
    expect(published.stderr).toMatch(/uploaded 0 new blob\(s\) \(0 B\), 1 already stored/);
    if (backend !== 'embedded') return;
    // Its size and first MiB named the blob the registry holds: no staged target, nothing sent.
    const answer = await api(server, 'POST', '/api/v1/staged-uploads', {
      files: [{ size: big.length, headSha256: sha256(big.subarray(0, HEAD_BYTES)) }],
    });
    expect(answer.json).toEqual({ staged: true, uploads: [null] });
    expect(await requestsOf(server, '/blobs/uploads/{uploadId}', 'PUT')).toBe(puts);
    // The send that started before the hash was known was stopped (or, sent whole, dropped) once it was.
    await eventually(() =>
      expect(
        readdirSync(join(server.dataDir, 'blobs', 'tmp')).filter((n) => n.startsWith('upload.')),
      ).toEqual([]),
    );
    expect(server.logs.filter((l) => l.includes('"http_error"'))).toEqual([]);
  });

  it('stores one blob for two big files with the same bytes', async () => {
    await mkdir(join(work, 'twins'));
    const twin = randomBytes(STAGE_MIN_BYTES);
    writeFileSync(join(work, 'twins', 'a.bin'), twin);
    writeFileSync(join(work, 'twins', 'b.bin'), twin);
    const published = await run('publish', 'big@2.0.0', './twins/', '--wait', '--json');
    expect(published.code, published.stderr).toBe(0);
    const version = JSON.parse(published.stdout);
    expect(version.status).toBe('VERIFIED');
    expect(version.files.map((f: { sha256: string }) => f.sha256)).toEqual([sha256(twin), sha256(twin)]);
    if (backend !== 'embedded') return;
    // Both were on their way; one was claimed, the other's bytes dropped.
    await eventually(() =>
      expect(
        readdirSync(join(server.dataDir, 'blobs', 'tmp')).filter((n) => n.startsWith('upload.')),
      ).toEqual([]),
    );
  });
});
