import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildNanModel, modelOfSize } from '../fixtures/onnx-writer.js';
import { useServer } from './use-server.js';

const MIB = 1024 * 1024;

/** Versions that must not be VERIFIED, through the real CLI (`publish --wait` exits 3) and a real server. */
describe('validation failures through the CLI', () => {
  const fixture = useServer();
  const { run } = fixture;

  it('fails a model over its memory budget as INSUFFICIENT_MEMORY, with the peak seen', async () => {
    // 80 MB of weights on top of the runtime's ~60 MiB: over 96 MiB while it loads (the runtime alone is
    // well under it, so this is the model's size, not a budget below the runtime's own footprint).
    writeFileSync(join(fixture.work, 'big.onnx'), modelOfSize(80e6));
    const published = await run('publish', 'big@1', 'big.onnx', '--memory-budget', '96MiB', '--wait');
    expect(published.code).toBe(3);
    expect(published.stderr).toMatch(
      /error INSUFFICIENT_MEMORY: resident memory reached [\d.]+ MiB during (load|run), over the budget of 96\.0 MiB/,
    );
    const v = JSON.parse((await run('status', 'big@1', '--json')).stdout);
    expect(v.status).toBe('FAILED');
    expect(v.report.memoryBudgetBytes).toBe(96 * MIB);
    expect(v.report.files[0].peakRssBytes).toBeGreaterThan(96 * MIB);
  });

  it("fails a model whose inference on the publisher's inputs produces NaN as INFERENCE_FAILED", async () => {
    writeFileSync(join(fixture.work, 'nan.onnx'), buildNanModel());
    // On synthesized inputs NaN is only a note: made-up values need not be in the model's domain.
    const synthesized = await run('publish', 'nan@0', 'nan.onnx', '--wait');
    expect(synthesized.code, synthesized.stderr).toBe(0);
    const noted = JSON.parse((await run('status', 'nan@0', '--json')).stdout);
    expect(noted.report.files[0].notes[0]).toMatch(/NaN or infinite on synthesized inputs/);
    const published = await run('publish', 'nan@1', 'nan.onnx', '--input-value', 'input=1', '--wait');
    expect(published.code).toBe(3);
    expect(published.stderr).toMatch(
      /error INFERENCE_FAILED: output "output" has \d+ of \d+ values NaN or infinite on the publisher's inputs/,
    );
    const v = JSON.parse((await run('status', 'nan@1', '--json')).stdout);
    expect(v).toMatchObject({
      status: 'FAILED',
      statusReason: { code: 'INFERENCE_FAILED', file: 'nan.onnx' },
    });
  });
});
