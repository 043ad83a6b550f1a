import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { api } from './harness.js';
import { useServer } from './use-server.js';

const REQUEST_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 1500;
/** 48 KiB per 1.5 s stretch: the throttled upload below sends ~240 KiB per stretch, the trickle ~30 KiB. */
const MIN_UPLOAD_RATE = 32 * 1024;

interface Sent {
  readonly status?: number;
  readonly body?: string;
  /** Set when the server closed the connection without an answer. */
  readonly error?: string;
  readonly ms: number;
}

/**
 * Sends `chunks` to `url` one at a time with `gapMs` between them, then (unless `stallAfter`) ends the
 * request; with `stallAfter`, stops sending after that many chunks and waits for the server.
 */
function trickle(
  url: string,
  method: string,
  headers: Record<string, string>,
  chunks: Buffer[],
  gapMs: number,
  stallAfter?: number,
): Promise<Sent> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { method, headers });
    const done = (r: Omit<Sent, 'ms'>) => resolve({ ...r, ms: performance.now() - started });
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => done({ error: e.message }));
    });
    req.on('error', (e) => done({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    void (async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (stallAfter !== undefined && i === stallAfter) return; // stop sending, keep the socket open
        if (req.destroyed) return;
        req.write(chunks[i]);
        await sleep(gapMs);
      }
      req.end();
    })();
  });
}

const split = (bytes: Buffer, size: number) =>
  Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

