import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobInfo, BlobStore } from '../../core/ports.js';
import type { TransferTarget } from '../../schemas/version.schema.js';

export interface BlobStoreContractOptions {
  /** Skip a check the server behind this adapter cannot make, with the reason shown in the test name. */
  readonly skip?: { readonly checksumEnforcedByServer?: string };
}

/**
 * The behaviour every BlobStore must have, written against the port only. Bytes travel the way clients
 * send them: real HTTP requests (global fetch) to the URL, method and headers of the TransferTarget.
 * One store serves the whole suite; blobs are content-addressed, so each test uses its own random bytes.
 */
export function describeBlobStoreContract(
  adapterName: string,
  setup: () => Promise<{ store: BlobStore; cleanup(): Promise<void> }>,
  options: BlobStoreContractOptions = {},
): void {
  describe(`BlobStore contract: ${adapterName}`, () => {
    let store: BlobStore;
    let cleanup: (() => Promise<void>) | undefined;
    let scratch: string;

    beforeAll(async () => {
      ({ store, cleanup } = await setup());
      scratch = await mkdtemp(join(tmpdir(), 'blob-contract-'));
    });
    afterAll(async () => {
      await cleanup?.();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    it('says an absent blob is absent', async () => {
      expect(await store.stat(describeBytes(randomBytes(16)).sha256)).toBeNull();
    });

    it('accepts an upload through its target, then stats, serves and materializes the same bytes', async () => {
      const bytes = randomBytes(300 * 1024 + 7); // several stream chunks, not a round size
      const blob = describeBytes(bytes);
      const target = await store.uploadTarget(blob, 600);
      expect(target.method).toBe('PUT');
      expect(target.multipart).toBeUndefined(); // a small blob is always one request
      const expiresIn = Date.parse(target.expiresAt) - Date.now();
      expect(expiresIn).toBeGreaterThan(500_000);
      expect(expiresIn).toBeLessThanOrEqual(601_000);

      const put = await send(target, bytes);
      expect(put.status, await put.text()).toBeLessThan(300);
      expect(await store.stat(blob.sha256)).toEqual({ size: bytes.length });

      const download = await store.downloadTarget(blob, 600);
      expect(download.method).toBe('GET');
      const got = await send(download);
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);

      const dest = join(scratch, 'fresh', 'nested', 'model.onnx'); // parents do not exist yet
      // The bytes were hashed as they were stored or copied: both digests come with the copy.
      expect(await store.materialize(blob, dest)).toEqual({
        sha256: blob.sha256,
        md5: blob.md5,
        size: bytes.length,
      });
      expect((await readFile(dest)).equals(bytes)).toBe(true);
    });

    it('stores an empty file', async () => {
      const bytes = Buffer.alloc(0);
      const blob = describeBytes(bytes);
      const put = await send(await store.uploadTarget(blob, 60), bytes);
      expect(put.status, await put.text()).toBeLessThan(300);
      expect(await store.stat(blob.sha256)).toEqual({ size: 0 });
      const dest = join(scratch, 'empty.txt');
      await store.materialize(blob, dest);
      expect((await readFile(dest)).length).toBe(0);
    });

    it('refuses to materialize an absent blob and leaves nothing at the destination', async () => {
      const blob = describeBytes(randomBytes(32));
      const dir = join(scratch, 'absent');
      await expect(store.materialize(blob, join(dir, 'model.onnx'))).rejects.toThrow();
      const left = await readdir(dir).catch(() => []);
      expect(left).toEqual([]);
    });

    it('serves nothing for an absent blob', async () => {
      const got = await send(await store.downloadTarget(describeBytes(randomBytes(8)), 60));
      expect(got.status).toBeGreaterThanOrEqual(400);
    });

    it('marks a stored blob corrupt until an upload of the right bytes replaces it', async () => {
      const bytes = randomBytes(64 * 1024 + 3);
      const blob = describeBytes(bytes);
      const first = await send(await store.uploadTarget(blob, 60), bytes);
      expect(first.status, await first.text()).toBeLessThan(300);
      expect(await store.check(blob)).toBe('intact');

      await store.markCorrupt(blob.sha256);
      expect(await store.stat(blob.sha256)).toEqual({ size: bytes.length, corrupt: true });
      // Stores identify the marked copy by its modification time where nothing finer exists (S3's
      // LastModified has whole seconds): a real re-upload comes much later than the upload it repairs.
      await sleep(1100);
      const again = await send(await store.uploadTarget(blob, 60), bytes);
      expect(again.status, await again.text()).toBeLessThan(300);
      expect(await store.stat(blob.sha256)).toEqual({ size: bytes.length });
      expect(await store.check(blob)).toBe('intact');
    });

    it('leaves an absent blob absent when asked to mark it, and checks it as missing', async () => {
      const blob = describeBytes(randomBytes(40));
      await store.markCorrupt(blob.sha256);
      expect(await store.stat(blob.sha256)).toBeNull();
      expect(await store.check(blob)).toBe('missing');
    });

    it('checks at the pace of its throttle and lists what it stores', async () => {
      const bytes = randomBytes(200 * 1024);
      const blob = describeBytes(bytes);
      await send(await store.uploadTarget(blob, 60), bytes);
      let seen = 0;
      let calls = 0;
      expect(
        await store.check(blob, async (n) => {
          seen += n;
          calls += 1;
        }),
      ).toBe('intact');
      expect(seen).toBe(bytes.length); // every byte passes the throttle
      expect(calls).toBeGreaterThan(0);
      const listed: BlobInfo[] = [];
      for await (const b of store.list()) listed.push(b);
      expect(listed).toContainEqual({ sha256: blob.sha256, size: bytes.length });
      // A blob stored under the hash of other bytes (a wrong size declared) checks corrupt.
      expect(await store.check({ sha256: blob.sha256, size: bytes.length + 1 })).toBe('corrupt');
    });

    const checksumSkip = options.skip?.checksumEnforcedByServer;
    const rejectsWrongBytes =
      'rejects an upload whose bytes do not match the hash, and stores nothing under it';
    if (checksumSkip) {
      it.skip(`${rejectsWrongBytes} (${checksumSkip})`, () => {});
    } else {
      it(rejectsWrongBytes, async () => {
        const bytes = randomBytes(4096);
        const blob = describeBytes(bytes);
        const wrong = Buffer.from(bytes);
        wrong[100] = (wrong[100]! + 1) % 256; // same length, one byte off: only a checksum can tell
        const put = await send(await store.uploadTarget(blob, 60), wrong);
        expect(put.status).toBeGreaterThanOrEqual(400);
        expect(await store.stat(blob.sha256)).toBeNull();
      });
    }
  });
}

function describeBytes(bytes: Buffer): BlobInfo & { md5: string } {
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
    size: bytes.length,
  };
}

/** What a client does with a TransferTarget: exactly its method, URL and headers. */
async function send(target: TransferTarget, body?: Buffer): Promise<Response> {
  return fetch(target.url, {
    method: target.method,
    headers: target.headers,
    ...(body === undefined ? {} : { body: new Uint8Array(body) }),
  });
}
