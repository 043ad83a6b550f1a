import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWatched, type WatchdogOptions } from '../../gpu-validator/process-watchdog.js';

const MIB = 1024 ** 2;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'watchdog-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a child script (plain CommonJS, so no loader is needed) and returns its path. */
function script(name: string, source: string): string {
  const path = join(dir, `${name}.cjs`);
  writeFileSync(path, source);
  return path;
}

type Message = { type: string; n?: number };

function options(path: string, overrides: Partial<WatchdogOptions<Message>> = {}): WatchdogOptions<Message> {
  return {
    script: path,
    args: [],
    execArgv: [],
    memoryLimitBytes: 4096 * MIB,
    sampleIntervalMs: 10,
    timeLimitMs: 10_000,
    onMessage: (m) => (m.type === 'done' ? 'final' : undefined),
    ...overrides,
  };
}

describe('runWatched', () => {
  it('ends on the final message without waiting for the exit, with every message and an RSS sample', async () => {
    const path = script(
      'final',
      "process.send({type:'hello'}); process.send({type:'done'}); setTimeout(()=>{}, 60000);",
    );
    const started = Date.now();
    const run = await runWatched(options(path));
    expect(run.final).toBe(true);
    expect(run.stop).toBeUndefined();
    expect(run.messages.map((m) => m.type)).toEqual(['hello', 'done']);
    expect(run.sampledPeakRssBytes).toBeGreaterThan(10 * MIB);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports the exit code and the output tail of a child that exits on its own', async () => {
    const path = script('exit', "console.error('boom on stderr'); process.exit(3);");
    const run = await runWatched(options(path));
    expect(run).toMatchObject({ final: false, exitCode: 3, exitSignal: null });
    expect(run.outputTail).toContain('boom on stderr');
  });

  it('kills a child that outlives its clock, naming the phase; a handler can restart the clock', async () => {
    const path = script('slow', "process.send({type:'phase'}); setTimeout(()=>{}, 60000);");
    const stops: string[] = [];
    const run = await runWatched(
      options(path, {
        timeLimitMs: 5000,
        onMessage: (_m, control) => {
          control.restartClock(200, 'work');
          return undefined;
        },
        onStop: (stop) => stops.push(stop.reason),
      }),
    );
    expect(run.stop).toEqual({ reason: 'time', limitMs: 200, phase: 'work' });
    expect(run.exitSignal).toBe('SIGKILL');
    expect(stops).toEqual(['time']);
  });

  it('kills a child whose resident memory passes the limit', async () => {
    const path = script(
      'hog',
      'const keep = []; setInterval(() => { const b = Buffer.alloc(16 * 1024 * 1024, 1); keep.push(b); }, 5);',
    );
    const run = await runWatched(options(path, { memoryLimitBytes: 200 * MIB }));
    expect(run.stop).toMatchObject({ reason: 'memory', limitBytes: 200 * MIB });
    expect(run.stop?.reason === 'memory' && run.stop.rssBytes).toBeGreaterThan(200 * MIB);
    expect(run.exitSignal).toBe('SIGKILL');
  });

  it('kills on abort, and does not fork at all when the signal is already aborted', async () => {
    const path = script('idle', "process.send({type:'up'}); setTimeout(()=>{}, 60000);");
    const controller = new AbortController();
    const run = await runWatched(
      options(path, {
        signal: controller.signal,
        onMessage: () => {
          controller.abort();
          return undefined;
        },
      }),
    );
    expect(run.stop).toEqual({ reason: 'cancelled', started: true });
    const early = await runWatched(options(path, { signal: AbortSignal.abort() }));
    expect(early).toMatchObject({ stop: { reason: 'cancelled', started: false }, messages: [] });
  });
});
