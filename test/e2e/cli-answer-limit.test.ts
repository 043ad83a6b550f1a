import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES } from '../../cli/registry-client.js';
import { cli } from './harness.js';

const MiB = 1024 * 1024;
/** One MiB of a JSON string's characters. */
const PADDING = Buffer.alloc(MiB, 'x');

/** What the fake registry saw of one answer: the bytes it got out, and whether the client hung up first. */
interface Sent {
  bytes: number;
  clientClosed: boolean;
}

/**
 * A registry that answers every request with an empty list page padded by a string of `mib` MiB
 * (Infinity: until the client hangs up), written as fast as the client reads, then ends the answer,
 * or with `hang` leaves it open, or with `cut` drops the connection; `headers` are added to the answer.
 */
async function fakeRegistry(mib: number, { headers = {}, hang = false, cut = false } = {}) {
  const sent: Sent = { bytes: 0, clientClosed: false };
  const server = createServer(async (_req: IncomingMessage, res: ServerResponse) => {
    const closed = once(res, 'close').then(() => {
      sent.clientClosed = !res.writableFinished;
    });
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.write('{"items":[],"padding":"');
    for (let i = 0; i < mib && !res.destroyed; i++) {
      if (!res.write(PADDING)) await Promise.race([once(res, 'drain'), closed]);
      if (!res.destroyed) sent.bytes += PADDING.length;
    }
    if (cut) res.socket?.destroy();
    else if (!res.destroyed && !hang) res.end('"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const CAP_MIB = MAX_ANSWER_BYTES / MiB;

/** The one line the CLI prints for an answer over the cap, and no stack trace. */
function expectTooLarge(r: { code: number | null; stdout: string; stderr: string }) {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    new RegExp(
      `^error UNAVAILABLE: the registry's answer to GET /api/v1/models is larger than ${CAP_MIB} MiB, .+ --registry / MODELGATE_REGISTRY points at a modelgate registry`,
    ),
  );
  expect(r.stderr).not.toMatch(/\n\s+at |Cannot create a string/);
}

describe(`the CLI reads at most ${CAP_MIB} MiB of one registry answer`, () => {
  it('reads an answer of a few MiB as before', async () => {
    const registry = await fakeRegistry(4);
    const r = await cli(['list', '--json'], { MODELGATE_REGISTRY: registry.url });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ items: [] });
    expect(registry.sent).toEqual({ bytes: 4 * MiB, clientClosed: false });
  });

  it('stops reading an answer over the cap, with one line saying what to do', async () => {
    // Well over it: the last MiBs of an answer just over the cap may sit in the sockets' buffers already.
    const registry = await fakeRegistry(CAP_MIB + 64);
    const r = await cli(['list'], { MODELGATE_REGISTRY: registry.url });
    expectTooLarge(r);
    // It hung up rather than read the rest: the server could not finish the answer.
    expect(registry.sent.clientClosed).toBe(true);
  });

  it('stops an answer that never ends at the cap', async () => {
    const registry = await fakeRegistry(Number.POSITIVE_INFINITY);
    const r = await cli(['list'], { MODELGATE_REGISTRY: registry.url });
    expectTooLarge(r);
    expect(registry.sent.clientClosed).toBe(true);
    // What left the server past the cap is what the sockets' buffers held when the CLI hung up.
    expect(registry.sent.bytes).toBeLessThan(MAX_ANSWER_BYTES + 64 * MiB);
  });

  it('refuses an answer that declares a length over the cap without waiting for it', async () => {
    // One MiB of it, then nothing: a CLI that waited for the body would wait forever.
    const headers = { 'content-length': String(MAX_ANSWER_BYTES + 1) };
    const registry = await fakeRegistry(1, { headers, hang: true });
    const r = await cli(['list'], { MODELGATE_REGISTRY: registry.url });
    expectTooLarge(r);
    expect(registry.sent.clientClosed).toBe(true);
  });

  it('reports an answer that breaks off in one line too', async () => {
    const registry = await fakeRegistry(1, { cut: true });
    const r = await cli(['list'], { MODELGATE_REGISTRY: registry.url });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^error UNAVAILABLE: the registry's answer to GET \/api\/v1\/models broke off \(.+\): try again$/,
      ),
    ]);
  });
});

describe('a list page longer than any registry sends', () => {
  it('is listed whole, not a stack overflow', async () => {
    const count = 500_000;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"items":[${Array(count).fill('{"name":"m","provider":"p","createdAt":"t"}').join(',')}]}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await cli(['list', '--registry', url, '--limit', String(count)], {});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(count);
  });
});
