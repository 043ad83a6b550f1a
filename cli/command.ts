import { CliError } from './cli-error.js';
import { EXIT } from './exit-codes.js';
import { parse } from './parse-args.js';
import { RegistryClient } from './registry-client.js';
import { executeApiRegion, sigv4Signer } from './sigv4.js';

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Full --help text. */
  readonly help: string;
  run(argv: string[], io: Io): Promise<number>;
}

export interface Io {
  readonly env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
  /** True when stderr is a terminal: progress bars only then. */
  readonly interactive: boolean;
}

/** One option of a command: node:util parseArgs's type, and the text its line in --help shows. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The placeholder after the flag in --help (`--limit N`); none for a boolean. */
  readonly arg?: string;
  /** What it does; `\n` starts a new line in the help column. */
  readonly help: string;
}
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** `--registry URL`, shared by every command that talks to a registry. */
export const REGISTRY_OPTION = {
  registry: {
    type: 'string',
    arg: 'URL',
    help: 'registry to talk to (default: $MODELGATE_REGISTRY or http://127.0.0.1:8080)',
  },
} as const satisfies OptionSpecs;

/** `--json` with what it prints: stdout then holds exactly one JSON document, errors included. */
export const jsonOption = (what: string) =>
  ({ json: { type: 'boolean', help: `print ${what} as one JSON document` } }) as const satisfies OptionSpecs;

type Values<O extends OptionSpecs> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean'
    ? boolean
    : O[K]['multiple'] extends true
      ? string[]
      : string;
};

/** What a command's `run` gets: parsed options and positionals, and the output helpers. */
export interface CommandContext<O extends OptionSpecs> {
  readonly values: Values<O>;
  readonly positionals: string[];
  readonly io: Io;
  /** True under `--json`: stdout holds one JSON document, stderr no chatter and no progress. */
  readonly json: boolean;
  /** A client of `--registry` (or $MODELGATE_REGISTRY). */
  client(): RegistryClient;
  /** The result: the JSON document under `--json`, else the human lines on stdout. */
  print(value: unknown, human: () => string | readonly string[]): void;
  /** A progress line on stderr (human mode on a terminal only), or a no-op. */
  note(line: string): void;
}

/** A command declared once: its usage, description, options, notes and exit codes, and its body. */
export interface CommandSpec<O extends OptionSpecs> {
  readonly name: string;
  readonly summary: string;
  /** Usage lines without `modelgate ` (e.g. `status NAME@VERSION|ALIAS [--json]`). */
  readonly usage: string | readonly string[];
  readonly description: string;
  readonly options: O;
  /** Paragraphs shown after the options. */
  readonly notes?: string;
  /** `0 shown, 2 usage, …`: a contract with scripts. */
  readonly exitCodes: string;
  run(ctx: CommandContext<O>): Promise<number>;
}

/**
 * Builds a command from its spec: parsing (a usage error is exit 2 and names --help), `--help` (usage,
 * description, options together, notes, exit codes), `--json` vs human output, and the exit code
 * `run` returns. Errors propagate to cli/main.ts, which prints them (as the API's envelope under --json).
 */
export function defineCommand<O extends OptionSpecs>(spec: CommandSpec<O>): Command {
  const help = formatHelp(spec);
  return {
    name: spec.name,
    summary: spec.summary,
    help,
    async run(argv, io) {
      const parsed = parse(spec.name, argv, parseArgsOptions(spec.options));
      const values = parsed.values as Record<string, unknown>;
      const positionals = parsed.positionals;
      if (values.help) {
        io.out(help);
        return EXIT.OK;
      }
      const json = values.json === true;
      return spec.run({
        values: values as Values<O>,
        positionals,
        io,
        json,
        client: () => clientFor(io, values.registry as string | undefined),
        print: (value, human) => {
          if (json) printJson(io, value);
          else {
            const text = human();
            for (const line of typeof text === 'string' ? [text] : text) io.out(line);
          }
        },
        note: (line) => {
          if (!json) io.err(line);
        },
      });
    },
  };
}

/** The options as node:util parseArgs takes them. */
const parseArgsOptions = (options: OptionSpecs) =>
  Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
    ]),
  );

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };

/** The --help text: usage, description, every option in one aligned block, notes, exit codes. */
export function formatHelp(spec: CommandSpec<OptionSpecs>): string {
  const usage = typeof spec.usage === 'string' ? [spec.usage] : spec.usage;
  const entries = Object.entries({ ...spec.options, help: HELP_OPTION }).map(([name, o]) => ({
    flag: `${o.short ? `-${o.short}, ` : ''}--${name}${o.arg ? ` ${o.arg}` : ''}`,
    help: o.help,
  }));
  const width = Math.max(...entries.map((e) => e.flag.length)) + 2;
  const options = entries.flatMap(({ flag, help }) =>
    help.split('\n').map((line, i) => `  ${(i === 0 ? flag : '').padEnd(width)}${line}`),
  );
  return [
    usage.length === 1
      ? `Usage: modelgate ${usage[0]}`
      : ['Usage:', ...usage.map((u) => `  modelgate ${u}`)].join('\n'),
    '',
    spec.description,
    '',
    'Options:',
    ...options,
    ...(spec.notes ? ['', 'Notes:', ...spec.notes.split('\n').map((line) => `  ${line}`)] : []),
    '',
    `Exit codes: ${spec.exitCodes}.`,
  ].join('\n');
}

/** A client of the chosen registry; one on API Gateway gets its requests signed with SigV4. */
export function clientFor(io: Io, registryFlag: string | undefined): RegistryClient {
  const registry = registryFlag ?? io.env.MODELGATE_REGISTRY ?? 'http://127.0.0.1:8080';
  checkRegistryUrl(registry, registryFlag === undefined ? 'MODELGATE_REGISTRY' : '--registry');
  const region = io.env.MODELGATE_AWS_REGION ?? executeApiRegion(registry);
  return new RegistryClient({
    registry,
    token: io.env.MODELGATE_TOKEN,
    sign: region ? sigv4Signer(region) : undefined,
  });
}

/** A registry is an http(s) URL: `host:port` alone would parse as a URL of scheme `host:`, or not at all. */
function checkRegistryUrl(registry: string, source: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(registry).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:')
    throw CliError.usage(
      `${source} must be an http:// or https:// URL, e.g. http://127.0.0.1:8080; got ${JSON.stringify(registry)}`,
    );
}

export const printJson = (io: Io, value: unknown) => io.out(JSON.stringify(value, null, 2));

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
