/** One JSON line per event, with a stable `event` field, so logs can be grepped and parsed. */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return (event, fields = {}) => {
    const level = (fields.level as string | undefined) ?? 'info';
    write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  };
}

export const silentLogger: Logger = () => {};
