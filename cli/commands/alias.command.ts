import { AliasName, ModelName, VersionString } from '../../schemas/names.schema.js';
import type { Alias } from '../../schemas/version.schema.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';

function check(
  schema: { safeParse(v: unknown): { success: boolean; error?: { issues: { message: string }[] } } },
  what: string,
  value: string | undefined,
): string {
  if (value === undefined) throw CliError.usage(`missing ${what}`, 'alias');
  const r = schema.safeParse(value);
  if (!r.success) throw CliError.usage(`${what} "${value}" ${r.error?.issues[0]?.message}`, 'alias');
  return value;
}

export const aliasCommand = defineCommand({
  name: 'alias',
  summary: 'set, list or remove aliases (production, staging, ...)',
  usage: [
    'alias set NAME ALIAS VERSION   point ALIAS (e.g. production) at a VERIFIED version',
    "alias list NAME                list a model's aliases",
    'alias rm NAME ALIAS            remove an alias',
  ],
  description: 'Aliases name the version a fleet serves; fetch NAME@ALIAS follows them.',
  options: { ...jsonOption('the result'), ...REGISTRY_OPTION },
  exitCodes: '0 done, 2 usage, 4 refused (version not VERIFIED, unknown model/version/alias), 1 unexpected',
  async run({ positionals, client: registry, print }) {
    const client = registry();
    const [action, rawName, rawAlias, rawVersion] = positionals;
    const name = check(ModelName, 'NAME', rawName);
    const base = `api/v1/models/${encode(name)}/aliases`;
    if (action === 'set') {
      const alias = check(AliasName, 'ALIAS', rawAlias);
      const version = check(VersionString, 'VERSION', rawVersion);
      const result = await client.put<Alias>(`${base}/${encode(alias)}`, { version });
      print(result, () => `${name}@${alias} -> ${version}`);
    } else if (action === 'list') {
      const { items } = await client.get<{ items: Alias[] }>(base);
      print({ items }, () => items.map((a) => `${a.alias}\t${a.version}\t${a.updatedAt}`));
    } else if (action === 'rm') {
      const alias = check(AliasName, 'ALIAS', rawAlias);
      await client.request('DELETE', `${base}/${encode(alias)}`);
      print({ deleted: true }, () => `removed ${name}@${alias}`);
    } else throw CliError.usage(`unknown alias action "${action ?? ''}": use set, list or rm`, 'alias');
    return EXIT.OK;
  },
});
