import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** One JSON line per event, with a stable `event` field, so logs can be grepped and parsed. */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return (event, fields = {}) => {
    const level = (fields.level as string | undefined) ?? 'info';
    write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  };
}

export const silentLogger: Logger = () => {};

/**
 * `--log-file PATH`: every line goes to stdout and is appended to the file. Written synchronously, so
 * the line that explains a crash is on disk before the crash.
 */
export function stdoutAndFile(path: string): { write: (line: string) => void; close: () => void } {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a', 0o640);
  return {
    write: (line) => {
      process.stdout.write(line);
      writeSync(fd, line);
    },
    close: () => closeSync(fd),
  };
}
