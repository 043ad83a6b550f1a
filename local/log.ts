import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { redactUrlQueries } from './redact.js';

/** One JSON line per event, with a stable `event` field, so logs can be grepped and parsed. */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

/** Every line is passed through `redactUrlQueries`: no field, message or stack can leak a signed URL. */
export function jsonLogger(write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return (event, fields = {}) => {
    const level = (fields.level as string | undefined) ?? 'info';
    const line = JSON.stringify({ time: new Date().toISOString(), level, event, ...fields });
    write(`${redactUrlQueries(line)}\n`);
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
