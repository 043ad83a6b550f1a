import { freemem } from 'node:os';
import { RegistryError } from '../../core/errors.js';
import type { DownloadPlan } from '../../schemas/version.schema.js';
import { parse, parseBytes, parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import {
  type Command,
  clientFor,
  formatBytes,
  printJson,
  progressBar,
  REGISTRY_HELP,
  REGISTRY_OPTION,
} from '../command.js';
import { EXIT } from '../exit-codes.js';
import { installVersion } from '../files/install-dir.js';
import { encode } from '../registry-client.js';
import { checkNodeId, reportQuietly } from './report.command.js';
import { loadTestedFields } from './status.command.js';

const HELP = `Usage: modelgate fetch NAME@VERSION|ALIAS --dest DIR [--json]

Downloads a VERIFIED version into DIR: every file is hashed as it is written and checked against the
manifest; checksums.txt (md5sum -c), SHA256SUMS (sha256sum -c) and .modelgate.json are written; files
are 0644 and folders 0755. DIR is then switched to the new content atomically (DIR becomes a symlink
to a content folder beside it). A failed fetch leaves DIR exactly as it was.

Options:
  --dest DIR      where the model files must appear (e.g. /app/models/paddle)
  --free-memory B|auto
                  refuse (exit 5) before downloading a byte if the version's profiled peak × 1.5 exceeds
                  B bytes (e.g. 6GiB); auto reads MemAvailable from /proc/meminfo
  --node ID       this node's id, sent with the request (default: the host name): a provider being
                  re-enabled gradually admits nodes by it
  --report        report the outcome to the registry as a field report (modelgate report)
  --json          print the result as one JSON document
${REGISTRY_HELP}

Exit codes: 0 fetched, 2 usage, 4 refused (not VERIFIED, unknown, provider disabled),
5 would not fit in memory (INSUFFICIENT_MEMORY), 6 integrity failure (checksum mismatch), 1 unexpected (including disk full: INSUFFICIENT_DISK).`;

export const fetchCommand: Command = {
  name: 'fetch',
  summary: 'download a VERIFIED version into a folder, verified and switched atomically',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parse('fetch', argv, {
      ...REGISTRY_OPTION,
      dest: { type: 'string' },
      'free-memory': { type: 'string' },
      node: { type: 'string' },
      report: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      io.out(HELP);
      return EXIT.OK;
    }
    const { name, ref } = parseRef('fetch', positionals[0], 'NAME@VERSION|ALIAS');
    if (!values.dest) throw CliError.usage('--dest DIR is required', 'fetch');
    const freeMemory = values['free-memory'] === undefined ? undefined : freeMemoryOf(values['free-memory']);
    const client = clientFor(io, values.registry);
    const node = checkNodeId('fetch', values.node);
    const query = `?${new URLSearchParams({ node, ...(freeMemory === undefined ? {} : { freeMemoryBytes: String(freeMemory) }) })}`;
    const plan = await client.get<DownloadPlan>(
      `api/v1/models/${encode(name)}/download/${encode(ref)}${query}`,
    );
    const total = plan.files.reduce((s, f) => s + f.size, 0);
    const bar = progressBar(io, 'fetching ', total);
    let result: Awaited<ReturnType<typeof installVersion>>;
    try {
      result = await installVersion({
        dest: values.dest,
        version: plan.version,
        files: plan.files,
        onProgress: (done) => bar.update(done),
      });
    } catch (e) {
      if (values.report && e instanceof RegistryError) await reportQuietly(io, client, plan.version, node, e);
      if (e instanceof RegistryError) throw CliError.fromApi(e.code, e.message, e.details);
      throw e;
    }
    bar.finish();
    if (values.report) await reportQuietly(io, client, plan.version, node);
    const summary = {
      model: plan.version.model,
      version: plan.version.version,
      seq: plan.version.seq,
      provider: plan.version.provider,
      dest: result.dest,
      contentDir: result.contentDir,
      files: plan.files.length,
      bytes: result.bytes,
      ...loadTestedFields(plan.version),
    };
    if (values.json) printJson(io, summary);
    else
      io.out(
        `fetched ${name}@${plan.version.version} (${plan.files.length} file(s), ${formatBytes(total)}) into ${result.dest}${summary.note ? ` (${summary.note})` : ''}`,
      );
    return EXIT.OK;
  },
};

/** `auto` is MemAvailable (what libuv's freemem reads on Linux), the figure the runbook's rule compares. */
function freeMemoryOf(text: string): number {
  return text === 'auto' ? freemem() : parseBytes('fetch', 'free-memory', text);
}
