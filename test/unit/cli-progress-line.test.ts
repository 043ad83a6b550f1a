import { describe, expect, it } from 'vitest';
import type { Io } from '../../cli/command.js';
import { formatDuration, formatProgressLine, transferProgress } from '../../cli/progress.js';

const MiB = 1024 * 1024;

describe('transfer progress', () => {
  it('names the file and shows bytes, rate and time left', () => {
    const line = formatProgressLine({
      stage: 'uploading',
      file: 'det.onnx',
      done: 162 * MiB,
      total: 286 * MiB,
      elapsedMs: 4000,
      barWidth: 10,
    });
    expect(line).toBe('uploading det.onnx [######....]  56% 162.0 MiB/286.0 MiB 40.5 MiB/s 3s left');
  });

  it('reads -- for rate and time left before any byte moved', () => {
    const line = formatProgressLine({ stage: 'hashing', file: 'a.bin', done: 0, total: 10, elapsedMs: 0 });
    expect(line).toContain('--/s -- left');
    expect(line.startsWith('hashing   a.bin [')).toBe(true);
  });

  it('formats time left in seconds, minutes or hours', () => {
    expect([formatDuration(42), formatDuration(65), formatDuration(7380)]).toEqual(['42s', '1m05s', '2h03m']);
  });

  it('draws nothing off a terminal or under --json', () => {
    const written: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const io = (interactive: boolean): Io => ({ env: {}, out: () => {}, err: () => {}, interactive });
      for (const p of [
        transferProgress(io(false), false, 'hashing', 100),
        transferProgress(io(true), true, 'hashing', 100),
      ]) {
        p.update(50, 'a.bin');
        p.finish();
      }
    } finally {
      process.stderr.write = original;
    }
    expect(written).toEqual([]);
  });
});
