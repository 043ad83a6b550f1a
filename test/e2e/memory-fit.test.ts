import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { useServer } from './use-server.js';

const GiB = 1024 ** 3;
const NODE_CLASSES = [
  { name: 'tiny', memoryBytes: 64 * 1024 * 1024 },
  { name: 'cpu-small', memoryBytes: 2 * GiB },
  {
    name: 'gpu-a10g',
    memoryBytes: 16 * GiB,
    gpuMemoryBytes: 24 * GiB,
    executionProviders: ['cuda', 'cpu'],
  },
];

describe('node classes and fetch --free-memory', () => {
  const fixture = useServer((work) => {
    writeFileSync(join(work, 'classes.json'), JSON.stringify(NODE_CLASSES));
    return { args: ['--node-classes', join(work, 'classes.json'), '--memory-budget', '2GiB'] };
  });
  const { run } = fixture;

  beforeAll(async () => {
    writeFileSync(join(fixture.work, 'm.onnx'), buildMlpModel({ layers: 2, dim: 128 }));
    expect((await run('publish', 'fit@1', 'm.onnx', '--wait')).code).toBe(0);
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
    const dest = join(fixture.work, 'dest');
    const r = await run('fetch', 'fit@1', '--dest', dest, '--free-memory', '10MiB');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^error INSUFFICIENT_MEMORY: /);
    expect(existsSync(dest)).toBe(false);
    expect((await run('fetch', 'fit@1', '--dest', dest, '--free-memory', 'auto')).code).toBe(0);
    expect(existsSync(join(dest, 'm.onnx'))).toBe(true);
  });
});
