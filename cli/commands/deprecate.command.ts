import { VersionString } from '../../schemas/names.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';

export const deprecateCommand = defineCommand({
  name: 'deprecate',
  summary: 'retire a version: it is never served again',
  usage: 'deprecate NAME@VERSION [--reason TEXT] [--json]',
  description:
    'Retires a version (admin role): whatever its state, it becomes DEPRECATED and is never served again.\nfetch refuses it, `latest` skips it, and an alias that points at it serves the last VERIFIED version\nbefore it. Deprecating a DEPRECATED version again changes nothing.',
  options: {
    reason: { type: 'string', arg: 'TEXT', help: 'why (at most 500 characters), kept with the version' },
    ...jsonOption('the version'),
    ...REGISTRY_OPTION,
  },
  exitCodes: '0 deprecated, 2 usage, 4 unknown version or not allowed, 1 unexpected',
  async run({ values, positionals, client, print }) {
    if (positionals.length > 1) throw CliError.usage(`unexpected argument "${positionals[1]}"`, 'deprecate');
    const { name, ref } = parseRef('deprecate', positionals[0]);
    if (!VersionString.safeParse(ref).success)
      throw CliError.usage(`"${ref}" is not a version string (aliases cannot be deprecated)`, 'deprecate');
    if (values.reason !== undefined && (values.reason.length === 0 || values.reason.length > 500))
      throw CliError.usage('--reason must be 1 to 500 characters', 'deprecate');
    const v = await client().post<Version>(
      `api/v1/models/${encode(name)}/versions/${encode(ref)}/deprecate`,
      values.reason === undefined ? {} : { reason: values.reason },
    );
    print(v, () => `${name}@${ref} ${v.status}${v.deprecation?.reason ? ` (${v.deprecation.reason})` : ''}`);
    return EXIT.OK;
  },
});
