/**
 * Event-loop delay while inspecting a huge graph: `npx tsx bench/inspect-event-loop.ts [NODES]`
 * (default 10 million nodes, a ~150 MB ONNX file written to os.tmpdir()).
 *
 * Inspects the file twice: on the calling thread (inspectOnnx, what the server did before) and through
 * inspectOffThread (the worker the engine uses), sampling the event loop's delay with
 * the longest gap between ticks of a 5 ms interval during each. Prints one JSON line per mode; exits 1 if
 * the off-thread inspection blocks the event loop for a second or more.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectOffThread } from '../gpu-validator/inspect-off-thread.js';
import { inspectOnnx } from '../gpu-validator/onnx-inspect.js';
import { writeHugeGraph } from '../test/fixtures/model-formats.js';

/**
 * The longest gap between ticks of a 5 ms interval while `run` is in progress: how long the event loop
 * could not answer anything (a blocked loop shows as one long gap; monitorEventLoopDelay misses a loop
 * that is blocked from the moment it is enabled).
 */
async function measure(mode: string, run: () => unknown) {
  let last = performance.now();
  let maxGap = 0;
  const gaps: number[] = [];
  const ticker = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  const inspection = (await run()) as { operators: { count: number }[] };
  const ms = performance.now() - started;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(ticker);
  gaps.sort((a, b) => a - b);
  const result = {
    mode,
    inspectMs: Math.round(ms),
    nodes: inspection.operators.reduce((a, o) => a + o.count, 0),
    maxEventLoopDelayMs: Math.round(maxGap),
    p99EventLoopDelayMs: Math.round(gaps[Math.floor(gaps.length * 0.99)] ?? 0),
    ticks: gaps.length,
  };
  console.log(JSON.stringify(result));
  return result;
}

const nodes = Number(process.argv[2] ?? 10_000_000);
const path = join(tmpdir(), `modelgate-huge-graph-${process.pid}.onnx`);
try {
  const bytes = writeHugeGraph(path, nodes);
  console.log(JSON.stringify({ nodes, fileBytes: bytes }));
  await measure('main thread (inspectOnnx)', () => inspectOnnx(path));
  const off = await measure('worker (inspectOffThread)', () =>
    inspectOffThread('onnx', path, { deadlineMs: 120_000 }),
  );
  // A blocked loop shows the whole inspection as one gap; a free one, scheduling noise of a busy machine.
  if (off.maxEventLoopDelayMs >= 1000) process.exitCode = 1;
} finally {
  rmSync(path, { force: true });
}
