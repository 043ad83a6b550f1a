import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerHandle } from './harness.js';
import { useServer } from './use-server.js';

/**
 * A real full disk: the data folder is a 6 MiB tmpfs, filled to the last byte by a filler file. Mounting
 * needs root (CAP_SYS_ADMIN); where the tests do not run as root they say so in their name.
 */
const MOUNT_SIZE = '6m';

function tryMount(): string | null {
  if (process.getuid?.() !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'modelgate-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${MOUNT_SIZE},mode=0700`, 'tmpfs', dir]);
    return dir;
  } catch {
    rmdirSync(dir);
    return null;
  }
}

/** Writes zeros to `path` until the file system refuses: ENOSPC. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // The last bytes: a partial chunk can still fit after a full one did not.
  const tail = openSync(path, 'a');
  try {
    for (;;) writeSync(tail, Buffer.alloc(512));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(tail);
  }
}

const mount = tryMount();
const title =
  'a full disk answers 507 INSUFFICIENT_DISK, stores nothing, and degrades /health until space returns';

describe.skipIf(mount === null)(
  mount === null ? `${title} (skipped: needs root to mount a tmpfs)` : title,
  () => {
    const dataDir = mount!;
    const filler = join(dataDir, 'filler');
    // Registered before the server fixture, so that it runs after the server has stopped (after-hooks
    // run last-registered first): a busy mount cannot be unmounted.
    afterAll(() => {
      execFileSync('umount', [dataDir]);
      rmdirSync(dataDir);
    });
    const fixture = useServer({ dataDir });
    let server: ServerHandle;
    beforeAll(() => {
      server = fixture.server;
    });

    async function plan(version: string, bytes: Buffer) {
      const start = await api(server, 'POST', '/api/v1/models/full/versions', {
        version,
        files: [
          {
            path: 'w.bin',
            size: bytes.length,
            sha256: createHash('sha256').update(bytes).digest('hex'),
            md5: createHash('md5').update(bytes).digest('hex'),
          },
        ],
      });
      expect(start.status, JSON.stringify(start.json)).toBe(201);
      return start.json!.uploads[0] as { url: string; method: string; headers: Record<string, string> };
    }

    const put = (u: { url: string; method: string; headers: Record<string, string> }, bytes: Buffer) =>
      fetch(u.url, { method: u.method, headers: u.headers, body: new Uint8Array(bytes) });

    it('refuses an upload with 507, keeps no partial file, and reports degraded health', async () => {
      expect((await api(server, 'POST', '/api/v1/models', { name: 'full', provider: 'p' })).status).toBe(201);
      const bytes = randomBytes(1024 * 1024);
      const upload = await plan('1', bytes);
      // A provider whose model has no VERIFIED version is unhealthy; disabled, it leaves /health healthy, so
      // that only the disk can degrade it here.
      await api(server, 'POST', '/api/v1/providers/p/disable', { reason: 'disk test' });
      expect((await api(server, 'GET', '/health')).json?.status).toBe('healthy');
      fillDisk(filler);

      const res = await put(upload, bytes);
      expect(res.status).toBe(507);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('INSUFFICIENT_DISK');
      expect(body.error.message).toMatch(/out of disk space/);
      expect(JSON.stringify(body)).not.toContain(dataDir); // no internals in a 5xx
      expect(readdirSync(join(dataDir, 'blobs', 'tmp'))).toEqual([]);
      const commit = await api(server, 'POST', '/api/v1/models/full/versions/1/commit');
      expect(commit.json?.error.code).toBe('BLOBS_MISSING');

      const health = await api(server, 'GET', '/health');
      expect(health.status).toBe(200);
      expect(health.json).toMatchObject({ status: 'degraded', disk: { status: 'full' } });
    });

    it('answers a metadata write that SQLite cannot make with 507 too, and stores nothing', async () => {
      // Enough rows that the write-ahead log must grow past what the full disk has left.
      const description = 'd'.repeat(2000);
      let refused: { status: number; json?: Record<string, unknown> } | undefined;
      for (let i = 0; i < 400 && !refused; i++) {
        const r = await api(server, 'POST', '/api/v1/models', { name: `m${i}`, provider: 'p', description });
        if (r.status !== 201) refused = { status: r.status, ...(r.json ? { json: r.json } : {}) };
      }
      expect(refused?.status).toBe(507);
      expect(refused?.json).toMatchObject({ error: { code: 'INSUFFICIENT_DISK' } });
    });

    it('recovers once space returns: /health healthy, the same upload stored', async () => {
      rmSync(filler);
      const health = await api(server, 'GET', '/health');
      expect(health.status).toBe(200);
      expect(health.json?.disk, JSON.stringify(health.json)).toBeUndefined();
      expect(health.json?.status).toBe('healthy');
      const bytes = randomBytes(1024 * 1024);
      const upload = await plan('2', bytes);
      expect((await put(upload, bytes)).status).toBe(200);
      const commit = await api(server, 'POST', '/api/v1/models/full/versions/2/commit');
      expect(commit.json?.status).toBe('UPLOADED');
    });
  },
);
