/**
 * The GPU path, once (bench/gpu-check.sh runs it on a machine with an NVIDIA GPU): validates a generated
 * ~64 MB model with the execution providers `cuda,cpu` and prints what the report says ran, the node
 * placement from the runtime's profiler, the GPU bytes nvidia-smi attributed to the loader child, and
 * the peak RSS. Exits 1 if the version did not pass or CUDA ran no node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateFiles } from '../../gpu-validator/engine.js';
import { hashFile } from '../../gpu-validator/file-integrity.js';
import { writeLargeModel } from '../../test/fixtures/onnx-writer.js';

const dir = await mkdtemp(join(tmpdir(), 'modelgate-gpu-check-'));
try {
  const localPath = join(dir, 'model.onnx');
  writeLargeModel(localPath, 64 * 1024 * 1024);
  const { sha256, md5, size } = await hashFile(localPath);
  const report = await validateFiles({
    files: [{ path: 'model.onnx', size, sha256, md5, format: 'onnx', localPath }],
    dir,
    inputShapes: { input: [64, 256] },
    memoryBudgetBytes: 16 * 1024 ** 3,
    timeoutMs: 300_000,
    executionProviders: ['cuda', 'cpu'],
    worker: 'gpu-check',
    attempt: 1,
  });
  const [file] = report.files;
  const summary = {
    outcome: report.outcome,
    error: report.error,
    executionProvider: report.executionProvider,
    executionProviderNodes: file?.executionProviderNodes,
    executionProviderFallback: file?.executionProviderFallback,
    gpuBytes: file?.gpuBytes,
    peakRssBytes: file?.peakRssBytes,
    baselineRssBytes: file?.baselineRssBytes,
    loadMs: file?.loadMs,
    inferenceMs: file?.inferenceMs,
    runtime: report.runtime,
  };
  console.log(JSON.stringify(summary, null, 2));
  if (report.outcome !== 'passed' || report.executionProvider !== 'cuda') process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
