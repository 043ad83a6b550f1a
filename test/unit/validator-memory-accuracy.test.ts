import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEntry, isolatedLoad } from '../../gpu-validator/isolated-load.js';
import { modelOfSize } from '../fixtures/onnx-writer.js';
import { needs } from '../helpers/system-programs.js';

const need = needs(['time']);
const REFERENCE = join(import.meta.dirname, '../fixtures/ort-reference-run.mjs');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'memory-accuracy-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** GNU time's "Maximum resident set size" of a plain node process that loads and runs the model. */
function referencePeakBytes(modelPath: string, execArgv: string[]): number {
  const run = spawnSync(
    need.path('time'),
    ['-v', process.execPath, ...execArgv, REFERENCE, modelPath, '{}'],
    {
      encoding: 'utf8',
    },
  );
  const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr);
  if (run.status !== 0 || !match) throw new Error(`reference run failed: ${run.stderr.slice(-500)}`);
  return Number(match[1]) * 1024;
}

describe.skipIf(need.skip)(need.title('memory accuracy against GNU time -v'), () => {
  it("the child's VmHWM matches the peak RSS of a plain process loading and running the same model", async () => {
    const modelPath = join(dir, 'm.onnx');
    writeFileSync(modelPath, modelOfSize(4e6));
    const result = await isolatedLoad({ modelPath, memoryBudgetBytes: 2 * 1024 ** 3, timeoutMs: 30_000 });
    expect(result.ok).toBe(true);
    // Same loader flags as the child (tsx when running from sources), so only the validator's own cost differs.
    const reference = referencePeakBytes(modelPath, childEntry().execArgv);
    const child = result.vmHwmBytes ?? 0;
    // Measured with the compiled child: within 0.2–1.4% across 1 MB–256 MB models before the child got its
    // parent-watch thread, which adds about 8 MiB of its own (so the child reads high, never low). Under tsx
    // the loader's own allocations vary more; 15 % was passed by 0.5 % when the whole suite loaded the machine.
    expect(Math.abs(child - reference) / reference).toBeLessThan(0.2);
    expect(child).toBeGreaterThanOrEqual(reference * 0.95);
    // The watchdog's 10 ms samples (a timer in this process) see the loaded runtime, never more than the
    // high-water mark. Not the exact peak: with the whole suite on two cores the timer fires late, and a
    // fresh-clone CI run sampled 75.6 MB of a 122 MB peak; a bare Node is ~45 MB, so half the peak is
    // still a sample taken after onnxruntime loaded. (1 MiB of slack above: the child reads its VmHWM just
    // before it reports and exits, and a sample may land after that.)
    expect(result.sampledPeakRssBytes).toBeGreaterThan(child * 0.5);
    expect(result.sampledPeakRssBytes).toBeLessThanOrEqual(child + 1024 * 1024);
  });
});
