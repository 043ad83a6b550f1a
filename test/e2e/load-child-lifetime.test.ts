import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DataType } from '../fixtures/onnx-proto.js';
import { encodeModel, valueInfo } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { cli, type ServerHandle } from './harness.js';
import { useServers } from './use-server.js';

/** The pid's parent and state from /proc/PID/stat, or null when it is gone. */
function procStat(pid: number): { ppid: number; state: string } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

/** Dead: gone, or a zombie waiting for a reaper (it runs nothing). */
const isDead = (pid: number) => {
  const s = procStat(pid);
  return s === null || s.state === 'Z' || s.state === 'X';
};

/** The pid of the server's running model-load child (not the baseline one), once there is one. */
async function loadChildOf(serverPid: number, withinMs: number): Promise<number> {
  const find = () => {
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || procStat(pid)?.ppid !== serverPid) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.includes('load-child') && cmdline.includes('"kind":"load"')) return pid;
    }
    return undefined;
  };
  return eventually(find, { what: `a load child of ${serverPid}`, timeoutMs: withinMs });
}

/** How long `pid` took to die, in ms (at most about `withinMs`: the caller asserts on the figure). */
async function waitDead(pid: number, withinMs: number): Promise<number> {
  const started = Date.now();
  await eventually(() => isDead(pid), { what: `pid ${pid} to die`, timeoutMs: withinMs }).catch(
    () => undefined,
  );
  return Date.now() - started;
}

/**
 * A model whose session creation blocks the child's main thread for seconds (measured here: 60 000
 * chained nodes, about 11 s): no 'disconnect' event can run then, only the child's parent watch.
 */
function blockingLoadModel(nodes = 60_000): Buffer {
  const chain = Array.from({ length: nodes }, (_, i) => ({
    opType: i % 2 ? 'Relu' : 'Neg',
    input: [i === 0 ? 'input' : `h${i - 1}`],
    output: [i === nodes - 1 ? 'output' : `h${i}`],
  }));
  return encodeModel({
    nodes: chain,
    initializers: [],
    inputs: [valueInfo('input', DataType.FLOAT, [1, 4])],
    outputs: [valueInfo('output', DataType.FLOAT, [1, 4])],
  });
}

describe('load children die with their server', () => {
  const servers = useServers();

  async function serverValidatingSlowModel(): Promise<{ server: ServerHandle; child: number }> {
    const server = await servers.start();
    const work = servers.tempDir();
    writeFileSync(join(work, 'slow.onnx'), blockingLoadModel());
    const published = await cli(['publish', 'slow@1', 'slow.onnx'], server.env, work);
    expect(published.code, published.stderr).toBe(0);
    const child = await loadChildOf(server.process.pid!, 30_000);
    return { server, child };
  }

  it('kill -9 of the server: the orphaned load child ends itself', async () => {
    const { server, child } = await serverValidatingSlowModel();
    await sleep(2000); // past the runtime import, inside the blocking session creation
    expect(isDead(child)).toBe(false);
    await server.kill9();
    const ms = await waitDead(child, 3000);
    expect(isDead(child), `load child ${child} still running ${ms} ms after the server died`).toBe(true);
  });

  it('SIGTERM of the server: the load child is killed at once and the server exits promptly', async () => {
    const { server, child } = await serverValidatingSlowModel();
    await sleep(2000);
    expect(isDead(child)).toBe(false);
    const started = Date.now();
    await server.stop(); // SIGTERM, then waits for the exit
    const exitMs = Date.now() - started;
    expect(isDead(child)).toBe(true);
    // Without the kill the server would wait for the whole load (about 10 s more) before exiting.
    expect(exitMs).toBeLessThan(3000);
  });
});
