import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFiles } from '../../gpu-validator/engine.js';
import { type FileReport, ValidationReport } from '../../schemas/report.schema.js';
import { engineInput, manifestEntry } from '../fixtures/version-files.js';

/**
 * The smoke-run cases of test/fixtures/cases (copied from the shared case folder, each with the outcome
 * its README table gives): real models that bare onnxruntime-node runs, which synthesized inputs used to
 * reject. Each is validated by the real engine: a real child process, real onnxruntime-node.
 */

const CASES = join(import.meta.dirname, '../fixtures/cases');

async function validateCase(name: string) {
  const dir = join(CASES, name, 'version');
  const localPath = join(dir, 'model.onnx');
  const file = { ...manifestEntry('model.onnx', readFileSync(localPath), 'onnx'), localPath };
  const report = await validateFiles(engineInput([file], dir));
  expect(ValidationReport.parse(report)).toEqual(report);
  return { report, file: report.files[0] as FileReport };
}

describe('smoke runs that tell the truth (shared cases)', () => {
  it('dyn-conv-1x1-image: a CNN that cannot run 1×1 is VERIFIED by a probe of larger dims, and the report shows the shape', async () => {
    const { report, file } = await validateCase('dyn-conv-1x1-image');
    expect(report.outcome).toBe('passed');
    expect(file.smokeRun).toBe('ran');
    const x = file.fedInputs?.find((f) => f.name === 'x');
    expect(x?.source).toBe('probe');
    expect(x?.shape[2]).toBeGreaterThanOrEqual(4);
    expect(file.inputShapes?.x).toEqual(x?.shape);
    // The 1×1 run failed first and is on record with the runtime's own error.
    expect(file.probes?.[0]?.inputs[0]?.shape).toEqual([1, 3, 1, 1]);
    expect(file.probes?.[0]?.error).toMatch(/\S/);
  });

  it('dyn-reshape-needs-even: x[n] reshaped to [2,-1] is VERIFIED at an even n', async () => {
    const { report, file } = await validateCase('dyn-reshape-needs-even');
    expect(report.outcome).toBe('passed');
    const n = file.fedInputs?.[0]?.shape[0] ?? 1;
    expect(n % 2).toBe(0);
    expect(file.probes?.length).toBeGreaterThan(0);
  });

  it('optional-input: an optional(tensor(float)) input is fed a float tensor and the model is VERIFIED', async () => {
    const { report, file } = await validateCase('optional-input');
    expect(report.outcome).toBe('passed');
    expect(file.fedInputs?.find((f) => f.name === 'maybe')).toMatchObject({ type: 'float32', shape: [1, 4] });
  });

  it('sequence-input: the smoke run is skipped with a note naming the runtime limit; the load is proven (VERIFIED)', async () => {
    const { report, file } = await validateCase('sequence-input');
    expect(report.outcome).toBe('passed');
    expect(report.loadTested ?? true).toBe(true);
    expect(file.smokeRun).toBe('skipped');
    expect(file.loadMs).toBeGreaterThan(0);
    expect(file.notes?.join(' ')).toMatch(/"parts" is a sequence; onnxruntime-node can feed tensors only/);
    expect(file.notes?.join(' ')).toMatch(/re-export/);
    expect(file.error).toBeUndefined();
  });

  it('zipmap-sequence-output: only the tensor output is fetched and the model is VERIFIED', async () => {
    const { report, file } = await validateCase('zipmap-sequence-output');
    expect(report.outcome).toBe('passed');
    expect(file.smokeRun).toBe('ran');
    expect(file.outputs.map((o) => o.name)).toEqual(['label', 'probs']);
  });

  it('masked-logprobs-inf: -inf from a masked log-softmax on synthesized inputs is a note, not a failure', async () => {
    const { report, file } = await validateCase('masked-logprobs-inf');
    expect(report.outcome).toBe('passed');
    expect(file.notes?.[0]).toMatch(/output "y" has \d+ of \d+ values NaN or infinite on synthesized inputs/);
    expect(file.fedInputs?.find((f) => f.name === 'mask')?.value).toBe('alternating true, false');
  });
});
