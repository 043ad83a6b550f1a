import { createHash } from 'node:crypto';
import { renameSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { api, type ServerHandle } from './harness.js';
import { useServer } from './use-server.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Sends a request declaring `declared` bytes, writes `sent` of them, then closes the connection. */
function abortMidBody(url: string, method: string, headers: Record<string, string>, declared: number) {
  return new Promise<void>((resolve) => {
    const req = request(url, { method, headers: { ...headers, 'content-length': String(declared) } });
    req.on('error', () => resolve()); // the hang-up this test makes
    req.on('response', () => resolve());
    req.write(Buffer.alloc(Math.floor(declared / 3), 0x20), () => setTimeout(() => req.destroy(), 100));
  });
}

const logLines = (server: ServerHandle) => server.logs.map((l) => JSON.parse(l) as Record<string, unknown>);

/** Starts a one-file version of `bytes` under a new model and returns its upload instruction. */
async function uploadTarget(server: ServerHandle, model: string, bytes: Buffer) {
  expect((await api(server, 'POST', '/api/v1/models', { name: model })).status).toBe(201);
  const start = await api(server, 'POST', `/api/v1/models/${model}/versions`, {
    version: '1',
    files: [{ path: 'f.bin', size: bytes.length, sha256: sha256(bytes) }],
  });
  expect(start.status).toBe(201);
  return start.json!.uploads[0] as { url: string; method: string; headers: Record<string, string> };
}

describe('a client that hangs up mid-body is logged at info, without a stack', () => {
  const fixture = useServer();

  it('logs a JSON request cut mid-body as client_aborted at info, and nothing at error', async () => {
    const { server } = fixture;
    await abortMidBody(`${server.url}/api/v1/models`, 'POST', { 'content-type': 'application/json' }, 30_000);
    const line = await eventually(() => logLines(server).find((l) => l.event === 'client_aborted'), {
      what: 'a client_aborted line',
    });
    expect(line).toEqual({
      time: expect.any(String),
      level: 'info',
      event: 'client_aborted',
      method: 'POST',
      path: '/api/v1/models',
    });
    expect(logLines(server).filter((l) => l.level === 'error')).toEqual([]);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it('logs a blob upload cut mid-body the same way, with the path but not the signed query', async () => {
    const { server } = fixture;
    const bytes = Buffer.alloc(3 * 1024 * 1024, 7);
    const upload = await uploadTarget(server, 'cut', bytes);
    await abortMidBody(upload.url, upload.method, upload.headers, bytes.length);
    const path = new URL(upload.url).pathname;
    const line = await eventually(
      () => logLines(server).find((l) => l.event === 'client_aborted' && l.path === path),
      { what: 'a client_aborted line for the upload' },
    );
    expect(line).toMatchObject({ level: 'info', method: 'PUT' });
    expect(Object.keys(line).sort()).toEqual(['event', 'level', 'method', 'path', 'time']);
    expect(logLines(server).filter((l) => l.level === 'error')).toEqual([]);
  });

  it('still logs a real internal failure at error, with its stack', async () => {
    const { server } = fixture;
    const bytes = Buffer.from('bytes the store cannot stage');
    const upload = await uploadTarget(server, 'broken', bytes);
    // The store's staging folder gone: the upload fails inside the server, not at the client.
    const staging = join(server.dataDir, 'blobs', 'tmp');
    renameSync(staging, `${staging}.away`);
    try {
      const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: bytes });
      expect(put.status).toBe(500);
    } finally {
      renameSync(`${staging}.away`, staging);
    }
    const line = await eventually(() => logLines(server).find((l) => l.event === 'http_error'), {
      what: 'an http_error line',
    });
    expect(line.level).toBe('error');
    expect(line.error).toMatch(/^Error: ENOENT[^\n]*\n\s+at /);
    expect(logLines(server).filter((l) => l.event === 'client_aborted')).toHaveLength(2);
  });
});
