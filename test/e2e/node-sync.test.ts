import { type ChildProcess, spawn } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { admitsNode } from '../../core/provider-ramp.js';
import { buildMlpModel, modelOfSize } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { CLI, cli } from './harness.js';
import { useServer } from './use-server.js';

interface SyncEvent {
  time: string;
  event: string;
  [field: string]: unknown;
}

/**
 * A proxy in front of the real server. `down()` makes it drop every connection (the registry is
 * unreachable); with `limitBlobBytes`, it points the plan's download URLs at itself and forwards only that
 * many bytes of each blob, then holds the connection open (a download that stalls mid-body).
 */
async function proxyTo(upstream: string, options: { limitBlobBytes?: number } = {}) {
  let down = false;
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (down) {
      req.socket.destroy();
      return;
    }
    const up = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      const isPlan = req.url!.includes('/download/');
      if (isPlan && options.limitBlobBytes !== undefined) {
        let body = '';
        answer.on('data', (d: Buffer) => (body += d.toString()));
        answer.on('end', () => {
          const rewritten = body.replaceAll(upstream, url);
          res.writeHead(answer.statusCode!, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(rewritten),
          });
          res.end(rewritten);
        });
        return;
      }
      res.writeHead(answer.statusCode!, answer.headers);
      if (req.url!.startsWith('/blobs/') && options.limitBlobBytes !== undefined) {
        let sent = 0;
        answer.on('data', (d: Buffer) => {
          const room = options.limitBlobBytes! - sent;
          if (room > 0) res.write(d.subarray(0, room));
          sent += d.length;
        });
        // A blob within the limit completes; a longer one never ends: the client stalls mid-body.
        answer.on('end', () => {
          if (sent <= options.limitBlobBytes!) res.end();
        });
        return;
      }
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    down: () => {
      down = true;
      for (const s of sockets) s.destroy();
    },
    up: () => {
      down = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** `modelgate sync …` as a running process whose JSON log lines are collected as they come. */
function startSync(args: string[], env: Record<string, string>, cwd: string) {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'sync', ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
  const events: SyncEvent[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as SyncEvent);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  /** The first event at or after index `from` that matches. */
  const next = (from: number, match: (e: SyncEvent) => boolean, what: string, timeoutMs = 20_000) =>
    eventually(() => events.slice(from).find(match), { what: `${what} (stderr: ${stderr})`, timeoutMs });
  return { child, events, exited, next, stderr: () => stderr };
}

const HOLD_LOCK = join(import.meta.dirname, '..', 'fixtures', 'hold-lock.ts');

const installed = (dest: string) =>
  (JSON.parse(readFileSync(join(dest, '.modelgate.json'), 'utf8')) as { version: string }).version;

describe('fetch reuses what the node holds and resumes; sync follows an alias', () => {
  const fixture = useServer();
  const run = (...args: string[]) => fixture.run(...args);
  const sizes: Record<string, number> = {};

  beforeAll(async () => {
    const big = buildMlpModel({ layers: 2, dim: 256, seed: 1 });
    const versions: Record<string, Record<string, Buffer>> = {
      '1': { 'big.onnx': big, 'small.onnx': buildMlpModel({ layers: 1, dim: 8, seed: 2 }) },
      '2': { 'big.onnx': big, 'small.onnx': buildMlpModel({ layers: 1, dim: 8, seed: 3 }) },
      '3': { 'large.onnx': modelOfSize(12 * 1024 * 1024, { seed: 4 }) },
    };
    for (const [v, files] of Object.entries(versions)) {
      const dir = join(fixture.work, `bundle-${v}`);
      mkdirSync(join(dir, 'dict'), { recursive: true });
      writeFileSync(join(dir, 'dict', 'keys.txt'), 'a\nb\nc\n');
      for (const [name, bytes] of Object.entries(files)) {
        writeFileSync(join(dir, name), bytes);
        sizes[`${v}/${name}`] = bytes.length;
      }
      const published = await run('publish', `ocr@${v}`, dir, '--wait');
      expect(published.code, published.stderr).toBe(0);
    }
  }, 240_000);

  it("fetching a version that changed one small file downloads only that file's bytes", async () => {
    const dest = join(fixture.work, 'reuse', 'paddle');
    const first = JSON.parse((await run('fetch', 'ocr@1', '--dest', dest, '--json')).stdout);
    expect(first).toMatchObject({ filesReused: 0, bytesDownloaded: first.bytes });
    const second = await run('fetch', 'ocr@2', '--dest', dest, '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      bytesDownloaded: sizes['2/small.onnx'],
      filesReused: 2,
      bytesReused: sizes['2/big.onnx']! + 6,
    });
    expect((await run('verify', dest)).code).toBe(0);
    // Back to the kept previous version: every byte is already on the node.
    const back = JSON.parse((await run('fetch', 'ocr@1', '--dest', dest, '--json')).stdout);
    expect(back).toMatchObject({ bytesDownloaded: 0, filesReused: 3 });
  });

  it('a fetch killed mid-download resumes from the bytes it had written', async () => {
    const dest = join(fixture.work, 'resume', 'paddle');
    const limit = 5 * 1024 * 1024;
    const proxy = await proxyTo(fixture.server.url, { limitBlobBytes: limit });
    try {
      const child = spawn(process.execPath, [CLI, 'fetch', 'ocr@3', '--dest', dest], {
        env: { ...process.env, MODELGATE_REGISTRY: proxy.url },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const partials = join(dest, '..', '.paddle.modelgate', '.partial');
      // The large file's partial download (the version's other file is a few bytes).
      const partial = await eventually(
        () => readdirSync(partials).find((name) => statSync(join(partials, name)).size >= 4 * 1024 * 1024),
        { what: `the stalled download to have written 4 MiB (fetch said: ${stderr})`, timeoutMs: 30_000 },
      );
      child.kill('SIGKILL');
      await exited;
      const kept = statSync(join(partials, partial)).size;

      const resumed = await run('fetch', 'ocr@3', '--dest', dest, '--json');
      expect(resumed.code, resumed.stderr).toBe(0);
      const summary = JSON.parse(resumed.stdout);
      expect(summary.bytesResumed).toBeGreaterThanOrEqual(kept);
      expect(summary.bytesResumed).toBeLessThanOrEqual(kept + 6);
      expect(summary.bytesDownloaded).toBe(summary.bytes - summary.bytesResumed);
      expect((await run('verify', dest)).code).toBe(0);
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('sync follows alias moves within two intervals, keeps its folder while the provider is disabled or the registry is down, and stops on SIGTERM', async () => {
    const dest = join(fixture.work, 'synced', 'paddle');
    expect((await run('alias', 'set', 'ocr', 'production', '1')).code).toBe(0);
    const proxy = await proxyTo(fixture.server.url);
    const sync = startSync(
      ['ocr@production', '--dest', dest, '--interval', '1s', '--node', 'node-a'],
      { MODELGATE_REGISTRY: proxy.url },
      fixture.work,
    );
    try {
      await sync.next(0, (e) => e.event === 'switched' && e.to === '1', 'the first install');

      // An alias move is picked up within two intervals, reusing the unchanged files.
      let mark = sync.events.length;
      expect((await run('alias', 'set', 'ocr', 'production', '2')).code).toBe(0);
      // The alias has moved by the time the command returns (its own start-up is not the agent's delay).
      const moved = Date.now();
      const fetching = await sync.next(mark, (e) => e.event === 'fetching' && e.to === '2', 'the move to 2');
      expect(Date.parse(fetching.time) - moved).toBeLessThan(2000);
      const switched = await sync.next(
        mark,
        (e) => e.event === 'switched' && e.to === '2',
        'the switch to 2',
      );
      expect(switched).toMatchObject({ from: '1', bytesDownloaded: sizes['2/small.onnx'], filesReused: 2 });
      expect(installed(dest)).toBe('2');

      // A disabled provider: the agent keeps what it has.
      mark = sync.events.length;
      expect((await run('provider', 'disable', 'default', '--reason', 'incident')).code).toBe(0);
      expect((await run('alias', 'set', 'ocr', 'production', '1')).code).toBe(0);
      const kept = await sync.next(mark, (e) => e.event === 'kept', 'the disabled provider');
      expect(kept).toMatchObject({ reason: 'provider-disabled', version: '2' });
      const link = readlinkSync(dest);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(readlinkSync(dest)).toBe(link);
      expect(sync.events.slice(mark).filter((e) => e.event === 'kept')).toHaveLength(1); // logged once
      mark = sync.events.length;
      expect((await run('provider', 'enable', 'default')).code).toBe(0);
      await sync.next(mark, (e) => e.event === 'switched' && e.to === '1', 'the switch back to 1');

      // The registry is unreachable: back off, never touch DEST.
      mark = sync.events.length;
      proxy.down();
      expect((await run('alias', 'set', 'ocr', 'production', '2')).code).toBe(0);
      const before = readlinkSync(dest);
      const second = await sync.next(
        mark,
        (e) => e.event === 'registry-unreachable' && e.failures === 2,
        'two unreachable polls',
      );
      const first = sync.events.slice(mark).find((e) => e.event === 'registry-unreachable')!;
      expect(first).toMatchObject({ kept: '1', failures: 1, nextPollMs: 2000 });
      expect(second).toMatchObject({ kept: '1', nextPollMs: 4000 });
      expect(readlinkSync(dest)).toBe(before);
      expect(installed(dest)).toBe('1');
      mark = sync.events.length;
      proxy.up();
      await sync.next(mark, (e) => e.event === 'registry-reachable', 'the registry back', 30_000);
      await sync.next(
        mark,
        (e) => e.event === 'switched' && e.to === '2',
        'the switch to 2 after the outage',
      );

      sync.child.kill('SIGTERM');
      expect(await sync.exited).toBe(0);
      expect(sync.events.at(-1)).toMatchObject({ event: 'stopped', reason: 'signal' });
    } finally {
      sync.child.kill('SIGKILL');
      await proxy.close();
    }
  }, 120_000);

  it('SIGTERM in the middle of a download stops sync at once; the next start resumes those bytes', async () => {
    const dest = join(fixture.work, 'stopped', 'paddle');
    expect((await run('alias', 'set', 'ocr', 'big', '3')).code).toBe(0);
    const proxy = await proxyTo(fixture.server.url, { limitBlobBytes: 5 * 1024 * 1024 });
    const sync = startSync(
      ['ocr@big', '--dest', dest, '--interval', '1s'],
      { MODELGATE_REGISTRY: proxy.url },
      fixture.work,
    );
    try {
      await sync.next(0, (e) => e.event === 'fetching', 'the download to start');
      const partials = join(dest, '..', '.paddle.modelgate', '.partial');
      await eventually(
        () => readdirSync(partials).some((name) => statSync(join(partials, name)).size >= 4 * 1024 * 1024),
        { what: 'the stalled download to have written 4 MiB', timeoutMs: 30_000 },
      );
      const stopping = Date.now();
      sync.child.kill('SIGTERM');
      expect(await sync.exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(5000);
      expect(sync.events.at(-1)).toMatchObject({ event: 'stopped', reason: 'signal' });
      expect(() => readlinkSync(dest)).toThrow(); // nothing was installed
    } finally {
      sync.child.kill('SIGKILL');
      await proxy.close();
    }
    const again = await run('sync', 'ocr@big', '--dest', dest, '--once');
    expect(again.code, again.stderr).toBe(0);
    const switched = again.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as SyncEvent)
      .find((e) => e.event === 'switched')!;
    expect(switched.bytesResumed).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(installed(dest)).toBe('3');
  }, 120_000);

  it('SIGTERM while another fetch holds DEST stops sync at once, leaving DEST as it was', async () => {
    const dest = join(fixture.work, 'waiting', 'paddle');
    expect((await run('fetch', 'ocr@1', '--dest', dest)).code).toBe(0);
    const before = realpathSync(dest);
    // Another fetch into DEST, as far as the lock goes: a process that holds the store's lock.
    const holder = spawn(
      process.execPath,
      ['--import', 'tsx', HOLD_LOCK, join(dest, '..', '.paddle.modelgate', '.lock'), '60000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      expect((await run('alias', 'set', 'ocr', 'waiting', '2')).code).toBe(0);
      const sync = startSync(
        ['ocr@waiting', '--dest', dest, '--interval', '1s'],
        fixture.server.env,
        fixture.work,
      );
      try {
        await sync.next(0, (e) => e.event === 'fetching', 'sync to start fetching');
        await new Promise((resolve) => setTimeout(resolve, 500)); // it waits for the lock
        const stopping = Date.now();
        sync.child.kill('SIGTERM');
        expect(await sync.exited).toBe(0);
        expect(Date.now() - stopping).toBeLessThan(5000);
        expect(sync.events.at(-1)).toMatchObject({ event: 'stopped', reason: 'signal' });
        expect(realpathSync(dest)).toBe(before);
      } finally {
        sync.child.kill('SIGKILL');
      }
    } finally {
      holder.kill('SIGKILL');
    }
  }, 60_000);

  it('sync refuses a version that fails its local load check and keeps the old folder', async () => {
    const dest = join(fixture.work, 'canary', 'paddle');
    expect((await run('alias', 'set', 'ocr', 'canary', '1')).code).toBe(0);
    const once = (...extra: string[]) =>
      run('sync', 'ocr@canary', '--dest', dest, '--once', '--node', 'n1', ...extra);
    expect((await once()).code).toBe(0);
    expect((await run('alias', 'set', 'ocr', 'canary', '2')).code).toBe(0);
    const link = readlinkSync(dest);

    const refused = await once('--load-check', '--load-budget', '1MiB', '--report');
    expect(refused.code, refused.stderr).toBe(7);
    const events = refused.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as SyncEvent);
    expect(events.find((e) => e.event === 'load-check-failed')).toMatchObject({
      kept: '1',
      refused: '2',
      code: 'INSUFFICIENT_MEMORY',
    });
    expect(readlinkSync(dest)).toBe(link);
    expect(installed(dest)).toBe('1');
    expect(
      readdirSync(join(dest, '..', '.paddle.modelgate')).filter((e) => e.startsWith('.staging-')),
    ).toEqual([]);

    const loaded = await once('--load-check');
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stdout).toContain('"event":"switched"');
    expect(installed(dest)).toBe('2');
  }, 120_000);

  it('sync honours a provider ramp: a node the ramp does not admit yet keeps what it has', async () => {
    const admitted = ['n-0', 'n-1', 'n-2', 'n-3', 'n-4', 'n-5', 'n-6', 'n-7', 'n-8', 'n-9'].filter((n) =>
      admitsNode(50, n),
    );
    const refusedNode = ['n-0', 'n-1', 'n-2', 'n-3', 'n-4', 'n-5', 'n-6', 'n-7', 'n-8', 'n-9'].find(
      (n) => !admitsNode(50, n),
    )!;
    expect(admitted.length).toBeGreaterThan(0);
    expect((await run('alias', 'set', 'ocr', 'ramped', '1')).code).toBe(0);
    expect((await run('provider', 'disable', 'default', '--reason', 'ramp test')).code).toBe(0);
    expect((await run('provider', 'enable', 'default', '--ramp', '50,100', '--step', '1h')).code).toBe(0);
    try {
      const out = join(fixture.work, 'ramp-out', 'paddle');
      const notYet = await cli(
        ['sync', 'ocr@ramped', '--dest', out, '--once', '--node', refusedNode],
        fixture.server.env,
        fixture.work,
      );
      expect(notYet.code).toBe(4);
      expect(notYet.stdout).toContain('"event":"kept"');
      const inRamp = await cli(
        [
          'sync',
          'ocr@ramped',
          '--dest',
          join(fixture.work, 'ramp-in', 'paddle'),
          '--once',
          '--node',
          admitted[0]!,
        ],
        fixture.server.env,
        fixture.work,
      );
      expect(inRamp.code, inRamp.stderr).toBe(0);
      expect(inRamp.stdout).toContain('"event":"switched"');
    } finally {
      expect((await run('provider', 'enable', 'default')).code).toBe(0);
    }
  });
});
