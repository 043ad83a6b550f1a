import { VersionString } from '../../schemas/names.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { parse, parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { type Command, clientFor, printJson, REGISTRY_HELP, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';

const HELP = `Usage: modelgate release NAME@VERSION [--json]

Releases a QUARANTINED version back to VERIFIED, once an operator has found the nodes' failures were not
the version's fault. Failure reports from before the release no longer count towards quarantine.

Options:
  --json          print the version as one JSON document
${REGISTRY_HELP}

Exit codes: 0 released, 2 usage, 4 unknown or not QUARANTINED, 1 unexpected.`;

export const releaseCommand: Command = {
  name: 'release',
  summary: 'release a QUARANTINED version back to VERIFIED',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parse('release', argv, { ...REGISTRY_OPTION, json: { type: 'boolean' } });
    if (values.help) {
      io.out(HELP);
      return EXIT.OK;
    }
    const { name, ref } = parseRef('release', positionals[0]);
    if (!VersionString.safeParse(ref).success)
      throw CliError.usage(`"${ref}" is not a version string`, 'release');
    const v = await clientFor(io, values.registry).post<Version>(
      `api/v1/models/${encode(name)}/versions/${encode(ref)}/release`,
    );
    if (values.json) printJson(io, v);
    else io.out(`${name}@${ref} ${v.status}`);
    return EXIT.OK;
  },
};
