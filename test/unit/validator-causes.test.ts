import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ValidationInput, validateFiles } from '../../gpu-validator/engine.js';
import { isolatedLoad } from '../../gpu-validator/isolated-load.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import { DataType } from '../fixtures/onnx-proto.js';
import { buildMlpModel, encodeModel, valueInfo } from '../fixtures/onnx-writer.js';
import { engineInput, type FixtureFile, layOutVersion } from '../fixtures/version-files.js';

/**
 * The load failure causes that the engine tests do not already provoke: a hang during inference,
 * execution providers that are not installed (and one the runtime drops silently), an unreadable file.
 * Each from a real file or a real condition, through validateFiles and a real loader child.
 */

const GIB = 1024 ** 3;
const BOOL = 9;
const GRAPH_ATTRIBUTE = 5;
const ROOT = join(import.meta.dirname, '..', '..');

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'validator-causes-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function input(files: FixtureFile[], overrides: Partial<ValidationInput> = {}): ValidationInput {
  const dir = mkdtempSync(join(root, 'v-'));
  return engineInput(layOutVersion(dir, files), dir, overrides);
}

/**
 * A model that never finishes its inference: a Loop with 10^15 iterations of a Relu over the input. It
 * loads in milliseconds; only the time limit can stop its run.
 */
function buildEndlessLoopModel(): Buffer {
  const trips = Buffer.alloc(8);
  trips.writeBigInt64LE(10n ** 15n);
  const body = {
    name: 'body',
    node: [
      { opType: 'Identity', input: ['cond_in'], output: ['cond_out'] },
      { opType: 'Relu', input: ['x'], output: ['y'] },
    ],
    input: [
      valueInfo('i', DataType.INT64, []),
      valueInfo('cond_in', BOOL, []),
      valueInfo('x', DataType.FLOAT, ['N', 4]),
    ],
    output: [valueInfo('cond_out', BOOL, []), valueInfo('y', DataType.FLOAT, ['N', 4])],
  };
  return encodeModel({
    nodes: [
      {
        opType: 'Loop',
        input: ['trips', 'keep_going', 'input'],
        output: ['output'],
        attribute: [{ name: 'body', type: GRAPH_ATTRIBUTE, g: body }],
      },
    ],
    initializers: [
      { name: 'trips', dims: [], dataType: DataType.INT64, rawData: trips },
      { name: 'keep_going', dims: [], dataType: BOOL, rawData: Buffer.from([1]) },
    ],
    inputs: [valueInfo('input', DataType.FLOAT, ['N', 4])],
    outputs: [valueInfo('output', DataType.FLOAT, ['N', 4])],
  });
}

const small = () => buildMlpModel({ layers: 1, dim: 8 });

/** The CUDA provider library of onnxruntime-node: absent here (installed with ONNXRUNTIME_NODE_INSTALL=skip). */
const cudaInstalled = existsSync(
  join(
    dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    'linux',
    'x64',
    'libonnxruntime_providers_cuda.so',
  ),
);

describe('every cause, provoked', () => {
  it('a run that hangs past the time limit is killed: TIMEOUT, during the run', async () => {
    const started = performance.now();
    const report = await validateFiles(
      input([{ path: 'loop.onnx', bytes: buildEndlessLoopModel() }], { timeoutMs: 1500 }),
    );
    expect(report.error).toMatchObject({ code: 'TIMEOUT', file: 'loop.onnx' });
    expect(report.error?.message).toMatch(/longer than 1500 ms \(killed during run\)/);
    // It loaded (the run is what hung), and the kill came at the limit, not at some natural end.
    expect(report.files[0]?.peakRssBytes).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('a load cancelled by the engine (its file failed the integrity check meanwhile) is killed at once', async () => {
    const dir = mkdtempSync(join(root, 'abort-'));
    const [file] = layOutVersion(dir, [{ path: 'loop.onnx', bytes: buildEndlessLoopModel() }]);
    const started = performance.now();
    const result = await isolatedLoad({
      modelPath: file!.localPath,
      memoryBudgetBytes: 2 * GIB,
      timeoutMs: 60_000,
      signal: AbortSignal.timeout(1000),
    });
    expect(result).toMatchObject({ ok: false, message: 'the load was cancelled by the validator' });
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it.skipIf(cudaInstalled)(
    'requiring cuda where it is not installed: GPU_UNAVAILABLE, alone or before cpu',
    async () => {
      for (const executionProviders of [['cuda'], ['cuda', 'cpu']]) {
        const report = await validateFiles(
          input([{ path: 'm.onnx', bytes: small() }], { executionProviders }),
        );
        expect(report.error).toMatchObject({ code: 'GPU_UNAVAILABLE', file: 'm.onnx' });
        expect(report.error?.message).toMatch(/Cuda|CUDA/);
      }
    },
  );

  it('an execution provider the runtime does not know: DEPENDENCY_MISSING', async () => {
    const report = await validateFiles(
      input([{ path: 'm.onnx', bytes: small() }], { executionProviders: ['nosuch'] }),
    );
    expect(report.error).toMatchObject({ code: 'DEPENDENCY_MISSING' });
    expect(report.error?.message).toContain('nosuch');
  });

  it('records a provider the runtime dropped silently: nosuch,cpu runs on cpu and says so', async () => {
    const report = await validateFiles(
      input([{ path: 'm.onnx', bytes: small() }], { executionProviders: ['nosuch', 'cpu'] }),
    );
    expect(report.outcome).toBe('passed');
    expect(report.executionProvider).toBe('cpu');
    // One MatMul+Add (fused) and one Relu, both executed by the CPU provider per the runtime's profiler.
    expect(report.files[0]).toMatchObject({
      executionProvider: 'cpu',
      executionProviderFallback: 'nosuch → cpu',
    });
    expect(report.files[0]?.executionProviderNodes?.cpu).toBeGreaterThan(0);
    expect(Object.keys(report.files[0]?.executionProviderNodes ?? {})).toEqual(['cpu']);
  });

  it('an unreadable file: PERMISSION_DENIED, before any load', () => {
    const dir = mkdtempSync(join(root, 'perm-'));
    for (const d of [root, dir]) chmodSync(d, 0o755); // only the file itself is unreadable
    const [file] = layOutVersion(dir, [{ path: 'm.onnx', bytes: small() }]);
    chmodSync(file!.localPath, 0o000);
    // Root reads any file: validate as `nobody` then, in a process of its own, as an unprivileged worker would.
    const script = `import { validateFiles } from ${JSON.stringify(join(ROOT, 'gpu-validator', 'engine.ts'))};
      const report = await validateFiles(${JSON.stringify({ ...input([]), files: [file], dir })});
      console.log(JSON.stringify(report));`;
    const asRoot = process.getuid?.() === 0;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as ValidationReport;
    expect(report.error).toMatchObject({ code: 'PERMISSION_DENIED', file: 'm.onnx' });
    expect(report.files[0]?.loadMs).toBeUndefined();
  });
});