/** Blob transfers are limited by idleness, never by total duration; the JSON API keeps a total limit. */
describe('blob uploads are cut when idle, not when long', () => {
  const f = useServer({
    env: {
      MODELGATE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      MODELGATE_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
      MODELGATE_UPLOAD_MIN_BYTES_PER_SECOND: String(MIN_UPLOAD_RATE),
    },
  });

  async function plannedUpload(version: string, bytes: Buffer) {
    await api(f.server, 'POST', '/api/v1/models', { name: 'slow', provider: 'p' });
    const start = await api(f.server, 'POST', '/api/v1/models/slow/versions', {
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
    expect(start.status).toBe(201);
    return start.json!.uploads[0] as { url: string; method: string; headers: Record<string, string> };
  }

  /**
   * The cut upload left no file behind (the partial file goes once the aborted body stream ends, just
   * after the socket closes) and its version cannot be committed.
   */
  async function expectNothingStored(version: string): Promise<void> {
    const tmp = join(f.server.dataDir, 'blobs', 'tmp');
    for (let i = 0; i < 40 && readdirSync(tmp).length > 0; i++) await sleep(50);
    expect(readdirSync(tmp)).toEqual([]);
    const commit = await api(f.server, 'POST', `/api/v1/models/slow/versions/${version}/commit`);
    expect(commit.json?.error.code).toBe('BLOBS_MISSING');
  }

  it('takes a throttled upload that lasts well past the request limit but never idles', async () => {
    const bytes = randomBytes(512 * 1024);
    const upload = await plannedUpload('1', bytes);
    // 32 chunks, 100 ms apart: about 3.2 s in all, never more than 0.1 s without a byte.
    const sent = await trickle(upload.url, upload.method, upload.headers, split(bytes, 16 * 1024), 100);
    expect(sent.error).toBeUndefined();
    expect(sent.status, sent.body).toBe(200);
    expect(sent.ms).toBeGreaterThan(REQUEST_TIMEOUT_MS * 2.5);
    const commit = await api(f.server, 'POST', '/api/v1/models/slow/versions/1/commit');
    expect(commit.json?.status).toBe('UPLOADED');
  });

  it('cuts an upload that stops sending after the idle time, and stores nothing', async () => {
    const bytes = randomBytes(256 * 1024);
    const upload = await plannedUpload('2', bytes);
    const sent = await trickle(upload.url, upload.method, upload.headers, split(bytes, 16 * 1024), 50, 4);
    expect(sent.status).toBeUndefined();
    expect(sent.error).toBeDefined(); // the server closed the socket
    expect(sent.ms).toBeGreaterThan(IDLE_TIMEOUT_MS - 100);
    expect(sent.ms).toBeLessThan(IDLE_TIMEOUT_MS + 5000);
    expect(f.server.logs.some((l) => l.includes('"event":"connection_idle"'))).toBe(true);
    await expectNothingStored('2');
  });

  it('cuts an upload that never idles but moves less than the minimum rate, with 408 naming it, and stores nothing', async () => {
    const bytes = randomBytes(512 * 1024);
    const upload = await plannedUpload('3', bytes);
    // 2 KiB every 100 ms (20 KiB/s): a byte always moving, so the idle rule never fires; 25 s for the body.
    const sent = await trickle(upload.url, upload.method, upload.headers, split(bytes, 2 * 1024), 100);
    expect(sent.status, sent.error).toBe(408);
    expect(sent.ms).toBeGreaterThan(IDLE_TIMEOUT_MS - 100);
    expect(sent.ms).toBeLessThan(IDLE_TIMEOUT_MS + 5000);
    const error = JSON.parse(sent.body!).error;
    expect(error).toMatchObject({
      code: 'TIMEOUT',
      details: { field: 'body', windowMs: IDLE_TIMEOUT_MS, minBytesPerSecond: MIN_UPLOAD_RATE },
    });
    expect(error.details.bytes).toBeLessThan((MIN_UPLOAD_RATE * IDLE_TIMEOUT_MS) / 1000);
    expect(error.message).toContain('MODELGATE_UPLOAD_MIN_BYTES_PER_SECOND');
    expect(f.server.logs.some((l) => l.includes('"event":"upload_too_slow"'))).toBe(true);
    await expectNothingStored('3');
  });

  it('keeps a whole-request limit on the JSON API: a body trickled past it gets 408', async () => {
    const body = Buffer.from(
      JSON.stringify({ name: 'trickled', provider: 'p', description: 'x'.repeat(200) }),
    );
    const sent = await trickle(
      `${f.server.url}/api/v1/models`,
      'POST',
      { 'content-type': 'application/json', 'content-length': String(body.length) },
      split(body, 10),
      100,
    );
    expect(sent.status).toBe(408);
    expect(JSON.parse(sent.body!).error.code).toBe('TIMEOUT');
    expect((await api(f.server, 'GET', '/api/v1/models/trickled')).status).toBe(404);
  });

  it('serves a slow reader to the end, and cuts a reader that stops reading', async () => {
    // Big enough that the kernel's socket buffers cannot take it all while the reader sleeps: loopback
    // receive buffers autotune up to net.ipv4.tcp_rmem's maximum (32 MiB on these machines) plus the send
    // buffer (4 MiB), so 48 MiB passed whole now and then; 112 MiB leaves a wide margin.
    const bytes = Buffer.alloc(112 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE(i, i);
    writeFileSync(join(f.work, 'big.bin'), bytes);
    const published = await f.run('publish', 'big@1', 'big.bin', '--wait');
    expect(published.code, published.stderr).toBe(0);
    const plan = await api(f.server, 'GET', '/api/v1/models/big/download/1');
    const url = plan.json!.files[0].download.url as string;

    // Never idle: a pause shorter than the idle time after every chunk, for longer than the request limit.
    const slow = await read(url, async () => sleep(IDLE_TIMEOUT_MS / 3), REQUEST_TIMEOUT_MS * 2);
    expect(slow.error).toBeUndefined();
    expect(slow.bytes).toBe(bytes.length);
    expect(slow.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));

    // Stops reading for twice the idle time: the server gives up on the connection. The reader is a
    // python3 socket with an 8 KiB receive buffer set before connecting (which turns off the kernel's
    // autotuning): a Node client cannot shrink its buffer, and loopback's autotuned buffers sometimes
    // absorbed the whole file, so the server was never kept waiting.
    // Four times the idle time: Node suppresses a socket's first timeout while its write queue changed
    // since the last check (net.Socket's _onTimeout), so a stalled write can take up to twice the idle time
    // to be cut; a stall of exactly twice raced that.
    const stalled = stalledRead(url, IDLE_TIMEOUT_MS * 4);
    expect(stalled.bytes).toBeLessThan(bytes.length);
    expect(stalled.error).toBeDefined();
    // The cut transfer is logged by its path: the URL's signature, a key to the blob, is not.
    expect(f.server.logs.some((l) => l.includes('/blobs/sha256/'))).toBe(true);
    expect(f.server.logs.join('\n')).not.toContain('sig=');
  });
});

/**
 * GETs `url` over a socket with a tiny receive buffer, reads 64 KiB, stops reading for `stallMs`, then
 * reads on until the server ends or cuts the connection: the bytes received and whether it was cut.
 */
function stalledRead(url: string, stallMs: number): { bytes: number; error?: string } {
  const { hostname, port, pathname, search } = new URL(url);
  const script = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(("GET " + sys.argv[3] + " HTTP/1.1\\r\\nHost: " + sys.argv[1] + ":" + sys.argv[2] + "\\r\\nConnection: close\\r\\n\\r\\n").encode())
head = b""
while b"\\r\\n\\r\\n" not in head:
    head += s.recv(4096)
length = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0])
body = len(head.split(b"\\r\\n\\r\\n", 1)[1])
while body < 65536:
    body += len(s.recv(8192))
time.sleep(float(sys.argv[4]))
err = ""
try:
    while body < length:
        chunk = s.recv(65536)
        if not chunk:
            err = "closed early"
            break
        body += len(chunk)
except OSError as e:
    err = str(e)
print(body, length, err)
`;
  const out = execFileSync(
    'python3',
    ['-c', script, hostname, port, `${pathname}${search}`, String(stallMs / 1000)],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  ).trim();
  const [bytes, , ...error] = out.split(' ');
  return { bytes: Number(bytes), ...(error.join(' ') ? { error: error.join(' ') } : {}) };
}

/**
 * GETs `url`, calling `pause(n)` after the n-th chunk; pauses only while under `slowForMs` when given.
 */
function read(
  url: string,
  pause: (n: number) => Promise<void>,
  slowForMs = Number.POSITIVE_INFINITY,
): Promise<{ bytes: number; sha256: string; error?: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    let bytes = 0;
    request(url, { agent: false }, (res) => {
      void (async () => {
        let n = 0;
        try {
          for await (const chunk of res) {
            hash.update(chunk as Buffer);
            bytes += (chunk as Buffer).length;
            n += 1;
            if (performance.now() - started < slowForMs) await pause(n);
          }
          if (!res.complete) throw new Error('the response ended early');
          resolve({ bytes, sha256: hash.digest('hex') });
        } catch (e) {
          resolve({ bytes, sha256: '', error: (e as Error).message });
        }
      })();
    })
      .on('error', (e) => resolve({ bytes, sha256: '', error: e.message }))
      .end();
  });
}
