import { parseInterval } from '../../core/node-sync.js';
import { parseBytes, parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, REGISTRY_OPTION } from '../command.js';
import { SyncAgent } from '../node/sync-agent.js';
import { checkNodeId } from './report.command.js';

export const syncCommand = defineCommand({
  name: 'sync',
  summary: "keep a folder at an alias's current VERIFIED version (a node agent)",
  usage:
    'sync NAME@ALIAS --dest DIR [--interval 30s] [--once] [--load-check] [--report] [--node ID] [--keep N]',
  description:
    'Polls the registry and keeps DIR at the version NAME@ALIAS points at, as `fetch` installs it: a new\nversion is fetched reusing the files DIR already holds (same sha256), resuming interrupted downloads,\nand switched atomically. With --load-check, the new content is loaded and smoke-run in an isolated child\n(doctor --load) before the switch; if that fails, DIR keeps the old version and the refused one is not\ntried again until the alias moves. While the registry is unreachable the agent backs off (doubling up to\n16 × the interval) and never touches DIR; a disabled provider, or a provider being re-enabled that does\nnot admit this node yet (by --node), also leaves DIR as it is. Logs one JSON object per line on stdout;\nSIGTERM or SIGINT stops it cleanly (downloads stop, their bytes are kept for the next start).',
  options: {
    dest: { type: 'string', arg: 'DIR', help: 'the folder to keep current (e.g. /app/models/paddle)' },
    interval: {
      type: 'string',
      arg: 'T',
      help: 'time between polls, 100ms to 480h: 30s (default), 5m, 1h, 500ms; each poll is spread by ±10 %',
    },
    once: { type: 'boolean', help: "poll once, then exit with that poll's outcome" },
    'load-check': {
      type: 'boolean',
      help: 'load and smoke-run the new content in an isolated child before switching to it',
    },
    'load-budget': {
      type: 'string',
      arg: 'B',
      help: 'memory the load check may use before it is stopped (default: MemAvailable)',
    },
    report: { type: 'boolean', help: 'send a field report after each switch or refused load check' },
    node: {
      type: 'string',
      arg: 'ID',
      help: "this node's id (default: the host name): a provider being re-enabled gradually admits by it",
    },
    keep: { type: 'string', arg: 'N', help: 'older versions to keep for rollback and reuse (default 1)' },
    ...REGISTRY_OPTION,
  },
  notes:
    'Log events: started, in-sync, fetching, switched {from, to, bytesDownloaded, filesReused},\nload-check-failed, kept {reason}, fetch-failed, registry-unreachable {failures, nextPollMs},\nregistry-reachable, stopped. A steady state is logged once, not at every poll.',
  exitCodes:
    '0 stopped by a signal, or --once found DIR current or switched it; with --once: 1 registry unreachable,\n4 refused (provider disabled, not admitted, not VERIFIED), 7 the load check failed on this node, 6 an\nintegrity failure while fetching; 2 usage',
  async run({ values, positionals, io, client }) {
    const { name, ref: alias } = parseRef('sync', positionals[0], 'NAME@ALIAS');
    if (!values.dest) throw CliError.usage('--dest DIR is required', 'sync');
    const intervalMs = values.interval === undefined ? 30_000 : parseInterval(values.interval);
    if (intervalMs === undefined)
      throw CliError.usage(
        `--interval expects a time from 100ms to 480h, like 30s, 5m or 500ms, got "${values.interval}"`,
        'sync',
      );
    if (values.keep !== undefined && !/^\d{1,3}$/.test(values.keep))
      throw CliError.usage(`--keep expects a number of versions (0-999), got "${values.keep}"`, 'sync');
    const loadBudget = values['load-budget'];
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      return await new SyncAgent({
        name,
        alias,
        dest: values.dest,
        intervalMs,
        once: values.once === true,
        loadCheck: values['load-check'] === true,
        ...(loadBudget === undefined
          ? {}
          : { loadBudgetBytes: parseBytes('sync', 'load-budget', loadBudget) }),
        report: values.report === true,
        node: checkNodeId('sync', values.node),
        keep: values.keep === undefined ? 1 : Number(values.keep),
        client: client(),
        io,
        signal: controller.signal,
        log: (event, fields = {}) =>
          io.out(JSON.stringify({ time: new Date().toISOString(), event, model: name, alias, ...fields })),
      }).run();
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    }
  },
});
