import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CliError } from '../../cli/cli-error.js';
import { uploadParts } from '../../cli/upload-parts.js';
import type { PartChecksum, PartTarget } from '../../schemas/version.schema.js';

/**
 * The CLI's part uploader against a loopback HTTP server standing in for S3's part endpoint: it keeps
 * what each part PUT carried and can be told to fail a part. (The S3 side is tested over s3rver in
 * test/contract and test/e2e; here the point is the client's retries, parallelism and errors.)
 */
describe('uploadParts (CLI)', () => {
  const partSize = 64 * 1024;
  const bytes = randomBytes(partSize * 2 + 1000); // 3 parts, the last one short
  let dir: string;
  let path: string;
  let server: Server;
  let base: string;
  let received: Map<number, { body: Buffer; checksum: string | undefined }>;
  let failures: Map<number, { times: number; status: number; body: string }>;
  let signed: PartChecksum[];
  let inFlight = 0;
  let maxInFlight = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upload-parts-'));
    path = join(dir, 'weights.bin');
    writeFileSync(path, bytes);
    server = createServer((req, res) => void receive(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    received = new Map();
    failures = new Map();
    signed = [];
    maxInFlight = 0;
  });

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    await new Promise((r) => setTimeout(r, 20)); // long enough for the parts to overlap
    inFlight -= 1;
    const partNumber = Number(new URL(req.url ?? '/', base).searchParams.get('partNumber'));
    const failure = failures.get(partNumber);
    if (failure && failure.times > 0) {
      failure.times -= 1;
      res.writeHead(failure.status).end(failure.body);
      return;
    }
    const body = Buffer.concat(chunks);
    received.set(partNumber, { body, checksum: req.headers['x-amz-checksum-sha256'] as string | undefined });
    res.writeHead(200, { etag: `"etag-${partNumber}"` }).end();
  }

  const plan = { uploadId: 'u1', partSize, partCount: 3 };
  const blob = { sha256: 'a'.repeat(64), size: bytes.length, multipart: plan };
  const sign = async (part: PartChecksum): Promise<PartTarget> => {
    signed.push(part);
    return {
      partNumber: part.partNumber,
      url: `${base}/bucket/key?partNumber=${part.partNumber}&uploadId=u1`,
      method: 'PUT',
      headers: { 'x-amz-checksum-sha256': part.checksumSha256 },
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    };
  };
  const partBytes = (n: number) => bytes.subarray((n - 1) * partSize, n * partSize);
  const checksum = (b: Buffer) => createHash('sha256').update(b).digest('base64');

  it('sends every part in parallel with its checksum, retries a failed part, and reports every byte', async () => {
    failures.set(2, { times: 1, status: 500, body: 'InternalError' });
    const progress: number[] = [];
    const done = await uploadParts(path, blob, sign, { onProgress: (b) => progress.push(b) });

    expect(done).toEqual({
      sha256: blob.sha256,
      uploadId: 'u1',
      parts: [1, 2, 3].map((n) => ({
        partNumber: n,
        checksumSha256: checksum(partBytes(n)),
        etag: `"etag-${n}"`,
      })),
    });
    for (const n of [1, 2, 3]) {
      expect(received.get(n)?.body.equals(partBytes(n))).toBe(true);
      expect(received.get(n)?.checksum).toBe(checksum(partBytes(n)));
    }
    expect(signed.filter((p) => p.partNumber === 2)).toHaveLength(2); // a fresh URL for the retry
    expect(maxInFlight).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(bytes.length); // the retried part is not counted twice
    expect(Math.max(...progress)).toBe(bytes.length);
  });

  it('fails with one line naming the part once its tries are spent', async () => {
    failures.set(2, { times: 99, status: 503, body: 'SlowDown' });
    const err = await uploadParts(path, blob, sign, { attempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    const message = (err as CliError).message;
    expect(message).toContain(`${path} (part 2 of 3)`);
    expect(message).toContain('HTTP 503');
    expect(message).toContain('after 3 tries');
    expect(message).not.toContain('\n');
    expect(failures.get(2)?.times).toBe(96);
  });

  it('reports a checksum refusal as CHECKSUM_MISMATCH', async () => {
    failures.set(3, { times: 99, status: 400, body: '<Error><Code>BadDigest</Code></Error>' });
    const err = await uploadParts(path, blob, sign, { attempts: 2 }).catch((e: unknown) => e);
    expect((err as CliError).code).toBe('CHECKSUM_MISMATCH');
    expect((err as CliError).exitCode).toBe(6);
  });
});
