import { readFileSync } from 'node:fs';
import { jsonLogger, stdoutAndFile } from '../../local/log.js';
import { startLocalServer } from '../../local/server.js';
import { parseLocalServerConfig } from '../../schemas/config.schema.js';
import { parseBytes } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command.js';
import { EXIT } from '../exit-codes.js';

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

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'run the registry on this machine',
  usage: 'serve [--data-dir D] [--port N] [--host H] [--workers N] [--memory-budget B]',
  description:
    'Runs the registry on this machine: SQLite metadata and a blob folder under the data folder, the HTTP\nAPI under /api/v1, signed blob URLs, and validation workers. Flags override environment variables.',
  options: {
    'data-dir': { type: 'string', arg: 'D', help: 'data folder (MODELGATE_DATA_DIR, default ./.modelgate)' },
    port: { type: 'string', arg: 'N', help: 'port (MODELGATE_PORT, default 8080; 0 picks a free one)' },
    host: {
      type: 'string',
      arg: 'H',
      help: 'address (MODELGATE_HOST, default 127.0.0.1; any other needs MODELGATE_TOKENS)',
    },
    workers: { type: 'string', arg: 'N', help: 'validation workers (MODELGATE_WORKERS, default 1)' },
    'memory-budget': {
      type: 'string',
      arg: 'B',
      help: 'default memory budget of a validation, e.g. 4GiB (MODELGATE_MEMORY_BUDGET;\ndefault: the smallest node class, else 4GiB)',
    },
    'node-classes': {
      type: 'string',
      arg: 'FILE',
      help: 'JSON array of node classes every report is judged against\n(MODELGATE_NODE_CLASSES), e.g.\n[{"name":"cpu-small","memoryBytes":2147483648},\n {"name":"gpu-a10g","memoryBytes":17179869184,"gpuMemoryBytes":25769803776,\n  "executionProviders":["cuda","cpu"]}]',
    },
    'log-file': {
      type: 'string',
      arg: 'PATH',
      help: 'also append the JSON log lines (one per event) to PATH (MODELGATE_LOG_FILE)',
    },
  },
  notes:
    "Operations (environment): DISABLED_PROVIDERS=a,b disables providers at start (the runbook's variable;\nproviders it disabled before and no longer lists are enabled), MODELGATE_METRICS_NAMESPACE (default ocr),\nMODELGATE_QUARANTINE_NODES (3) and MODELGATE_QUARANTINE_WINDOW_MS (900000), MODELGATE_HEALTH_WINDOW_MS\n(3600000), MODELGATE_METRICS_REFRESH_MS (15000). GET /metrics, GET /health, and the dashboard at /.",
  exitCodes:
    '0 stopped by SIGINT or SIGTERM, 2 usage (a bad flag or setting), 1 unexpected (e.g. the port is in use)',
  async run({ values, io }) {
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
});
