import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsBlobStore } from '../../adapters/fs-blobs/fs-blob-store.js';
import { type BlobEndpointServer, startBlobEndpoint } from '../helpers/blob-endpoint-server.js';
import { eventually } from '../helpers/eventually.js';

/**
 * GET of the local blob endpoint with `Range` over real HTTP: the store reads blobs with O_DIRECT in
 * 4 KiB-aligned slots, so a range that starts or ends off a block boundary must still come back exact.
 */
describe('blob endpoint: ranged GET of a blob written with O_DIRECT', () => {
  let endpoint: BlobEndpointServer;
  let store: FsBlobStore;
  const bytes = randomBytes(24 * 1024 * 1024 + 777); // many read slots: an aborted GET stops midway
  const blob = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };

  beforeAll(async () => {
    endpoint = await startBlobEndpoint('modelgate-range-');
    store = endpoint.store;
    const put = await store.uploadTarget(blob, 60);
    const r = await fetch(put.url, { method: 'PUT', headers: put.headers, body: new Uint8Array(bytes) });
    expect(r.status, await r.text()).toBe(200);
  });

  afterAll(async () => {
    await endpoint?.close();
  });

  const get = async (range?: string) => {
    const target = await store.downloadTarget(blob, 60);
    return fetch(target.url, { headers: range ? { range } : {} });
  };

  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=4095-4096', 4095, 4096],
    ['bytes=1000-1048576', 1000, 1048576],
    ['bytes=1048577-', 1048577, bytes.length - 1],
    ['bytes=-777', bytes.length - 777, bytes.length - 1],
    ['bytes=5-99999999', 5, bytes.length - 1],
  ])('%s answers 206 with exactly those bytes', async (range, start, end) => {
    const r = await get(range);
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes ${start}-${end}/${bytes.length}`);
    expect(Buffer.from(await r.arrayBuffer()).equals(bytes.subarray(start, end + 1))).toBe(true);
  });

  it('answers 200 with the whole blob without a Range, and 416 for a range past the end', async () => {
    const whole = await get();
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
    const past = await get(`bytes=${bytes.length}-`);
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
  });

  it('hands the read slots back when a client stops reading midway', async () => {
    for (let i = 0; i < 6; i += 1) {
      const r = await get(); // more aborted reads than the store has read areas
      await r.body?.cancel();
    }
    await eventually(() => store.stagingInUse.reads === 0, { what: 'every read area to be released' });
    expect(store.stagingInUse).toEqual({ uploads: 0, reads: 0 });
    const after = await get('bytes=3-70000');
    expect(Buffer.from(await after.arrayBuffer()).equals(bytes.subarray(3, 70001))).toBe(true);
  });
});
