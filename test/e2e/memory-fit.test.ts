import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { cli, removeDir, type ServerHandle, startServer, tempDir } from './harness.js';

const GiB = 1024 ** 3;

describe('node classes and fetch --free-memory', () => {
  let server: ServerHandle;
  let work: string;
  const run = (...args: string[]) => cli(args, server.env, work);

  beforeAll(async () => {
    work = tempDir();
    const classes = [
      { name: 'tiny', memoryBytes: 64 * 1024 * 1024 },
      { name: 'cpu-small', memoryBytes: 2 * GiB },
      {
        name: 'gpu-a10g',
        memoryBytes: 16 * GiB,
        gpuMemoryBytes: 24 * GiB,
        executionProviders: ['cuda', 'cpu'],
      },
    ];
    writeFileSync(join(work, 'classes.json'), JSON.stringify(classes));
    server = await startServer({
      args: ['--node-classes', join(work, 'classes.json'), '--memory-budget', '2GiB'],
    });
    writeFileSync(join(work, 'm.onnx'), buildMlpModel({ layers: 2, dim: 128 }));
    expect((await run('publish', 'fit@1', 'm.onnx', '--wait')).code).toBe(0);
  });
  afterAll(async () => {
    await server?.stop();
    removeDir(work);
    removeDir(server?.dataDir);
  });

  it('says in the report which node classes the version fits', async () => {
    const v = JSON.parse((await run('status', 'fit@1', '--json')).stdout);
    const fits = Object.fromEntries(
      v.report.nodeClasses.map((c: { nodeClass: string; fits: boolean }) => [c.nodeClass, c.fits]),
    );
    expect(fits).toEqual({ tiny: false, 'cpu-small': true, 'gpu-a10g': true });
    expect(v.report.memoryBudgetBytes).toBe(2 * GiB);
  });

  it('refuses with exit 5 before downloading a byte when the node lacks memory', async () => {
    const dest = join(work, 'dest');
    const r = await run('fetch', 'fit@1', '--dest', dest, '--free-memory', '10MiB');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^error INSUFFICIENT_MEMORY: /);
    expect(existsSync(dest)).toBe(false);
    expect((await run('fetch', 'fit@1', '--dest', dest, '--free-memory', 'auto')).code).toBe(0);
    expect(existsSync(join(dest, 'm.onnx'))).toBe(true);
  });
});
