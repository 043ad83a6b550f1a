/**
 * The validator as it runs in production, for bench/validate.ts: bundled by esbuild with the loader
 * child beside it and run by plain `node` (under tsx the loader alone adds ~38 MiB and its own start-up).
 * Usage:
 *   validate <manifest-file-json>   reads one line per round on stdin; for each, validates the file with
 *                                   validateFiles (hash, inspection, child, load, run) and prints a JSON
 *                                   line {ms, outcome, error, peakRssBytes, baselineRssBytes, loadMs}.
 *                                   One long-lived process, like a server's worker: the runtime baseline
 *                                   is measured on its first validation and cached.
 *   inspect <path>                  inspects the file once and prints {ms, bytesRead, fileSize, vmHwmBytes}
 *                                   (its own VmHWM: the inspecting process's peak).
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { validateFiles } from '../../gpu-validator/engine.js';
import { inspectOnnx } from '../../gpu-validator/onnx-inspect.js';
import type { ManifestFile } from '../../schemas/version.schema.js';

function vmHwmBytes(): number {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmHWM in /proc/self/status');
  return Number(match[1]) * 1024;
}

async function validateOnce(file: ManifestFile & { localPath: string }): Promise<Record<string, unknown>> {
  const started = performance.now();
  const report = await validateFiles({
    files: [file],
    dir: dirname(file.localPath),
    inputShapes: {},
    memoryBudgetBytes: 16 * 1024 ** 3,
    timeoutMs: 600_000,
    worker: 'bench',
    attempt: 1,
  });
  const ms = performance.now() - started;
  const [result] = report.files;
  return {
    ms,
    outcome: report.outcome,
    error: report.error?.message,
    peakRssBytes: result?.peakRssBytes,
    baselineRssBytes: result?.baselineRssBytes,
    loadMs: result?.loadMs,
  };
}

async function validateRounds(manifestJson: string): Promise<void> {
  const file = JSON.parse(manifestJson) as ManifestFile & { localPath: string };
  for await (const _line of createInterface({ input: process.stdin })) {
    console.log(JSON.stringify(await validateOnce(file)));
  }
}

function inspectOnce(path: string): void {
  const started = performance.now();
  const inspection = inspectOnnx(path);
  const ms = performance.now() - started;
  console.log(
    JSON.stringify({
      ms,
      bytesRead: inspection.bytesRead,
      fileSize: inspection.fileSize,
      vmHwmBytes: vmHwmBytes(),
    }),
  );
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'validate' && arg) await validateRounds(arg);
else if (mode === 'inspect' && arg) inspectOnce(arg);
else {
  console.error('usage: validate-driver validate MANIFEST_JSON | inspect PATH');
  process.exitCode = 2;
}
