import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CliError } from './cli-error.js';

// The option parsing every command runs first, in a module of its own without zod, so `verify` and
// `fetch` start their work before the schemas are loaded.

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with usage errors turned into exit code 2 and a pointer to --help. */
export function parse<O extends Options>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const err = e as Error & { code?: string };
    const unknown = /^Unknown option '(-{1,2}[^']+)'/.exec(err.message);
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown)
      throw CliError.usage(unknownOption(unknown[1]!, Object.keys(options)), command);
    throw CliError.usage(err.message.split('\n')[0]!, command);
  }
}

/** `unknown option --dset (did you mean --dest?)`: the nearest known option, when one is a typo away. */
function unknownOption(given: string, known: readonly string[]): string {
  const name = given.replace(/^-+/, '').split('=')[0]!;
  const nearest = known
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter((c) => c.d <= Math.max(1, Math.floor(c.k.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  return `unknown option ${given}${nearest ? ` (did you mean --${nearest.k}?)` : ''}`;
}

/** Edit distance with a swap of neighbours as one edit (`--dset` is one typo of `--dest`); short names only. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  return d[a.length]![b.length]!;
}
