import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../helpers/system-programs.js';
import { api, type ServerHandle } from './harness.js';
import { useServer } from './use-server.js';

const MiB = 1024 ** 2;

/**
 * Big files on the aws wiring (DynamoDB Local + s3rver): the server cuts at 5 MiB (S3's smallest part)
 * instead of 64 MiB, so a 12 MiB file goes in 3 parts without uploading gigabytes. `.bin` files are
 * validated by integrity only: quick, and every byte is still re-hashed from S3.
 */
const need = needs(['java']);

describe.skipIf(need.skip)(need.title('multipart uploads on the aws backend'), () => {
  const fixture = useServer({
    backend: 'aws',
    env: {
      MODELGATE_S3_MULTIPART_THRESHOLD_BYTES: String(5 * MiB),
      MODELGATE_S3_PART_SIZE_BYTES: String(5 * MiB),
    },
  });
  let server: ServerHandle;
  let work: string;
  const run = fixture.run;

  beforeAll(() => {
    ({ server, work } = fixture);
  });

  it('publishes a 12 MiB file in parts through the CLI, validates it, and fetches the same bytes', async () => {
    mkdirSync(join(work, 'model'));
    const weights = randomBytes(12 * MiB + 7);
    writeFileSync(join(work, 'model', 'weights.bin'), weights);
    writeFileSync(join(work, 'model', 'config.txt'), 'small: one PUT\n');

    const published = await run('publish', 'big@1.0.0', './model/', '--wait', '--json');
    expect(published.code, published.stderr).toBe(0);
    const version = JSON.parse(published.stdout);
    expect(version.status).toBe('VERIFIED');
    expect(version.report.files.map((f: { check: string }) => f.check)).toEqual([
      'integrity-only',
      'integrity-only',
    ]);
    // The big file went by parts: 3 part URLs asked for (one per part), one commit.
    expect(await requestsTo('/api/v1/models/{name}/versions/{version}/upload-parts')).toBe(3);

    const dest = join(work, 'fetched');
    const fetched = await run('fetch', 'big@1.0.0', '--dest', dest);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(readFileSync(join(dest, 'weights.bin')).equals(weights)).toBe(true);
    expect(readFileSync(join(dest, 'config.txt'), 'utf8')).toBe('small: one PUT\n');
  });

  it('hashes a multipart object once: its validation leaves a proof, and the next version of the same file is judged from it', async () => {
    mkdirSync(join(work, 'again'));
    const bytes = randomBytes(11 * MiB);
    writeFileSync(join(work, 'again', 'weights.bin'), bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const md5 = createHash('md5').update(bytes).digest('hex');
    const first = await run('publish', 'again@1.0.0', './again/', '--wait', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).report.files[0].md5).toBe(md5);

    // The proof the validation wrote names the object it hashed (multipart: S3 proved no whole sha256).
    const { client, bucket } = server.s3!;
    const key = `proven/sha256/${sha256}`;
    const proof = JSON.parse(
      (await (
        await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      ).Body?.transformToString()) ?? '',
    );
    expect(proof).toMatchObject({ sha256, md5, size: bytes.length });
    // Version, ETag, LastModified, S3's checksum: s3rver keeps neither versions nor checksums.
    expect(proof.object).toMatch(/^- "[0-9a-f]{32}(-\d+)?" \d{4}-\d\d-\d\dT\S+ -$/);
    // A proof with another md5 shows the next validation took it instead of hashing the bytes again.
    const planted = 'f'.repeat(32);
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify({ ...proof, md5: planted }) }),
    );
    const second = await run('publish', 'again@1.0.1', './again/', '--wait', '--json');
    expect(second.code, second.stderr).toBe(0);
    const verified = JSON.parse(second.stdout);
    expect(verified.status).toBe('VERIFIED');
    expect(verified.report.files[0].md5).toBe(planted);
  });

  it('refuses a commit whose parts leave one out (422 CHECKSUM_MISMATCH); the blob stays missing', async () => {
    const bytes = randomBytes(12 * MiB);
    const file = {
      path: 'weights.bin',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      md5: createHash('md5').update(bytes).digest('hex'),
    };
    expect((await api(server, 'POST', '/api/v1/models', { name: 'gappy' })).status).toBe(201);
    const started = await api(server, 'POST', '/api/v1/models/gappy/versions', {
      version: '1',
      files: [file],
    });
    expect(started.status).toBe(201);
    const { uploadId, partSize, partCount } = started.json!.uploads[0].multipart;
    expect(partCount).toBe(3);

    const parts = [];
    for (const partNumber of [1, 3]) {
      const body = bytes.subarray((partNumber - 1) * partSize, partNumber * partSize);
      const checksumSha256 = createHash('sha256').update(body).digest('base64');
      const signed = await api(server, 'POST', '/api/v1/models/gappy/versions/1/upload-parts', {
        sha256: file.sha256,
        uploadId,
        parts: [{ partNumber, checksumSha256 }],
      });
      expect(signed.status).toBe(200);
      const target = signed.json!.parts[0];
      const put = await fetch(target.url, { method: 'PUT', headers: target.headers, body });
      expect(put.status).toBe(200);
      parts.push({ partNumber, checksumSha256, etag: put.headers.get('etag') });
    }
    const commit = await api(server, 'POST', '/api/v1/models/gappy/versions/1/commit', {
      multipart: [{ sha256: file.sha256, uploadId, parts }],
    });
    expect(commit.status).toBe(422);
    expect(commit.json!.error.code).toBe('CHECKSUM_MISMATCH');
    const again = await api(server, 'POST', '/api/v1/models/gappy/versions/1/commit');
    expect(again.status).toBe(409);
    expect(again.json!.error.code).toBe('BLOBS_MISSING');
  });

  /** How many requests the server answered on a route (its Prometheus counter, summed over statuses). */
  async function requestsTo(route: string): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.includes('_http_requests_total{') && l.includes(`route="${route}"`))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }
});
