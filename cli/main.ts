#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=64
// A 1 MiB young generation (V8's default grows to 16 MiB per semi-space): a server streaming GiBs through
// 64 KiB socket buffers, or a CLI hashing them, allocates short-lived wrappers only, and the larger young
// generation cost the server ~24 MiB of resident memory (peak 150 → 126 MiB over a 10-file publish, same speed).
// An old-generation allocation limit of at least 64 MiB: each 64 KiB body chunk Node's HTTP parser hands
// over is a fresh buffer, and until a collection frees them they count against that limit. A server that
// has sat idle has its limit recomputed from its idle allocation rate to ~9 MiB above its live heap, so
// every ~16 MiB uploaded then ran a full collection: 60 per GiB, publishes 3.0–3.7× md5 instead of 2.0–2.3×
// (bench/e2e.ts idles the server first). The floor costs no resident memory of its own.
import './quiet-dependencies.js';
import { redactUrlQueries } from '../local/redact.js';
import { CliError } from './cli-error.js';
import type { Io } from './command.js';
import { COMMAND_LOADERS } from './commands/command-loaders.js';
import { EXIT } from './exit-codes.js';

const usage = async () =>
  [
    'Usage: modelgate COMMAND [options]   (modelgate COMMAND --help for details)',
    '',
    ...(await Promise.all(Object.values(COMMAND_LOADERS).map((load) => load()))).map(
      (c) => `  ${c.name.padEnd(10)} ${c.summary}`,
    ),
    '',
    'Environment: MODELGATE_REGISTRY (default http://127.0.0.1:8080), MODELGATE_TOKEN (bearer token),',
    '             MODELGATE_PROVIDER (the provider of a model that publish creates, unless --provider)',
  ].join('\n');

async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(await usage());
    return name ? EXIT.OK : EXIT.USAGE;
  }
  const load = Object.hasOwn(COMMAND_LOADERS, name) ? COMMAND_LOADERS[name] : undefined;
  if (!load) {
    io.err(`error USAGE: unknown command "${name}" (see \`modelgate --help\`)`);
    return EXIT.USAGE;
  }
  try {
    return await (await load()).run(rest, io);
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
