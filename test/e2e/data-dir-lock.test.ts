import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { CLI, cli, type ServerHandle } from './harness.js';
import { useServers } from './use-server.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** Every file below `dir` (folders included), as paths relative to it. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    return e.isDirectory() ? [rel, ...walk(join(dir, e.name), rel)] : [rel];
  });
}

describe('the data folder', () => {
  const servers = useServers();
  const server = (dataDir?: string): Promise<ServerHandle> => servers.start(dataDir ? { dataDir } : {});

  it('is 0700 with files 0600 even under umask 000', async () => {
    const work = servers.tempDir();
    const previous = process.umask(0); // inherited by the server process
    let s: ServerHandle;
    try {
      s = await server(join(work, 'data'));
    } finally {
      process.umask(previous);
    }
    writeFileSync(join(work, 'm.onnx'), buildMlpModel({ layers: 1, dim: 4 }));
    const published = await cli(['publish', 'perm@1', join(work, 'm.onnx'), '--wait'], s.env, work);
    expect(published.code, published.stderr).toBe(0);

    expect(modeOf(s.dataDir)).toBe(0o700);
    const entries = walk(s.dataDir);
    for (const name of ['registry.db', 'registry.db-wal', 'registry.db-shm', 'signing.key', 'server.lock'])
      expect(entries).toContain(name);
    expect(entries.some((e) => e.startsWith('blobs/sha256/'))).toBe(true);
    for (const entry of entries) {
      const path = join(s.dataDir, entry);
      const expected = statSync(path).isDirectory() ? 0o700 : 0o600;
      expect([entry, modeOf(path)]).toEqual([entry, expected]);
    }
  });

  it('starts again at once after kill -9, without waiting for the dead server to be reaped', async () => {
    const first = await server();
    first.process.kill('SIGKILL'); // not awaited: the old process may still be a zombie
    const second = await server(first.dataDir);
    expect((await fetch(`${second.url}/health`)).status).toBe(200);
  });

  it('starts while its killed predecessor stays a zombie that nobody reaps (as under a PID 1 that never waits)', async () => {
    const dataDir = servers.tempDir();
    // sh starts the server in the background, then becomes `sleep`, which never reaps it.
    const parent = spawn(
      'sh',
      [
        '-c',
        `"${process.execPath}" "${CLI}" serve --port 0 --data-dir "${dataDir}" 2>&1 & echo "pid $!"; exec sleep 120`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    servers.defer(() => {
      parent.kill('SIGKILL');
    });
    let out = '';
    await new Promise<void>((resolve) =>
      parent.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening on')) resolve();
      }),
    );
    const pid = Number(/pid (\d+)/.exec(out)![1]);
    process.kill(pid, 'SIGKILL');
    await eventually(() => readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z', {
      what: `pid ${pid} to be a zombie (dead, not reaped)`,
    });
    const second = await server(dataDir);
    expect((await fetch(`${second.url}/health`)).status).toBe(200);
  });

  it('starts over a pid file an earlier version left, even when that pid is alive (a reused pid)', async () => {
    const dataDir = servers.tempDir();
    writeFileSync(join(dataDir, 'server.lock'), String(process.pid)); // this test process: alive
    const s = await server(dataDir);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('refuses a second server on the same folder, naming it', async () => {
    const first = await server();
    const second = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', first.dataDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    second.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain(`another modelgate server is using ${first.dataDir}`);
    expect((await fetch(`${first.url}/health`)).status).toBe(200);
  });
});
