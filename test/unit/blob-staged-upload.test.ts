import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsBlobStore } from '../../adapters/fs-blobs/fs-blob-store.js';
import { RegistryError } from '../../core/errors.js';
import { HEAD_BYTES } from '../../schemas/version.schema.js';
import { type BlobEndpointServer, startBlobEndpoint } from '../helpers/blob-endpoint-server.js';
import { eventually } from '../helpers/eventually.js';

/**
 * Staged uploads of the folder store, over real HTTP to the blob endpoint: bytes sent before their sha256
 * is known are hashed as they arrive, kept apart from every blob, and stored only when a claim names the
 * sha256 they have. Nothing of a refused, cut-short or mismatched upload is left behind.
 */
describe('folder store: staged uploads through the blob endpoint', () => {
  let endpoint: BlobEndpointServer;
  let root: string;
  let store: FsBlobStore;

  beforeAll(async () => {
    endpoint = await startBlobEndpoint('modelgate-staged-');
    ({ store, root } = endpoint);
  });

  afterAll(async () => {
    await endpoint?.close();
  });

  const digest = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');
  /** The file as the CLI describes it: its size and the sha256 of its first MiB. */
  const fileOf = (b: Buffer) => ({ size: b.length, headSha256: digest('sha256', b.subarray(0, HEAD_BYTES)) });
  /** A target for a file no blob here starts like. */
  const targetFor = async (b: Buffer) => {
    const target = await store.stagedUploadTarget(fileOf(b), 60);
    if (!target) throw new Error('the store answered null for new bytes');
    return target;
  };
  const tmpFiles = async () => (await readdir(join(root, 'tmp'))).filter((n) => n.startsWith('upload.'));
  const put = async (url: string, body: Buffer, headers: Record<string, string>) => {
    const r = await fetch(url, { method: 'PUT', headers, body: new Uint8Array(body) });
    return {
      status: r.status,
      json: (await r.json()) as {
        error?: { code: string; message: string; details?: Record<string, unknown> };
      },
    };
  };
  const codeOf = async (p: Promise<unknown>) =>
    p.then(
      () => 'resolved',
      (e) => (e instanceof RegistryError ? e.code : String(e)),
    );

  it('stores claimed bytes under their sha256, proven on write (sha256 and md5), and keeps nothing staged', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 123); // several staging slots and an unaligned tail
    const target = await targetFor(bytes);
    expect(target.url).toContain(`/blobs/uploads/${target.uploadId}?`);
    expect((await put(target.url, bytes, target.headers)).status).toBe(200);
    const blob = { sha256: digest('sha256', bytes), size: bytes.length };
    expect(await store.stat(blob.sha256)).toBeNull(); // nothing is a blob before the claim
    await store.claimStagedUpload(target.uploadId, blob);
    expect(await store.stat(blob.sha256)).toEqual({ size: bytes.length });
    expect(await store.provenDigests(blob.sha256)).toEqual({ ...blob, md5: digest('md5', bytes) });
    expect(await tmpFiles()).toEqual([]);
    expect(store.stagedUploads).toBe(0);
    // Claimed once: the id is spent.
    expect(await codeOf(store.claimStagedUpload(target.uploadId, blob))).toBe('INVALID_REQUEST');
  });

  it('refuses a claim whose sha256 the bytes do not have (CHECKSUM_MISMATCH), storing nothing under it', async () => {
    const sent = randomBytes(64 * 1024);
    const declared = randomBytes(64 * 1024); // the file as the publisher hashed it, before it changed
    const target = await targetFor(sent);
    expect((await put(target.url, sent, target.headers)).status).toBe(200);
    const claim = store.claimStagedUpload(target.uploadId, {
      sha256: digest('sha256', declared),
      size: declared.length,
    });
    const e = await claim.catch((err: unknown) => err);
    expect(e).toBeInstanceOf(RegistryError);
    expect((e as RegistryError).code).toBe('CHECKSUM_MISMATCH');
    expect((e as RegistryError).details).toMatchObject({ actual: digest('sha256', sent) });
    expect(await store.stat(digest('sha256', declared))).toBeNull();
    expect(await store.stat(digest('sha256', sent))).toBeNull();
    expect(await tmpFiles()).toEqual([]);
  });

  it('leaves a blob already stored as it was, and drops the staged copy', async () => {
    const bytes = randomBytes(100_000);
    const blob = { sha256: digest('sha256', bytes), size: bytes.length };
    const target = await targetFor(bytes);
    await store.write(blob.sha256, blob.size, [bytes]); // another publisher's upload finished first
    const before = await stat(store.pathOf(blob.sha256));
    expect((await put(target.url, bytes, target.headers)).status).toBe(200);
    await store.claimStagedUpload(target.uploadId, blob);
    expect((await stat(store.pathOf(blob.sha256))).ino).toBe(before.ino);
    expect(await tmpFiles()).toEqual([]);
  });

  it('answers no target for a file whose size and first MiB a stored blob has, and one for anything else', async () => {
    const stored = randomBytes(HEAD_BYTES + 5000);
    const blob = { sha256: digest('sha256', stored), size: stored.length };
    await store.write(blob.sha256, blob.size, [stored]);
    expect(await store.stagedUploadTarget(fileOf(stored), 60)).toBeNull();
    // The same first MiB, another tail: the hint says "held", the sender's hash then decides (no harm).
    const sameHead = Buffer.concat([stored.subarray(0, HEAD_BYTES), randomBytes(5000)]);
    expect(await store.stagedUploadTarget(fileOf(sameHead), 60)).toBeNull();
    const otherSize = Buffer.concat([stored, Buffer.from('x')]);
    expect(await store.stagedUploadTarget(fileOf(otherSize), 60)).not.toBeNull();
    const otherHead = Buffer.from(stored);
    otherHead.writeUInt8(otherHead.readUInt8(0) ^ 1, 0); // retrained weights of the same size differ from the start
    expect(await store.stagedUploadTarget(fileOf(otherHead), 60)).not.toBeNull();
    // A blob marked corrupt is not held: publishing the file again must send it.
    await store.markCorrupt(blob.sha256);
    expect(await store.stagedUploadTarget(fileOf(stored), 60)).not.toBeNull();
    // Bytes that arrived staged and were claimed are recorded the same way.
    const staged = randomBytes(200_000);
    const target = await targetFor(staged);
    expect((await put(target.url, staged, target.headers)).status).toBe(200);
    await store.claimStagedUpload(target.uploadId, { sha256: digest('sha256', staged), size: staged.length });
    expect(await store.stagedUploadTarget(fileOf(staged), 60)).toBeNull();
  });

  it('refuses a body of another length than the target was signed for, and a second send of one upload', async () => {
    const target = await targetFor(randomBytes(1000));
    const longer = await put(target.url, randomBytes(1001), { 'content-type': 'application/octet-stream' });
    expect(longer.status).toBe(422);
    expect(longer.json.error?.code).toBe('CHECKSUM_MISMATCH');
    expect(longer.json.error?.details?.field).toBe('content-length');
    // Refused before a byte was stored: the upload can still be sent, once.
    expect((await put(target.url, randomBytes(1000), target.headers)).status).toBe(200);
    const again = await put(target.url, randomBytes(1000), target.headers);
    expect(again.json.error?.code).toBe('CONFLICT');
    expect(again.json.error?.details?.field).toBe('uploadId');
    const unclaimed = (await tmpFiles()).length;
    expect(unclaimed).toBe(1);
  });

  it('keeps nothing of a send cut short by the client, and the upload is spent', async () => {
    const size = 8 * 1024 * 1024;
    const target = await targetFor(randomBytes(size));
    const before = store.stagedUploads;
    await new Promise<void>((resolve) => {
      const req = request(target.url, { method: 'PUT', headers: target.headers });
      req.on('error', () => resolve());
      req.write(randomBytes(2 * 1024 * 1024), () => setTimeout(() => req.destroy(), 50));
    });
    await eventually(async () => expect(store.stagedUploads).toBe(before - 1));
    expect((await tmpFiles()).filter((n) => n.includes(target.uploadId))).toEqual([]);
    const retry = await put(target.url, randomBytes(size), target.headers);
    expect(retry.json.error?.code).toBe('NOT_FOUND');
  });

  it('drops an upload DELETE names with its own URL, sent or not, and nothing else', async () => {
    const sent = await targetFor(randomBytes(4096));
    const unsent = await targetFor(randomBytes(4096));
    expect((await put(sent.url, randomBytes(4096), sent.headers)).status).toBe(200);
    const held = store.stagedUploads;
    const forged = await fetch(sent.url.replace(/sig=[^&]+/, 'sig=x'), { method: 'DELETE' });
    expect(forged.status).toBe(403);
    expect(store.stagedUploads).toBe(held);
    for (const t of [sent, unsent]) expect((await fetch(t.url, { method: 'DELETE' })).status).toBe(204);
    expect(store.stagedUploads).toBe(held - 2);
    expect((await tmpFiles()).filter((n) => n.includes(sent.uploadId))).toEqual([]);
    expect(await codeOf(store.claimStagedUpload(sent.uploadId, { sha256: 'a'.repeat(64), size: 4096 }))).toBe(
      'INVALID_REQUEST',
    );
  });

  it('refuses a URL whose signature does not match (403) and any method but PUT and DELETE (405)', async () => {
    const target = await targetFor(randomBytes(10));
    const forged = target.url.replace('size=10', 'size=11');
    const refused = await put(forged, randomBytes(11), {});
    expect(refused.status).toBe(403);
    expect(refused.json.error?.details?.field).toBe('sig');
    const get = await fetch(target.url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('PUT, DELETE');
    // A staged upload URL names no blob: the same signature does not open the blob path.
    const asBlob = target.url.replace(`/blobs/uploads/${target.uploadId}`, `/blobs/sha256/${'a'.repeat(64)}`);
    expect((await put(asBlob, randomBytes(10), {})).status).toBe(403);
  });
});
