import { readFileSync } from 'node:fs';
import { jsonLogger, stdoutAndFile } from '../../local/log.js';
import { startLocalServer } from '../../local/server.js';
import { parseLocalServerConfig } from '../../schemas/config.schema.js';
import { parse, parseBytes } from '../args.js';
import { CliError } from '../cli-error.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';

const HELP = `Usage: modelgate serve [--data-dir D] [--port N] [--host H] [--workers N] [--memory-budget B]

Runs the registry on this machine: SQLite metadata and a blob folder under the data folder, the HTTP
API under /api/v1, signed blob URLs, and validation workers. Flags override environment variables.

Options:
  --data-dir D        data folder (MODELGATE_DATA_DIR, default ./.modelgate)
  --port N            port (MODELGATE_PORT, default 8080; 0 picks a free one)
  --host H            address (MODELGATE_HOST, default 127.0.0.1; any other needs MODELGATE_TOKENS)
  --workers N         validation workers (MODELGATE_WORKERS, default 1)
  --memory-budget B   default memory budget of a validation, e.g. 4GiB (MODELGATE_MEMORY_BUDGET;
                      default: the smallest node class, else 4GiB)
  --node-classes FILE JSON array of node classes every report is judged against
                      (MODELGATE_NODE_CLASSES), e.g.
                      [{"name":"cpu-small","memoryBytes":2147483648},
                       {"name":"gpu-a10g","memoryBytes":17179869184,"gpuMemoryBytes":25769803776,
                        "executionProviders":["cuda","cpu"]}]
  --log-file PATH     also append the JSON log lines (one per event) to PATH (MODELGATE_LOG_FILE)

Operations (environment): DISABLED_PROVIDERS=a,b disables providers at start (the runbook's variable;
providers it disabled before and no longer lists are enabled), MODELGATE_METRICS_NAMESPACE (default ocr),
MODELGATE_QUARANTINE_NODES (3) and MODELGATE_QUARANTINE_WINDOW_MS (900000), MODELGATE_HEALTH_WINDOW_MS
(3600000), MODELGATE_METRICS_REFRESH_MS (15000). GET /metrics, GET /health, and the dashboard at /.`;

function readNodeClasses(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw CliError.usage(`--node-classes ${path}: ${(e as Error).message}`, 'serve');
  }
}

function openLogFile(path: string): ReturnType<typeof stdoutAndFile> {
  try {
    return stdoutAndFile(path);
  } catch (e) {
    throw CliError.usage(`--log-file ${path}: ${(e as Error).message}`, 'serve');
  }
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the registry on this machine',
  help: HELP,
  async run(argv, io) {
    const { values } = parse('serve', argv, {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      workers: { type: 'string' },
      'memory-budget': { type: 'string' },
      'node-classes': { type: 'string' },
      'log-file': { type: 'string' },
    });
    if (values.help) {
      io.out(HELP);
      return EXIT.OK;
    }
    const flags: Record<string, string | undefined> = {
      MODELGATE_DATA_DIR: values['data-dir'],
      MODELGATE_PORT: values.port,
      MODELGATE_HOST: values.host,
      MODELGATE_WORKERS: values.workers,
      MODELGATE_MEMORY_BUDGET:
        values['memory-budget'] && String(parseBytes('serve', 'memory-budget', values['memory-budget'])),
      MODELGATE_NODE_CLASSES: values['node-classes'] && readNodeClasses(values['node-classes']),
      MODELGATE_LOG_FILE: values['log-file'],
    };
    const env = {
      ...io.env,
      ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
    };
    let config: ReturnType<typeof parseLocalServerConfig>;
    try {
      config = parseLocalServerConfig(env);
    } catch (e) {
      throw CliError.usage((e as Error).message, 'serve');
    }
    const logFile = config.MODELGATE_LOG_FILE ? openLogFile(config.MODELGATE_LOG_FILE) : undefined;
    const log = jsonLogger(logFile?.write);
    const server = await startLocalServer(config, log).catch((e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'EADDRINUSE'
          ? `port ${config.MODELGATE_PORT} on ${config.MODELGATE_HOST} is in use: choose another with --port`
          : e.message;
      throw new CliError('UNAVAILABLE', why, EXIT.UNEXPECTED);
    });
    io.err(`modelgate registry listening on ${server.url} (data in ${config.MODELGATE_DATA_DIR})`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    logFile?.close();
    return EXIT.OK;
  },
};
