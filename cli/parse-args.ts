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
    throw CliError.usage((e as Error).message.split('\n')[0]!, command);
  }
}
