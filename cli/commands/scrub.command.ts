import { setTimeout as sleep } from 'node:timers/promises';
import type { ScrubReport } from '../../schemas/scrub.schema.js';
import { parseBytes } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, formatBytes, jsonOption, printJson, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';

const POLL_MS = 500;

function describe(r: ScrubReport): string[] {
  const lines = [
    `scrub ${r.state}: ${r.checked} blob(s) checked (${formatBytes(r.checkedBytes)}), ${r.corrupt} corrupt, ${r.repaired} repaired, ${r.missing} missing`,
  ];
  for (const v of r.affectedVersions)
    lines.push(`  ${v.model}@${v.version} (${v.status}): corrupt ${v.paths.join(', ')}`);
  if (r.affectedVersions.length > 0)
    lines.push(
      '  repair: publish the same files again (any new version); then `modelgate validate` each one',
    );
  if (r.error) lines.push(`  error: ${r.error}`);
  return lines;
}

export const scrubCommand = defineCommand({
  name: 'scrub',
  summary: 're-hash stored blobs, mark and report corrupt ones (admin)',
  usage: 'scrub [--rate B] [--wait] [--status] [--json]',
  description:
    'Re-hashes every stored blob in the background of the registry, reading at most --rate bytes per second.\nA blob whose bytes no longer hash to their name (rot on disk) is marked corrupt: the next publish of the\nsame file uploads it again and replaces it, so re-publishing the affected files repairs the registry.\nThe report counts checked, corrupt and repaired blobs and names the versions that hold a corrupt one.\nAdmin only.',
  options: {
    rate: {
      type: 'string',
      arg: 'B',
      help: "bytes per second, e.g. 64MiB (default: the server's MODELGATE_SCRUB_BYTES_PER_SECOND)",
    },
    wait: {
      type: 'boolean',
      help: 'wait for the scrub to finish and print its report (exit 6 if a blob is corrupt)',
    },
    status: { type: 'boolean', help: "print the latest scrub's report; start nothing" },
    ...jsonOption('the report'),
    ...REGISTRY_OPTION,
  },
  exitCodes: '0 ok, 1 unexpected, 2 usage, 6 corrupt blobs found (with --wait or --status)',
  async run({ values, positionals, io, client: registry }) {
    if (positionals.length > 0) throw CliError.usage(`unexpected argument "${positionals[0]}"`, 'scrub');
    if (values.status && (values.rate || values.wait))
      throw CliError.usage('--status starts nothing: it takes neither --rate nor --wait', 'scrub');
    const client = registry();
    let report: ScrubReport;
    if (values.status) report = await client.get<ScrubReport>('api/v1/scrub');
    else {
      const rate = values.rate === undefined ? undefined : parseBytes('scrub', 'rate', values.rate);
      report = await client.post<ScrubReport>(
        'api/v1/scrub',
        rate === undefined ? {} : { bytesPerSecond: rate },
      );
      while (values.wait && report.state === 'running') {
        await sleep(POLL_MS);
        report = await client.get<ScrubReport>('api/v1/scrub');
      }
    }
    if (values.json) printJson(io, report);
    else for (const line of describe(report)) io.out(line);
    if (report.state === 'failed') return EXIT.UNEXPECTED;
    const settled = values.status || values.wait;
    return settled && report.corrupt > 0 ? EXIT.INTEGRITY : EXIT.OK;
  },
});
