import { closeSync, openSync, writeSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import { commitVersion, startVersion } from '../../core/publish.js';
import { rateLimiter, Scrubber } from '../../core/scrub.js';
import { StartVersionRequest } from '../../schemas/version.schema.js';
import { blobOf } from '../fixtures/version-files.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** A clock and a sleep that only move time forward when slept: rates are measured exactly. */
function virtualTime() {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    sleep: async (ms: number) => {
      slept.push(ms);
      now += ms;
    },
    monotonicMs: () => now,
  };
}

describe('rate limiter', () => {
  it('sleeps so that bytes never run ahead of the rate', async () => {
    const time = virtualTime();
    const throttle = rateLimiter(1000, time); // 1000 bytes/s
    for (let i = 0; i < 10; i++) await throttle(500);
    // 5000 bytes at 1000 bytes/s: exactly 5 s of sleeping, since reading took no virtual time.
    expect(time.slept.reduce((a, b) => a + b, 0)).toBeCloseTo(5000, 6);
    expect(time.monotonicMs()).toBeCloseTo(5000, 6);
  });

  it('does not sleep when reading is already slower than the rate', async () => {
    let now = 0;
    const slept: number[] = [];
    const throttle = rateLimiter(1000, {
      sleep: async (ms) => {
        slept.push(ms);
      },
      monotonicMs: () => now,
    });
    for (let i = 0; i < 5; i++) {
      now += 2000; // each 1000-byte chunk took 2 s to read
      await throttle(1000);
    }
    expect(slept).toEqual([]);
  });

  it('stops a scrub at the next chunk once cancelled', async () => {
    let cancelled = false;
    const throttle = rateLimiter(1e9, virtualTime(), () => cancelled);
    await throttle(1);
    cancelled = true;
    await expect(throttle(1)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

describe('scrubber over SQLite and a blob folder', () => {
  let deps: TestDeps;
  let time: ReturnType<typeof virtualTime>;
  let scrubber: Scrubber;

  beforeEach(async () => {
    deps = await localTestDeps();
    time = virtualTime();
    scrubber = new Scrubber(deps, { ...time, defaultBytesPerSecond: 100 });
    await createModel(deps, { name: 'det', provider: 'p', description: '', tags: [] });
  });
  afterEach(() => deps.cleanup());

  async function publish(version: string, files: Record<string, string>) {
    const req = StartVersionRequest.parse({
      version,
      files: Object.entries(files).map(([path, text]) => {
        const { bytes: _b, ...rest } = blobOf(text);
        return { path, ...rest };
      }),
    });
    const started = await startVersion(deps, 'det', req);
    for (const u of started.uploads) {
      const text = Object.values(files).find((t) => blobOf(t).sha256 === u.sha256)!;
      await deps.blobs.write(u.sha256, u.size, [blobOf(text).bytes]);
    }
    await commitVersion(deps, { model: 'det', version });
    return started;
  }

  function rot(sha256: string): void {
    const fd = openSync(deps.blobs.pathOf(sha256), 'r+');
    try {
      writeSync(fd, Buffer.from('X'), 0, 1, 0);
    } finally {
      closeSync(fd);
    }
  }

  async function finished(rate?: number) {
    scrubber.start(rate);
    await scrubber.settled();
    return scrubber.current();
  }

  it('finds a rotted blob, marks it, names the versions, and publish asks for it again', async () => {
    await publish('1', { 'a.onnx': 'weights-a', 'vocab.txt': 'shared' });
    await publish('2', { 'b.onnx': 'weights-b', 'copy/vocab.txt': 'shared' });
    const shared = blobOf('shared');
    rot(shared.sha256);

    const report = await finished(1000);
    expect(report).toMatchObject({
      state: 'finished',
      bytesPerSecond: 1000,
      checked: 3,
      corrupt: 1,
      repaired: 0,
      missing: 0,
      corruptBlobs: [shared.sha256],
    });
    expect(report.checkedBytes).toBe(blobOf('weights-a').size + blobOf('weights-b').size + shared.size);
    expect(report.affectedVersions).toEqual(
      expect.arrayContaining([
        { model: 'det', version: '1', status: 'UPLOADED', paths: ['vocab.txt'] },
        { model: 'det', version: '2', status: 'UPLOADED', paths: ['copy/vocab.txt'] },
      ]),
    );
    expect(report.affectedVersions).toHaveLength(2);
    expect(await deps.blobs.stat(shared.sha256)).toEqual({ size: shared.size, corrupt: true });
    // Bytes read at 1000 bytes/s: the scrub slept as long as the bytes take at that rate.
    expect(time.monotonicMs()).toBeCloseTo((report.checkedBytes / 1000) * 1000, 6);

    // Re-publishing the same file asks for the corrupt blob (and only it); the upload replaces it.
    const again = await publish('3', { 'vocab.txt': 'shared', 'a.onnx': 'weights-a' });
    expect(again.uploads.map((u) => u.sha256)).toEqual([shared.sha256]);
    expect(await deps.blobs.stat(shared.sha256)).toEqual({ size: shared.size });

    const after = await finished();
    expect(after).toMatchObject({
      checked: 3,
      corrupt: 0,
      repaired: 1,
      repairedBlobs: [shared.sha256],
      affectedVersions: [],
    });
    expect(after.bytesPerSecond).toBe(100); // the service's default rate
  });

  it('reports a blob a validation marked, and counts its repair by a re-upload', async () => {
    await publish('1', { 'a.onnx': 'weights-a' });
    const a = blobOf('weights-a');
    rot(a.sha256);
    await deps.blobs.markCorrupt(a.sha256); // what a validation's re-hash does
    expect(await finished()).toMatchObject({ corrupt: 1, corruptBlobs: [a.sha256] });
    await deps.blobs.write(a.sha256, a.size, [a.bytes]);
    expect(await finished()).toMatchObject({ corrupt: 0, repaired: 1 });
  });

  it('re-hashes on demand what a node reported and marks only the corrupt blob', async () => {
    await publish('1', { 'a.onnx': 'weights-a', 'b.onnx': 'weights-b' });
    const [a, b] = [blobOf('weights-a'), blobOf('weights-b')];
    rot(a.sha256);
    let reads = 0;
    const check = deps.blobs.check.bind(deps.blobs);
    deps.blobs.check = (blob, throttle) => {
      reads += 1;
      return check(blob, throttle);
    };
    // Three nodes report at once, one listing a blob twice: each blob is re-read once.
    await Promise.all([scrubber.checkNow([a, b, a]), scrubber.checkNow([a, b]), scrubber.checkNow([b])]);
    expect(reads).toBe(2);
    expect(await deps.blobs.stat(a.sha256)).toEqual({ size: a.size, corrupt: true });
    expect(await deps.blobs.stat(b.sha256)).toEqual({ size: b.size });
  });

  it('answers the running scrub instead of starting a second one', async () => {
    await publish('1', { 'a.onnx': 'weights-a' });
    const first = scrubber.start(10);
    const second = scrubber.start(999);
    expect(first.state).toBe('running');
    expect(second).toMatchObject({ state: 'running', bytesPerSecond: 10 });
    await scrubber.stop();
    expect(scrubber.current()).toMatchObject({ state: 'failed', error: 'the scrub was stopped' });
  });
});
