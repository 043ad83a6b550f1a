import { SingleBar } from 'cli-progress';
import { formatBytes, type Io } from './command.js';

/** One transfer's progress: bytes done of all files so far, and the file those bytes belong to. */
export interface Progress {
  update(done: number, file: string): void;
  finish(): void;
}

export interface ProgressFigures {
  /** `hashing`, `uploading` or `fetching`. */
  readonly stage: string;
  readonly file: string;
  /** Bytes done and in all, over every file of the transfer. */
  readonly done: number;
  readonly total: number;
  /** Since the transfer started, in ms. */
  readonly elapsedMs: number;
  /** Characters of the bar itself. */
  readonly barWidth?: number;
}

const NO_PROGRESS: Progress = { update: () => {}, finish: () => {} };

/** `1m05s`, `42s`, `2h03m`: short enough for one terminal line. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * One progress line: `uploading det.onnx [#####.....] 48% 137.0 MiB/286.1 MiB 45.2 MiB/s 3s left`.
 * The rate is the average since the start (bytes per second); the time left assumes it holds. Before
 * anything has moved, rate and time left read `--`.
 */
export function formatProgressLine(f: ProgressFigures): string {
  const share = f.total > 0 ? Math.min(1, f.done / f.total) : 1;
  const width = f.barWidth ?? 24;
  const filled = Math.round(share * width);
  const rate = f.elapsedMs > 0 && f.done > 0 ? f.done / (f.elapsedMs / 1000) : 0;
  const left = rate > 0 ? formatDuration((f.total - f.done) / rate) : '--';
  return [
    f.stage.padEnd(9),
    f.file,
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`,
    `${Math.floor(share * 100)}%`.padStart(4),
    `${formatBytes(f.done)}/${formatBytes(f.total)}`,
    rate > 0 ? `${formatBytes(rate)}/s` : '--/s',
    `${left} left`,
  ].join(' ');
}

/**
 * A progress bar on stderr, drawn by cli-progress (at most every 100 ms), only when stderr is a terminal
 * and the command is not under `--json`: a pipe or a script's log never receives carriage returns.
 */
export function transferProgress(io: Io, json: boolean, stage: string, total: number): Progress {
  if (!io.interactive || json || total === 0) return NO_PROGRESS;
  const startedAt = Date.now();
  const bar = new SingleBar({
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
    fps: 10,
    format: (_options, params, payload: { file: string }) =>
      formatProgressLine({
        stage,
        file: payload.file,
        done: params.value,
        total: params.total,
        elapsedMs: Date.now() - startedAt,
      }),
  });
  bar.start(total, 0, { file: '' });
  return {
    update: (done, file) => bar.update(done, { file }),
    finish: () => {
      bar.update(total);
      bar.stop();
    },
  };
}
