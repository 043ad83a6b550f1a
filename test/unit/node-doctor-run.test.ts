import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installedMetadata } from '../../cli/files/metadata.js';
import { runDoctor } from '../../cli/node/doctor.js';
import type { NodeProbes } from '../../cli/node/node-probes.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import { aFileReport, aReport, aVersion } from '../helpers/builders.js';

/**
 * runDoctor on a real folder with the node's facts given as probe answers: the cases this machine cannot
 * be (a CUDA node without a GPU, a runtime without the provider, a full disk, an older runtime) run here.
 */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doctor-run-'));
  await chmod(dir, 0o755); // mkdtemp makes 0700, which doctor rightly reports
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BYTES = Buffer.from('not really a model, only its bytes are checked here');
const sha256 = createHash('sha256').update(BYTES).digest('hex');
const md5 = createHash('md5').update(BYTES).digest('hex');

async function installed(report: ValidationReport): Promise<void> {
  const file = { path: 'det.onnx', size: BYTES.length, sha256, md5, format: 'onnx' as const };
  await writeFile(join(dir, 'det.onnx'), BYTES, { mode: 0o644 });
  const metadata = installedMetadata(
    aVersion({ model: 'det', version: '3', files: [file], report }),
    [file],
    new Date(),
  );
  await writeFile(join(dir, '.modelgate.json'), JSON.stringify(metadata), { mode: 0o644 });
}

const healthy: NodeProbes = {
  memAvailable: async () => 64 * 1024 ** 3,
  diskFree: async () => 500 * 1024 ** 3,
  gpu: async () => ({ nvidiaSmi: 'ok', driverLoaded: true }),
  runtime: async () => ({ version: '1.30.0', providers: ['cpu', 'cuda'] }),
};

const cudaReport = aReport({
  runtime: { name: 'onnxruntime-node', version: '1.30.0' },
  executionProvider: 'cuda',
  files: [
    aFileReport({
      path: 'det.onnx',
      peakRssBytes: 2 * 1024 ** 3,
      inspection: {
        irVersion: 8,
        opsetImports: [{ domain: '', version: 17 }],
        producerName: 'p',
        producerVersion: '1',
        fileSize: BYTES.length,
      },
    }),
  ],
});

describe('runDoctor on probe facts', () => {
  it('is all clear for a CUDA version on a node with a GPU, the runtime and the provider', async () => {
    await installed(cudaReport);
    const result = await runDoctor({ dir, probes: healthy });
    expect(result.findings).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.checks.find((c) => c.name === 'gpu')).toMatchObject({ status: 'ok' });
  });

  it('finds GPU_UNAVAILABLE and DEPENDENCY_MISSING on a CPU-only node (exit 7)', async () => {
    await installed(cudaReport);
    const result = await runDoctor({
      dir,
      probes: {
        ...healthy,
        gpu: async () => ({ nvidiaSmi: 'absent', driverLoaded: false }),
        runtime: async () => ({ version: '1.30.0', providers: ['cpu'] }),
      },
    });
    expect(result.findings.map((f) => f.code)).toEqual(['GPU_UNAVAILABLE', 'DEPENDENCY_MISSING']);
    expect(result.exitCode).toBe(7);
    expect(result.findings[0]!.fix).toContain('nvidia-smi');
  });

  it('finds INSUFFICIENT_DISK when the file system cannot hold the next version (exit 7)', async () => {
    await installed(cudaReport);
    const result = await runDoctor({ dir, probes: { ...healthy, diskFree: async () => 10 } });
    expect(result.findings).toEqual([expect.objectContaining({ code: 'INSUFFICIENT_DISK' })]);
    expect(result.exitCode).toBe(7);
  });

  it('finds UNSUPPORTED_MODEL when the model needs a newer opset than this runtime has (exit 7)', async () => {
    const tooNew = aReport({
      ...cudaReport,
      executionProvider: 'cpu',
      files: [
        aFileReport({
          path: 'det.onnx',
          inspection: {
            irVersion: 8,
            opsetImports: [{ domain: '', version: 99 }],
            producerName: 'p',
            producerVersion: '1',
            fileSize: BYTES.length,
          },
        }),
      ],
    });
    await installed(tooNew);
    const result = await runDoctor({ dir, probes: healthy });
    expect(result.findings).toEqual([
      expect.objectContaining({
        code: 'UNSUPPORTED_MODEL',
        file: 'det.onnx',
        message: 'det.onnx: ai.onnx opset 99 is newer than onnxruntime-node 1.30.0 supports (at most 26)',
      }),
    ]);
  });

  it('reports a missing runtime as DEPENDENCY_MISSING with the probe’s error', async () => {
    await installed({ ...cudaReport, executionProvider: 'cpu' });
    const result = await runDoctor({
      dir,
      probes: {
        ...healthy,
        runtime: async () => ({
          providers: [],
          error: 'libonnxruntime.so.1: cannot open shared object file',
        }),
      },
    });
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]!.code).toBe('DEPENDENCY_MISSING');
    expect(result.findings[0]!.message).toContain('libonnxruntime.so.1: cannot open shared object file');
  });

  it('judges memory with the given free memory: the profiled 2 GiB peak × 1.5 needs 3 GiB', async () => {
    await installed({ ...cudaReport, executionProvider: 'cpu' });
    expect((await runDoctor({ dir, probes: healthy, freeMemoryBytes: 3 * 1024 ** 3 })).exitCode).toBe(0);
    const short = await runDoctor({ dir, probes: healthy, freeMemoryBytes: 3 * 1024 ** 3 - 1 });
    expect(short.exitCode).toBe(5);
    expect(short.findings.map((f) => f.code)).toEqual(['INSUFFICIENT_MEMORY']);
  });
});
