import { VersionString } from '../../schemas/names.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';
import { waitForVerdict } from './publish.command.js';
import { describeFailure } from './status.command.js';

export const validateCommand = defineCommand({
  name: 'validate',
  summary: 're-validate a version',
  usage: 'validate NAME@VERSION [--wait] [--json]',
  description:
    'Queues a VERIFIED or FAILED version for validation again (a new runtime, a new node class). The\nhistory of reports is kept (GET /api/v1/models/NAME/versions/VERSION/reports).',
  options: {
    wait: { type: 'boolean', help: 'wait for the verdict (exit 3 if FAILED)' },
    ...jsonOption('the version'),
    ...REGISTRY_OPTION,
  },
  exitCodes:
    '0 queued (and VERIFIED with --wait), 2 usage, 3 FAILED validation, 4 unknown version or not allowed, 1 unexpected',
  async run({ values, positionals, io, client: registry, print }) {
    const { name, ref } = parseRef('validate', positionals[0]);
    if (!VersionString.safeParse(ref).success)
      throw CliError.usage(`"${ref}" is not a version string`, 'validate');
    const client = registry();
    let v = await client.post<Version>(`api/v1/models/${encode(name)}/versions/${encode(ref)}/validate`);
    if (values.wait) v = await waitForVerdict(client, name, ref, 3600_000, (s) => !values.json && io.err(s));
    print(v, () => `${name}@${ref} ${v.status}`);
    if (v.status === 'FAILED') {
      io.err(describeFailure(v));
      return EXIT.VALIDATION_FAILED;
    }
    return EXIT.OK;
  },
});
