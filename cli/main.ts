#!/usr/bin/env node
import './quiet-dependencies.js';
import { redactUrlQueries } from '../local/redact.js';
import { CliError } from './cli-error.js';
import type { Command, Io } from './command.js';
import { aliasCommand } from './commands/alias.command.js';
import { deprecateCommand } from './commands/deprecate.command.js';
import { doctorCommand } from './commands/doctor.command.js';
import { fetchCommand } from './commands/fetch.command.js';
import { listCommand } from './commands/list.command.js';
import { providerCommand } from './commands/provider.command.js';
import { publishCommand } from './commands/publish.command.js';
import { releaseCommand } from './commands/release.command.js';
import { reportCommand } from './commands/report.command.js';
import { scrubCommand } from './commands/scrub.command.js';
import { serveCommand } from './commands/serve.command.js';
import { signingKeyCommand } from './commands/signing-key.command.js';
import { statusCommand } from './commands/status.command.js';
import { syncCommand } from './commands/sync.command.js';
import { validateCommand } from './commands/validate.command.js';
import { verifyCommand } from './commands/verify.command.js';
import { EXIT } from './exit-codes.js';

const COMMANDS: readonly Command[] = [
  publishCommand,
  statusCommand,
  listCommand,
  aliasCommand,
  fetchCommand,
  verifyCommand,
  doctorCommand,
  syncCommand,
  validateCommand,
  reportCommand,
  providerCommand,
  releaseCommand,
  scrubCommand,
  deprecateCommand,
  serveCommand,
  signingKeyCommand,
];

const usage = () =>
  [
    'Usage: modelgate COMMAND [options]   (modelgate COMMAND --help for details)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    'Environment: MODELGATE_REGISTRY (default http://127.0.0.1:8080), MODELGATE_TOKEN (bearer token),',
    '             MODELGATE_PROVIDER (the provider of a model that publish creates, unless --provider)',
  ].join('\n');

async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? EXIT.OK : EXIT.USAGE;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`error USAGE: unknown command "${name}" (see \`modelgate --help\`)`);
    return EXIT.USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    const error = e instanceof CliError ? e : undefined;
    // A deploy script reading stdout under --json gets one document either way: the API's error envelope.
    // Error text may quote a transfer URL: its query is a signature, never printed (local/redact.ts).
    if (rest.includes('--json')) io.out(redactUrlQueries(JSON.stringify(errorEnvelope(error, e), null, 2)));
    if (error) {
      io.err(redactUrlQueries(`error ${error.code}: ${error.message}`));
      return error.exitCode;
    }
    io.err(redactUrlQueries(`error INTERNAL: ${(e as Error)?.stack ?? String(e)}`));
    return EXIT.UNEXPECTED;
  }
}

/** `{"error": {"code", "message", "details"}}`, as the HTTP API answers; an unexpected error keeps its stack on stderr only. */
function errorEnvelope(error: CliError | undefined, raw: unknown) {
  if (!error) return { error: { code: 'INTERNAL', message: (raw as Error)?.message ?? String(raw) } };
  return {
    error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
  };
}

const io: Io = {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interactive: Boolean(process.stderr.isTTY),
};

main(process.argv.slice(2), io).then((code) => {
  process.exitCode = code;
});
