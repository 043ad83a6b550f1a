import type { Model } from '../../schemas/model.schema.js';
import { ModelName } from '../../schemas/names.schema.js';
import { type Version, VersionStatus } from '../../schemas/version.schema.js';
import { CliError } from '../cli-error.js';
import { defineCommand, formatBytes, jsonOption, printJson, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';

export const listCommand = defineCommand({
  name: 'list',
  summary: 'list models, or the versions of a model',
  usage: 'list [NAME] [--status S] [--limit N] [--json]',
  description: 'Without NAME, lists models. With NAME, lists its versions, newest first.',
  options: {
    status: {
      type: 'string',
      arg: 'S',
      help: 'only versions in state S (PENDING_UPLOAD, UPLOADED, VALIDATING, VERIFIED, FAILED,\nQUARANTINED, DEPRECATED)',
    },
    limit: { type: 'string', arg: 'N', help: 'at most N entries (default: all, fetched page by page)' },
    ...jsonOption('{"items": [...]}'),
    ...REGISTRY_OPTION,
  },
  exitCodes: '0 listed, 2 usage, 4 unknown model, 1 unexpected',
  async run({ values, positionals, io, client: registry }) {
    const limit = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
    if (!(limit >= 1)) throw CliError.usage('--limit expects a positive number', 'list');
    // States are upper case in the API; `--status failed` means the same thing.
    const status = values.status?.toUpperCase();
    if (status !== undefined && !VersionStatus.safeParse(status).success)
      throw CliError.usage(`--status must be one of ${VersionStatus.options.join(', ')}`, 'list');
    const name = positionals[0];
    // Models have no state: a filter the listing would ignore is refused rather than silently dropped.
    if (status !== undefined && name === undefined)
      throw CliError.usage(
        `--status filters a model's versions: give its NAME (list NAME --status ${status})`,
        'list',
      );
    const client = registry();
    if (name !== undefined && !ModelName.safeParse(name).success)
      throw CliError.usage(`"${name}" is not a model name`, 'list');
    const base = name === undefined ? 'api/v1/models' : `api/v1/models/${encode(name)}/versions`;
    // A version carries its validation report (up to ~130 KB for a large model's): pages of 100 keep an
    // answer within MAX_ANSWER_BYTES; a model entry is a few hundred bytes.
    const pageSize = name === undefined ? 1000 : 100;
    const items: unknown[] = [];
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(Math.min(pageSize, limit - items.length)) });
      if (status) query.set('status', status);
      if (cursor) query.set('cursor', cursor);
      const page = await client.get<{ items: unknown[]; nextCursor?: string }>(`${base}?${query}`);
      // One by one: a spread of a page as long as the registry cares to send would overflow the stack.
      for (const item of page.items) items.push(item);
      cursor = page.nextCursor;
    } while (cursor && items.length < limit);
    if (values.json) printJson(io, { items });
    else if (name === undefined)
      for (const m of items as Model[]) io.out(`${m.name}\t${m.provider}\t${m.createdAt}`);
    else
      for (const v of items as Version[])
        io.out(
          `${v.version}\t${v.status}\tseq ${v.seq}\t${formatBytes(v.totalSize)}\t${v.createdAt}${v.statusReason ? `\t${v.statusReason.code}` : ''}`,
        );
    return EXIT.OK;
  },
});
