import { VersionString } from '../../schemas/names.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';

export const releaseCommand = defineCommand({
  name: 'release',
  summary: 'release a QUARANTINED version back to VERIFIED',
  usage: 'release NAME@VERSION [--json]',
  description:
    "Releases a QUARANTINED version back to VERIFIED, once an operator has found the nodes' failures were not\nthe version's fault. Failure reports from before the release no longer count towards quarantine.",
  options: { ...jsonOption('the version'), ...REGISTRY_OPTION },
  exitCodes: '0 released, 2 usage, 4 unknown or not QUARANTINED, 1 unexpected',
  async run({ positionals, client, print }) {
    const { name, ref } = parseRef('release', positionals[0]);
    if (!VersionString.safeParse(ref).success)
      throw CliError.usage(`"${ref}" is not a version string`, 'release');
    const v = await client().post<Version>(`api/v1/models/${encode(name)}/versions/${encode(ref)}/release`);
    print(v, () => `${name}@${ref} ${v.status}`);
    return EXIT.OK;
  },
});
