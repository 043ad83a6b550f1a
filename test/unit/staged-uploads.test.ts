import { describe, expect, it } from 'vitest';
import { StagedUploads } from '../../adapters/fs-blobs/staged-uploads.js';
import { RegistryError } from '../../core/errors.js';

/** A clock the test moves by hand. */
function manualClock() {
  let ms = Date.parse('2026-12-01T00:00:00Z');
  return { now: () => new Date(ms), advance: (s: number) => (ms += s * 1000) };
}

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof RegistryError ? e.code : `not a RegistryError: ${e}`;
  }
  return undefined;
};

const digests = { sha256: 'a'.repeat(64), md5: 'b'.repeat(32), headSha256: 'c'.repeat(64) };

describe('staged uploads: the folder store bookkeeping', () => {
  it('hands a received upload out once, with what the store proved', () => {
    const staged = new StagedUploads(manualClock(), async () => {});
    const id = staged.open(10, 60);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(staged.begin(id)).toBe(10);
    staged.received(id, { path: '/tmp/x', size: 10, ...digests });
    expect(staged.take(id)).toEqual({ path: '/tmp/x', size: 10, ...digests });
    expect(staged.take(id)).toBeUndefined();
    expect(staged.size).toBe(0);
  });

  it('refuses bytes for an unknown id (NOT_FOUND) and a second send (CONFLICT)', () => {
    const staged = new StagedUploads(manualClock(), async () => {});
    expect(codeOf(() => staged.begin('0'.repeat(32)))).toBe('NOT_FOUND');
    const id = staged.open(1, 60);
    staged.begin(id);
    expect(codeOf(() => staged.begin(id))).toBe('CONFLICT');
    staged.received(id, { path: '/tmp/y', size: 1, ...digests });
    expect(codeOf(() => staged.begin(id))).toBe('CONFLICT');
  });

  it('has nothing to claim while the bytes are still arriving, and a failed send spends the id', () => {
    const staged = new StagedUploads(manualClock(), async () => {});
    const id = staged.open(1, 60);
    staged.begin(id);
    expect(staged.take(id)).toBeUndefined();
    staged.failed(id);
    expect(codeOf(() => staged.begin(id))).toBe('NOT_FOUND');
    expect(staged.size).toBe(0);
  });

  it('drops a target unused past its ttl, and bytes unclaimed for as long after they arrived (deleting them)', () => {
    const clock = manualClock();
    const deleted: string[] = [];
    const staged = new StagedUploads(clock, async (p) => {
      deleted.push(p);
    });
    const unused = staged.open(1, 60);
    const sent = staged.open(1, 60);
    staged.begin(sent);
    clock.advance(59);
    staged.received(sent, { path: '/tmp/sent', size: 1, ...digests });
    clock.advance(2); // the unused target's URL expired; the bytes have waited 2 s of their 60
    expect(codeOf(() => staged.begin(unused))).toBe('NOT_FOUND');
    expect(staged.size).toBe(1);
    clock.advance(59);
    expect(staged.take(sent)).toBeUndefined();
    expect(deleted).toEqual(['/tmp/sent']);
  });

  it('never drops an upload while its bytes arrive, however long it takes', () => {
    const clock = manualClock();
    const staged = new StagedUploads(clock, async () => {});
    const id = staged.open(1, 60);
    staged.begin(id);
    clock.advance(3600);
    staged.sweep();
    staged.received(id, { path: '/tmp/slow', size: 1, ...digests });
    expect(staged.take(id)?.path).toBe('/tmp/slow');
  });

  it('holds at most `limit` uploads at once (UNAVAILABLE), and room comes back as they are claimed or dropped', () => {
    const clock = manualClock();
    const staged = new StagedUploads(clock, async () => {}, 2);
    const a = staged.open(1, 60);
    staged.open(1, 60);
    expect(codeOf(() => staged.open(1, 60))).toBe('UNAVAILABLE');
    staged.begin(a);
    staged.received(a, { path: '/tmp/a', size: 1, ...digests });
    staged.take(a);
    expect(codeOf(() => staged.open(1, 60))).toBeUndefined();
    expect(codeOf(() => staged.open(1, 60))).toBe('UNAVAILABLE');
    clock.advance(61);
    expect(codeOf(() => staged.open(1, 60))).toBeUndefined();
  });

  it('cancel drops a waiting target, received bytes, and bytes still arriving once they are in', async () => {
    const deleted: string[] = [];
    const staged = new StagedUploads(manualClock(), async (p) => {
      deleted.push(p);
    });
    const waiting = staged.open(1, 60);
    const received = staged.open(1, 60);
    const arriving = staged.open(1, 60);
    staged.begin(received);
    staged.received(received, { path: '/tmp/received', size: 1, ...digests });
    staged.begin(arriving);
    for (const id of [waiting, received, arriving]) await staged.cancel(id);
    expect(staged.size).toBe(1); // still arriving: its request owns it until the last byte
    staged.received(arriving, { path: '/tmp/arriving', size: 1, ...digests });
    expect(staged.take(arriving)).toBeUndefined();
    expect(staged.size).toBe(0);
    expect(deleted).toEqual(['/tmp/received', '/tmp/arriving']);
    await staged.cancel('f'.repeat(32)); // unknown: nothing to do
  });

  it('clear drops everything and deletes the files of received uploads', async () => {
    const deleted: string[] = [];
    const staged = new StagedUploads(manualClock(), async (p) => {
      deleted.push(p);
    });
    const id = staged.open(1, 60);
    staged.open(1, 60);
    staged.begin(id);
    staged.received(id, { path: '/tmp/kept', size: 1, ...digests });
    await staged.clear();
    expect(staged.size).toBe(0);
    expect(deleted).toEqual(['/tmp/kept']);
  });
});
