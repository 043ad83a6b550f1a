import { VersionString } from '../../schemas/names.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { parse, parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { type Command, clientFor, printJson, REGISTRY_HELP, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';
import { waitForVerdict } from './publish.command.js';
import { describeFailure } from './status.command.js';

const HELP = `Usage: modelgate validate NAME@VERSION [--wait] [--json]

Queues a VERIFIED or FAILED version for validation again (a new runtime, a new node class). The
history of reports is kept (GET /api/v1/models/NAME/versions/VERSION/reports).

Options:
  --wait          wait for the verdict (exit 3 if FAILED)
  --json          print the version as one JSON document
${REGISTRY_HELP}`;

export const validateCommand: Command = {
  name: 'validate',
  summary: 're-validate a version',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parse('validate', argv, {
      ...REGISTRY_OPTION,
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      io.out(HELP);
      return EXIT.OK;
    }
    const { name, ref } = parseRef('validate', positionals[0]);
    if (!VersionString.safeParse(ref).success)
      throw CliError.usage(`"${ref}" is not a version string`, 'validate');
    const client = clientFor(io, values.registry);
    let v = await client.post<Version>(`api/v1/models/${encode(name)}/versions/${encode(ref)}/validate`);
    if (values.wait) v = await waitForVerdict(client, name, ref, 3600_000, (s) => !values.json && io.err(s));
    if (values.json) printJson(io, v);
    else io.out(`${name}@${ref} ${v.status}`);
    if (v.status === 'FAILED') {
      io.err(describeFailure(v));
      return EXIT.VALIDATION_FAILED;
    }
    return EXIT.OK;
  },
};
