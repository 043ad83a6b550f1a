import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsBlobStore, type FsBlobStoreOptions } from '../../adapters/fs-blobs/fs-blob-store.js';
import { UrlSigner } from '../../adapters/fs-blobs/url-signer.js';
import { systemClock } from '../../core/ports.js';

/**
 * The folder store's direct I/O: uploads staged in small slots (so a few hundred KiB cross many slots and
 * wrap around the area), written with O_DIRECT where the file system allows it and buffered where it
 * refuses (tmpfs), md5 on the store's digest thread; reads with O_DIRECT, any Range.
 */
const KiB = 1024;
const SMALL = { slotBytes: 64 * KiB, slots: 3, areas: 2 } as const;
const TMPFS_MAGIC = 0x01021994;

const diskIsTmpfs = statfsSync(tmpdir()).type === TMPFS_MAGIC;
const shm = '/dev/shm';
const shmWritable = (() => {
  try {
    accessSync(shm, constants.W_OK);
    return statfsSync(shm).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
})();

/** Whether the file system of `dir` accepts O_DIRECT (tmpfs does since Linux 6.6, refused it before). */
function acceptsDirectIo(dir: string): boolean {
  const probe = join(dir, `.direct-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw e;
  } finally {
    rmSync(probe, { force: true });
  }
}

const roots: string[] = [];
const stores: FsBlobStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

async function aStore(options: Partial<FsBlobStoreOptions> = {}, parent = tmpdir()): Promise<FsBlobStore> {
  const root = mkdtempSync(join(parent, 'modelgate-direct-'));
  roots.push(root);
  const store = new FsBlobStore({
    root,
    signer: new UrlSigner(Buffer.alloc(32, 9)),
    publicUrl: () => 'http://127.0.0.1:1',
    clock: systemClock,
    uploadStaging: SMALL,
    ...options,
  });
  await store.init();
  stores.push(store);
  return store;
}

const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5Of = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Socket-like chunks of uneven sizes, so slot boundaries fall inside chunks. */
async function* socketChunks(bytes: Buffer, pause?: Promise<void>): AsyncIterable<Uint8Array> {
  const sizes = [1000, 65_536, 7, 40_000, 65_536];
  let i = 0;
  for (let at = 0; at < bytes.length; i += 1) {
    const n = sizes[i % sizes.length]!;
    yield bytes.subarray(at, at + n);
    at += n;
    if (pause && at > bytes.length / 2) {
      await pause;
      pause = undefined;
    }
  }
}

async function readAll(store: FsBlobStore, sha256: string, range?: { start: number; end: number }) {
  const parts: Buffer[] = [];
  for await (const c of store.readChunks(sha256, range)) parts.push(Buffer.from(c)); // views: copied before the next
  return Buffer.concat(parts);
}

async function storeAndCheck(store: FsBlobStore, bytes: Buffer): Promise<string> {
  const sha256 = sha256Of(bytes);
  await store.write(sha256, bytes.length, socketChunks(bytes));
  expect(readFileSync(store.pathOf(sha256)).equals(bytes)).toBe(true);
  expect(await store.provenDigests(sha256)).toEqual({ sha256, md5: md5Of(bytes), size: bytes.length });
  expect((await readAll(store, sha256)).equals(bytes)).toBe(true);
  return sha256;
}

describe('folder blob store, direct I/O', () => {
  it.skipIf(diskIsTmpfs)(
    'writes and reads with O_DIRECT on a disk file system (skipped: os.tmpdir() is a tmpfs)',
    async () => {
      const store = await aStore();
      for (const size of [
        0,
        1,
        4095,
        4096,
        64 * KiB,
        64 * KiB + 1,
        5 * 64 * KiB + 12_345,
        3 * 1024 * KiB + 17,
      ])
        await storeAndCheck(store, randomBytes(size));
      expect(store.directIo).toEqual({ writes: true, reads: true });
      expect(readdirSync(join(roots[0]!, 'tmp')).filter((f) => !f.startsWith('verified'))).toEqual([]);
    },
  );

  it('serves any byte range, aligned or not, within a slot or across slots', async () => {
    const store = await aStore();
    const bytes = randomBytes(2 * 1024 * KiB + 5000); // crosses the 1 MiB read slots
    const sha256 = await storeAndCheck(store, bytes);
    const last = bytes.length - 1;
    const ranges = [
      [0, 0],
      [1, 4096],
      [4095, 4097],
      [4096, 8191],
      [1_000_000, 1_100_000],
      [1024 * KiB - 1, 1024 * KiB],
      [123_457, last],
      [last, last],
      [0, last],
    ] as const;
    for (const [start, end] of ranges)
      expect((await readAll(store, sha256, { start, end })).equals(bytes.subarray(start, end + 1))).toBe(
        true,
      );
  });

  it('with direct I/O turned off, stores and serves the same bytes buffered', async () => {
    const store = await aStore({ directIo: false });
    await storeAndCheck(store, randomBytes(300 * KiB + 3));
    expect(store.directIo).toEqual({ writes: false, reads: false });
  });

  it.skipIf(!shmWritable)(
    'on a tmpfs uses O_DIRECT where the kernel allows it, else falls back to buffered I/O and remembers (skipped: no writable /dev/shm tmpfs)',
    async () => {
      const direct = acceptsDirectIo(shm);
      const store = await aStore({}, shm);
      await storeAndCheck(store, randomBytes(200 * KiB + 11));
      expect(store.directIo).toEqual({ writes: direct, reads: direct });
      await storeAndCheck(store, randomBytes(70 * KiB)); // the next upload goes the remembered way at once
      expect(store.directIo).toEqual({ writes: direct, reads: direct });
    },
  );

  it('refuses bytes that differ from the declared sha256 or size, stores nothing and leaves no tmp file', async () => {
    const store = await aStore();
    const bytes = randomBytes(400 * KiB);
    const sha256 = sha256Of(bytes);
    const bad = Buffer.from(bytes);
    bad[300_000] = (bad[300_000]! + 1) % 256;
    await expect(store.write(sha256, bytes.length, socketChunks(bad))).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    await expect(store.write(sha256, bytes.length - 1, socketChunks(bytes))).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    await expect(store.write(sha256, bytes.length + 1, socketChunks(bytes))).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    expect(await store.stat(sha256)).toBeNull();
    expect(await store.provenDigests(sha256)).toBeNull();
    expect(readdirSync(join(roots[0]!, 'tmp'))).toEqual([]);
    expect(store.stagingInUse.uploads).toBe(0);
    await storeAndCheck(store, bytes); // the staging area was handed back: the right bytes still go in
  });

  it('serves more concurrent uploads than it has staging areas: the extra ones go buffered, all land intact', async () => {
    const store = await aStore();
    const blobs = Array.from({ length: 5 }, (_, i) => randomBytes(150 * KiB + i * 4099));
    await Promise.all(blobs.map((b) => store.write(sha256Of(b), b.length, socketChunks(b))));
    for (const b of blobs) {
      expect(readFileSync(store.pathOf(sha256Of(b))).equals(b)).toBe(true);
      expect((await store.provenDigests(sha256Of(b)))?.md5).toBe(md5Of(b));
    }
  });

  it('receives an upload buffered, after a bounded wait, while stalled uploads hold every staging area', async () => {
    const store = await aStore(); // SMALL: 2 areas
    let resume: () => void = () => {};
    const stalled = new Promise<void>((r) => {
      resume = r;
    });
    const held = [randomBytes(300 * KiB), randomBytes(301 * KiB)];
    const holding = held.map((b) => store.write(sha256Of(b), b.length, socketChunks(b, stalled)));
    await new Promise((r) => setTimeout(r, 50));
    expect(store.stagingInUse.uploads).toBe(2);
    // Every area is held by a body that sends no more: this one lands all the same, hashed in one pass.
    const overflow = randomBytes(700 * KiB + 5);
    await storeAndCheck(store, overflow);
    expect((await store.provenDigests(sha256Of(overflow)))?.md5).toBe(md5Of(overflow));
    const wrong = Buffer.from(overflow);
    wrong[100]! ^= 1;
    await expect(
      store.write(sha256Of(overflow.subarray(1)), wrong.length, socketChunks(wrong)),
    ).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    expect(await store.stat(sha256Of(overflow.subarray(1)))).toBeNull();
    expect(store.stagingInUse.uploads).toBe(2);
    resume();
    await Promise.all(holding);
    for (const b of held) expect(readFileSync(store.pathOf(sha256Of(b))).equals(b)).toBe(true);
    expect(readdirSync(join(roots.at(-1)!, 'tmp'))).toEqual([]);
  });

  it('fails the upload in flight with INTERNAL when the digest thread dies; the next upload gets a new one', async () => {
    const store = await aStore();
    const bytes = randomBytes(600 * KiB);
    const sha256 = sha256Of(bytes);
    let resume: () => void = () => {};
    const paused = new Promise<void>((r) => {
      resume = r;
    });
    const upload = store.write(sha256, bytes.length, socketChunks(bytes, paused));
    await new Promise((r) => setTimeout(r, 100)); // half the body is in; the thread is running
    await store.close(); // the thread dies as an out-of-memory kill would end it
    resume();
    await expect(upload).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(store.stagingInUse.uploads).toBe(0);
    expect(await store.stat(sha256)).toBeNull();
    expect(readdirSync(join(roots[0]!, 'tmp'))).toEqual([]);
    await storeAndCheck(store, bytes);
  });
});
