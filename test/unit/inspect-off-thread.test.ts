import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectOffThread } from '../../gpu-validator/inspect-off-thread.js';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { writeHugeGraph } from '../fixtures/model-formats.js';
import { buildMlpModel } from '../fixtures/onnx-writer.js';

/** Inspection of untrusted files runs in a worker thread: the event loop stays free, failures are verdicts. */

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inspect-off-thread-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `work` while a 5 ms interval ticks; returns its result and the longest gap between ticks. */
async function withTicker<T>(work: () => Promise<T>): Promise<{ result: T; maxGapMs: number; ms: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    const result = await work();
    return { result, maxGapMs, ms: performance.now() - started };
  } finally {
    clearInterval(ticker);
  }
}

describe('inspectOffThread', () => {
  it('inspects a million-node graph without blocking the event loop', async () => {
    const path = join(dir, 'huge.onnx');
    writeHugeGraph(path, 1_000_000);
    const { result, maxGapMs } = await withTicker(() => inspectOffThread('onnx', path));
    expect(result.operators).toEqual([{ domain: '', opType: 'Relu', count: 1_000_000 }]);
    // Blocked, the loop would show the whole inspection (about a second) as one gap.
    expect(maxGapMs).toBeLessThan(400);
  }, 60_000);

  it('returns the same facts as the in-thread inspector', async () => {
    const path = join(dir, 'mlp.onnx');
    writeFileSync(path, buildMlpModel({ layers: 2, dim: 4 }));
    const inspection = await inspectOffThread('onnx', path);
    expect(inspection.inputs.map((i) => i.name)).toEqual(['input']);
    expect(inspection.initializerCount).toBeGreaterThan(0);
  });

  it('a deadline the inspection overruns is MODEL_CORRUPTED, not an infrastructure error', async () => {
    const path = join(dir, 'slow.onnx');
    writeHugeGraph(path, 300_000);
    const error = await inspectOffThread('onnx', path, { deadlineMs: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadFailure);
    expect(error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    expect((error as Error).message).toContain('did not finish within 1 ms');
  });

  it('reuses an idle worker, and never one that missed its deadline', async () => {
    const small = join(dir, 'small.onnx');
    writeFileSync(small, buildMlpModel({ layers: 1, dim: 4 }));
    const slow = join(dir, 'slow2.onnx');
    writeHugeGraph(slow, 300_000);
    await inspectOffThread('onnx', small);
    await expect(inspectOffThread('onnx', slow, { deadlineMs: 1 })).rejects.toMatchObject({
      code: 'MODEL_CORRUPTED',
    });
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await inspectOffThread('onnx', small));
    expect(results.every((r) => r.inputs[0]?.name === 'input')).toBe(true);
  });

  it('a parser failure comes back as the LoadFailure the parser threw', async () => {
    const path = join(dir, 'bad.safetensors');
    writeFileSync(path, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x7b]));
    await expect(inspectOffThread('safetensors', path)).rejects.toMatchObject({ code: 'MODEL_CORRUPTED' });
  });
});
